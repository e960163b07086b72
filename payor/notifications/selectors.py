"""Reading the inbox: a user only ever reads their own messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from payor.notifications.models import Notification

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer


def inbox(*, viewer: Viewer, unread_only: bool = False) -> QuerySet[Notification]:
    """The viewer's messages, newest first (none for anonymous or inactive users)."""
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return Notification.objects.none()
    messages = Notification.objects.filter(recipient_id=viewer.pk)
    if unread_only:
        messages = messages.filter(read_at__isnull=True)
    return messages.order_by("-id")


def inbox_unread_count(*, viewer: Viewer) -> int:
    return inbox(viewer=viewer, unread_only=True).count()
