"""Periodic housekeeping for the API."""

from __future__ import annotations

from procrastinate.contrib.django import app

from payor.api.idempotency import idempotency_purge


@app.periodic(cron="17 * * * *", periodic_id="api.idempotency.purge")
@app.task(name="api.idempotency.purge", queue="maintenance", queueing_lock="api.idempotency.purge")
def purge_idempotency_keys(timestamp: int) -> int:
    """Delete idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (hourly)."""
    return idempotency_purge()
