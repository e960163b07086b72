"""Turning a ``postgresql://`` URL into Django's ``DATABASES`` entry."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured


def database_from_url(url: str) -> dict[str, Any]:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgresql:// URL (Payor runs on PostgreSQL only), got scheme {parsed.scheme!r}"
        )
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    host = unquote(parsed.hostname or "") or query.pop("host", "")
    name = unquote(parsed.path.lstrip("/")) or query.pop("dbname", "")
    if not name:
        raise ImproperlyConfigured("DATABASE_URL must name a database, e.g. postgresql://postgres@127.0.0.1:5432/payor")
    options: dict[str, Any] = {k: v for k, v in query.items() if k in {"sslmode", "sslrootcert", "application_name"}}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parsed.username or "postgres"),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": f"test_{name}"},
    }
