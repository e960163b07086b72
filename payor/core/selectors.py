"""Reads about the running system itself (health)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone


@dataclass(frozen=True)
class Health:
    database: str  # "ok" | "error"
    worker: str  # "ok" | "stale" | "unknown"
    version: str
    last_worker_heartbeat: str | None

    @property
    def ok(self) -> bool:
        return self.database == "ok"


def system_health() -> Health:
    """Database reachability and the freshest procrastinate worker heartbeat.

    procrastinate workers record a heartbeat every 10 s in ``procrastinate_workers``;
    a worker is "ok" when one beat within ``WORKER_STALE_AFTER_SECONDS``.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.execute("SELECT max(last_heartbeat) FROM procrastinate_workers")
            row = cursor.fetchone()
    except DatabaseError:
        return Health(database="error", worker="unknown", version=settings.VERSION, last_worker_heartbeat=None)
    last = row[0] if row else None
    fresh = last is not None and timezone.now() - last <= timedelta(seconds=settings.WORKER_STALE_AFTER_SECONDS)
    return Health(
        database="ok",
        worker="ok" if fresh else "stale",
        version=settings.VERSION,
        last_worker_heartbeat=last.isoformat() if last else None,
    )
