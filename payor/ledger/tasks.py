"""Ledger jobs."""

from __future__ import annotations

from procrastinate.contrib.django import app

from payor.ledger.services import pending_expire


@app.periodic(cron="* * * * *", periodic_id="ledger.pending.expire")
@app.task(name="ledger.pending.expire", queue="ledger", queueing_lock="ledger.pending.expire")
def expire_pending(timestamp: int) -> int:
    """Void pending transfers whose timeout has passed (every minute)."""
    return pending_expire()
