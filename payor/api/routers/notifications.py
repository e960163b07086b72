"""``/api/v1/me/notifications``: the signed-in user's in-app inbox (``payor.notifications``).

Everyone reads only their own messages; another user's id is 404 ``notification_not_found``.
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoints' signatures through its wrapper.
import datetime as dt
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import Field

from payor.api.pagination import Cursor
from payor.api.schemas import Problem
from payor.notifications import selectors, services
from payor.notifications.models import Notification

router = Router(tags=["notifications"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}


class NotificationOut(Schema):
    id: UUID
    kind: str = Field(examples=["work_request.sent"])
    title: str
    body: str
    link: str = Field(description="Where it leads in Payor (a path)")
    project_id: UUID | None
    created_at: dt.datetime
    read_at: dt.datetime | None
    emailed_at: dt.datetime | None = Field(description="When the mail backend accepted its email")


class InboxQuery(Schema):
    unread: bool = Field(default=False, description="Only unread messages")


@router.get(
    "/me/notifications",
    response={200: list[NotificationOut], **ERRORS},
    summary="Your notifications, newest first",
)
@paginate(Cursor)
def list_notifications(request: HttpRequest, filters: Query[InboxQuery]) -> object:
    return selectors.inbox(viewer=request.user, unread_only=filters.unread)


@router.post(
    "/me/notifications/{notification_id}/read",
    response={200: NotificationOut, **ERRORS},
    summary="Mark one of your notifications read (a repeat keeps the first time)",
)
def read_notification(request: HttpRequest, notification_id: UUID) -> Notification:
    return services.notification_mark_read(
        actor=request.user,  # type: ignore[arg-type]
        notification_id=notification_id,
    )
