from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from payor.config.database import database_from_url


def test_tcp_url():
    db = database_from_url("postgresql://alice:s%40cret@db.internal:6543/payor?sslmode=require")
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "payor",
        "alice",
        "s@cret",
        "db.internal",
        "6543",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}
    assert db["TEST"] == {"NAME": "test_payor"}


def test_unix_socket_url():
    db = database_from_url("postgresql://postgres@/payor?host=%2Fvar%2Frun%2Fpg")
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("/var/run/pg", "", "payor")


@pytest.mark.parametrize("url", ["mysql://root@localhost/payor", "sqlite:///x.db", "postgresql://postgres@localhost"])
def test_non_postgres_or_nameless_urls_are_refused(url):
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def test_production_refuses_to_start_without_a_secret_key():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='payor.config.settings'; django.setup()",
        PAYOR_ENV="production",
        PAYOR_SECRET_KEY="",
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/none",
    )
    assert result.returncode != 0
    assert "PAYOR_SECRET_KEY is required in production" in result.stderr


def test_production_defaults_are_safe():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='payor.config.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS)"
    )
    result = run_python(
        code, PAYOR_ENV="production", PAYOR_SECRET_KEY="k" * 64, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "DENY"]


def test_cli_version_and_help():
    version = subprocess.run([sys.executable, "-m", "payor.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.strip().startswith("payor 0.")
    helptext = subprocess.run([sys.executable, "-m", "payor.cli", "--help"], capture_output=True, text=True)
    for command in ("serve", "web", "worker", "migrate", "createuser", "token", "demo", "ledger", "audit", "bench"):
        assert f"\n  {command} " in helptext.stdout
    unknown = subprocess.run([sys.executable, "-m", "payor.cli", "frobnicate"], capture_output=True, text=True)
    assert unknown.returncode == 2
    assert "unknown command 'frobnicate'" in unknown.stderr
