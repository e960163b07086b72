from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.db import connection

from payor.audit.models import AuditEvent

GENESIS = "0" * 64


def independent_hash(prev_hash: str, event: AuditEvent) -> str:
    """The documented formula, written out again here rather than calling payor.audit.canonical."""
    obj = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": None if event.actor_id is None else str(event.actor_id),
        "actor_label": event.actor_label,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "project_id": None if event.project_id is None else str(event.project_id),
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "ip": event.ip,
    }
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def tamper(sql: str, params: list[object] | None = None) -> None:
    """Run ``sql`` as a superuser with triggers bypassed (session_replication_role = replica)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        cursor.execute("SET LOCAL session_replication_role = origin")


def pytest_collection_modifyitems(config, items):
    """Every audit test is database-facing: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/audit/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)
