"""Reads of the audit log, in seq order.

``audit_events`` takes the viewer so scoping cannot be skipped: platform admins
see everything, other users the events of projects in their organizations
(``project_list``'s rule; events without a project are for admins only).
Project-level roles (rbac) narrow this further once they exist.
``audit_events_unscoped`` is for operator tools only (``payor audit export``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import QuerySet

from payor.accounts.models import User
from payor.audit.models import AuditEvent
from payor.projects.selectors import project_list


def since_start(since: dt.date | dt.datetime) -> dt.datetime:
    """A date means its midnight in UTC (events are timestamped in UTC); a datetime must be aware."""
    if isinstance(since, dt.datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("since must be an aware datetime or a date")
        return since
    return dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)


def audit_events_unscoped(
    *,
    project_id: uuid.UUID | str | None = None,
    since: dt.date | dt.datetime | None = None,
    action: str | None = None,
    actor_id: uuid.UUID | str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
) -> QuerySet[AuditEvent]:
    """Every event matching the filters, no viewer: for operator commands, never for a request."""
    events = AuditEvent.objects.order_by("seq")
    if project_id is not None:
        events = events.filter(project_id=project_id)
    if since is not None:
        events = events.filter(occurred_at__gte=since_start(since))
    if action is not None:
        events = events.filter(action=action)
    if actor_id is not None:
        events = events.filter(actor_id=uuid.UUID(str(actor_id)))
    if subject_type is not None:
        events = events.filter(subject_type=subject_type)
    if subject_id is not None:
        events = events.filter(subject_id=subject_id)
    return events


def audit_events(
    *,
    viewer: User,
    project_id: uuid.UUID | str | None = None,
    since: dt.date | dt.datetime | None = None,
    action: str | None = None,
    actor_id: uuid.UUID | str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
) -> QuerySet[AuditEvent]:
    """The events ``viewer`` may see, filtered, in seq order."""
    events = audit_events_unscoped(
        project_id=project_id,
        since=since,
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
    )
    if viewer.is_superuser:
        return events
    return events.filter(project_id__in=project_list(viewer=viewer).values("pk"))
