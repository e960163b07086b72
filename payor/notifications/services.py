"""Writing notifications: in the caller's transaction, with the email job deferred in it too."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from payor.accounts.models import User
from payor.notifications.errors import NotificationNotFound
from payor.notifications.models import Notification

TITLE_MAX = 200
BODY_MAX = 10000
LINK_MAX = 300


def _clip(value: str, limit: int) -> str:
    value = (value or "").replace("\x00", "").strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def notify(
    *,
    recipients: Iterable[User],
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    project_id: uuid.UUID | None = None,
    email: bool = True,
) -> list[Notification]:
    """One inbox message per distinct active recipient; with ``email``, a ``notifications.email.send`` job each.

    Must run inside the transaction of the change it announces (``RuntimeError`` otherwise): the messages and
    their jobs commit or roll back with it.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("notify() must run inside the transaction of the change it announces")
    from payor.notifications.tasks import send_notification_email

    seen: set[uuid.UUID] = set()
    written: list[Notification] = []
    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        notification = Notification.objects.create(
            recipient=user,
            project_id=project_id,
            kind=kind,
            title=_clip(title, TITLE_MAX),
            body=_clip(body, BODY_MAX),
            link=_clip(link, LINK_MAX),
            email=email and bool(user.email),
        )
        if notification.email:
            send_notification_email.defer(notification_id=str(notification.pk))
        written.append(notification)
    return written


@transaction.atomic
def notification_mark_read(*, actor: User, notification_id: uuid.UUID | str) -> Notification:
    """Mark one of the actor's own messages read (a repeat keeps the first time). Someone else's, or an unknown
    id, is ``notification_not_found`` (404)."""
    try:
        pk = uuid.UUID(str(notification_id))
    except ValueError as exc:
        raise NotificationNotFound() from exc
    notification = Notification.objects.select_for_update().filter(pk=pk, recipient_id=actor.pk).first()
    if notification is None:
        raise NotificationNotFound()
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at", "updated_at"])
    return notification


@transaction.atomic
def notification_email_send(*, notification_id: uuid.UUID | str) -> bool:
    """Mail a notification through the configured backend (``EMAIL_BACKEND``) unless it was mailed already.

    Returns whether a message was sent. The row is locked while sending, so two workers never both send it; a
    backend error propagates (the job is retried) and leaves ``emailed_at`` unset.
    """
    notification = (
        Notification.objects.select_for_update(of=("self",))
        .select_related("recipient")
        .filter(pk=notification_id)
        .first()
    )
    if notification is None or not notification.email or notification.emailed_at is not None:
        return False
    body = notification.body
    if notification.link:
        body = f"{body}\n\nOpen it in Payor: {notification.link}".strip()
    send_mail(
        subject=notification.title,
        message=body,
        from_email=None,
        recipient_list=[notification.recipient.email],
    )
    notification.emailed_at = timezone.now()
    notification.save(update_fields=["emailed_at", "updated_at"])
    return True
