"""Notification refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import NotFound


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "No such notification"
