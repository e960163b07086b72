"""The embedded PostgreSQL: started on demand, reused across runs, stopped on exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.embedded, pytest.mark.database_facing]

PROBE = """
import os, django
os.environ['DJANGO_SETTINGS_MODULE'] = 'payor.config.settings'
django.setup()
from django.db import connection
with connection.cursor() as c:
    c.execute("SELECT current_database(), split_part(current_setting('server_version'), '.', 1)")
    print(*c.fetchone())
print(os.environ['DATABASE_URL'])
"""


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmdline):
            found.append(proc)
    return found


def run_probe(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PAYOR_DATA_DIR=str(data_dir), PAYOR_ENV="development")
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=180)


def test_embedded_server_starts_is_reused_and_stops(tmp_path):
    first = run_probe(tmp_path)
    assert first.returncode == 0, first.stderr
    database, major = first.stdout.split("\n")[0].split()
    assert database == "payor"
    assert int(major) >= 15
    assert "host=" in first.stdout  # a Unix socket in the data directory, no TCP port
    pgdata = tmp_path / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert (tmp_path / "secret_key").exists()
    assert postgres_processes(pgdata) == []  # stopped when the process exited

    marker = (pgdata / "PG_VERSION").stat().st_mtime_ns
    second = run_probe(tmp_path)
    assert second.returncode == 0, second.stderr
    assert (pgdata / "PG_VERSION").stat().st_mtime_ns == marker  # same cluster, not re-initialised
    assert postgres_processes(pgdata) == []


def test_stale_handles_of_killed_processes_do_not_keep_the_server_alive(tmp_path):
    assert run_probe(tmp_path).returncode == 0
    handles = tmp_path / "pgdata" / ".handle_pids.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles.write_text(json.dumps([dead.pid]))
    result = run_probe(tmp_path)
    assert result.returncode == 0, result.stderr
    assert postgres_processes(tmp_path / "pgdata") == []
