"""Work request jobs."""

from __future__ import annotations

from procrastinate.contrib.django import app

from payor.contracts.services import work_requests_expire


@app.periodic(cron="*/5 * * * *", periodic_id="contracts.work_request.expire")
@app.task(name="contracts.work_request.expire", queue="maintenance", queueing_lock="contracts.work_request.expire")
def expire_work_requests(timestamp: int) -> int:
    """Mark sent work requests past their expiry ``expired`` (every five minutes)."""
    return work_requests_expire()
