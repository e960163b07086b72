"""Notification jobs."""

from __future__ import annotations

from procrastinate.contrib.django import app

from payor.notifications.services import notification_email_send


@app.task(name="notifications.email.send", queue="notifications", retry=5)
def send_notification_email(notification_id: str) -> bool:
    """Mail one notification (idempotent: a mailed one is not sent again)."""
    return notification_email_send(notification_id=notification_id)
