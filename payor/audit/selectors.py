"""Reads of the audit log, scoped by the viewer's ``audit.read`` permission, in seq order.

Who sees which events (``payor.rbac.permissions`` is the only source of the rule):

* ``audit.read`` platform-wide (``has_permission(viewer, Perm.AUDIT_READ)``:
  superusers, PLATFORM_ADMIN, SYSTEM_AUDITOR): every event, including those
  with no project (system role grants, platform settings);
* ``audit.read`` through a project role (FINANCE_REVIEWER, TREASURER,
  DAO_MULTISIG, AUDITOR): the events of exactly those projects
  (:func:`~payor.rbac.permissions.projects_with_permission`);
* ``audit.read`` nowhere: ``permission_denied`` (403), not an empty list.

Filtering by a project answers ``project_not_found`` (404) when the viewer
cannot see it or it does not exist (nothing leaked) and ``permission_denied``
(403) when they see it without ``audit.read`` on it.

Filters arrive as text from the API, the web page and its export; they are
parsed once here (:func:`audit_filter_parse`), so the three mean the same
thing by them and refuse the same input with the same codes
(``audit_filter_invalid``, ``audit_range_invalid``).

``audit_events_unscoped`` takes no viewer: for operator commands only
(``payor audit export``), never for a request.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from django.db.models import Exists, Q, QuerySet

from payor.accounts.models import User
from payor.audit.canonical import ACTION_RE, GENESIS_HASH, payload_hash
from payor.audit.errors import AuditFilterInvalid
from payor.audit.models import AuditEvent
from payor.audit.services import SUBJECT_TYPE_RE
from payor.core.errors import PermissionDenied
from payor.projects.models import Project
from payor.rbac.errors import ProjectNotFound
from payor.rbac.models import SystemRoleAssignment
from payor.rbac.permissions import (
    SYSTEM_PERMISSIONS,
    Perm,
    has_permission,
    project_visible,
    projects_with_permission,
)

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

__all__ = [
    "AuditFilter",
    "AuditPage",
    "AuditScope",
    "ChainHead",
    "audit_chain_head",
    "audit_events",
    "audit_events_unscoped",
    "audit_filter_parse",
    "audit_log_available",
    "audit_page",
    "audit_scope",
    "since_start",
]

#: An action family: ``role.*`` matches ``role.assigned``, ``role.revoked``... (not ``system_role.assigned``).
ACTION_FAMILY_RE: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SEQ_RE: Final = re.compile(r"[0-9]{1,18}")
ACTION_MAX = 100
SUBJECT_TYPE_MAX = 100
SUBJECT_ID_MAX = 200
ACTOR_MAX = 254
PAGE_SIZE = 50


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Parsed filters; every one set narrows the events (they combine with AND)."""

    project_id: uuid.UUID | None = None
    action: str | None = None  # an exact action, or a family ending in ".*"
    actor_id: uuid.UUID | None = None
    actor: str | None = None  # an actor label or a user's email, case-insensitive
    subject_type: str | None = None
    subject_id: str | None = None
    occurred_from: dt.datetime | None = None  # inclusive
    occurred_before: dt.datetime | None = None  # exclusive
    after_seq: int | None = None  # only events with a greater seq (resume a feed)

    @property
    def is_empty(self) -> bool:
        return self == AuditFilter()

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.project_id is not None:
            events = events.filter(project_id=self.project_id)
        if self.action is not None:
            if self.action.endswith(".*"):
                events = events.filter(action__startswith=self.action[:-1])
            else:
                events = events.filter(action=self.action)
        if self.actor_id is not None:
            events = events.filter(actor_id=self.actor_id)
        if self.actor is not None:
            events = events.filter(Q(actor_label__iexact=self.actor) | Q(actor__email__iexact=self.actor))
        if self.subject_type is not None:
            events = events.filter(subject_type=self.subject_type)
        if self.subject_id is not None:
            events = events.filter(subject_id=self.subject_id)
        if self.occurred_from is not None:
            events = events.filter(occurred_at__gte=self.occurred_from)
        if self.occurred_before is not None:
            events = events.filter(occurred_at__lt=self.occurred_before)
        if self.after_seq is not None:
            events = events.filter(seq__gt=self.after_seq)
        return events


def _invalid(name: str, message: str, *, code: str = "audit_filter_invalid") -> AuditFilterInvalid:
    return AuditFilterInvalid(f"{name}: {message}", code=code, field=name)


def _text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or "\x00" in value:
        raise _invalid(name, f"must be at most {limit} characters")
    return value


def _uuid(value: str | uuid.UUID | None, name: str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    text = _text(value, name, 64)
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise _invalid(name, f"{text!r} is not a UUID") from exc


def _instant(value: str | dt.date | None, name: str, *, end: bool) -> dt.datetime | None:
    """A date (its midnight UTC; for ``end``, the next midnight) or an aware datetime (for ``end``, plus 1 µs)."""
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = value.isoformat()
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = _text(value, name, 64)
        if text is None:
            return None
        try:
            if _DATE_RE.fullmatch(text):
                start = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min, tzinfo=dt.UTC)
                return start + dt.timedelta(days=1) if end else start
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise _invalid(name, f"{text!r} is not a date (YYYY-MM-DD) or a date-time with a UTC offset") from exc
        except OverflowError:  # the day after 9999-12-31: no upper bound
            return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _invalid(name, f"{moment.isoformat()} has no UTC offset (add Z or +HH:MM)")
    try:
        # Timestamps are stored to the microsecond: "until t" includes t.
        return moment + dt.timedelta(microseconds=1) if end else moment
    except OverflowError:
        return None


def _action(value: str | None, name: str) -> str | None:
    text = _text(value, name, ACTION_MAX)
    if text is None:
        return None
    text = text.lower()
    if not (ACTION_RE.fullmatch(text) or ACTION_FAMILY_RE.fullmatch(text)):
        raise _invalid(name, f"{text!r} is not an action (invoice.approved) or a family of actions (role.*)")
    return text


def _subject_type(value: str | None, name: str) -> str | None:
    text = _text(value, name, SUBJECT_TYPE_MAX)
    if text is None:
        return None
    text = text.lower()
    if not SUBJECT_TYPE_RE.fullmatch(text):
        raise _invalid(name, f"{text!r} is not a subject type (lowercase words, like projects.project)")
    return text


def _seq(value: str | int | None, name: str) -> int | None:
    if isinstance(value, int):
        text = str(value)
    else:
        found = _text(value, name, 18)
        if found is None:
            return None
        text = found
    if not _SEQ_RE.fullmatch(text):
        raise _invalid(name, f"{text!r} is not an event number (0 or more)")
    return int(text)


#: The parameter names the API uses (camelCase, like its JSON); errors name the parameter the client sent.
API_NAMES: Final[Mapping[str, str]] = {
    "project_id": "projectId",
    "action": "action",
    "actor_id": "actorId",
    "actor": "actor",
    "subject_type": "subjectType",
    "subject_id": "subjectId",
    "since": "since",
    "until": "until",
    "after_seq": "afterSeq",
}


def audit_filter_parse(
    *,
    project_id: str | uuid.UUID | None = None,
    action: str | None = None,
    actor_id: str | uuid.UUID | None = None,
    actor: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    after_seq: str | int | None = None,
    names: Mapping[str, str] | None = None,
) -> AuditFilter:
    """Text filters -> :class:`AuditFilter`; empty values are no filter. ``names``: how the caller calls each one.

    * ``action``: exact (``role.assigned``) or a family (``role.*``); case-insensitive.
    * ``actor``: a user id, or an actor label / email (case-insensitive); ``actor_id``: a user id only.
    * ``since``/``until``: inclusive; a date (``2026-03-02``, UTC days: ``until`` a date includes that whole day)
      or a date-time with an offset (``2026-03-02T09:30:00Z``). ``since`` after ``until``: ``audit_range_invalid``.

    Anything malformed is ``audit_filter_invalid`` (422) with ``field`` naming the parameter.
    """
    name = {key: key for key in API_NAMES} | dict(names or {})
    actor_text = _text(actor, name["actor"], ACTOR_MAX)
    actor_uuid = _uuid(actor_id, name["actor_id"])
    if actor_text is not None:
        try:
            actor_uuid_from_text = uuid.UUID(actor_text)
        except ValueError:
            pass
        else:
            if actor_uuid is not None and actor_uuid != actor_uuid_from_text:
                raise _invalid(name["actor"], "names a different user than the actor id")
            actor_uuid, actor_text = actor_uuid_from_text, None
    occurred_from = _instant(since, name["since"], end=False)
    occurred_before = _instant(until, name["until"], end=True)
    if occurred_from is not None and occurred_before is not None and occurred_from >= occurred_before:
        raise AuditFilterInvalid(
            f"{name['since']} is after {name['until']}", code="audit_range_invalid", field=name["since"]
        )
    return AuditFilter(
        project_id=_uuid(project_id, name["project_id"]),
        action=_action(action, name["action"]),
        actor_id=actor_uuid,
        actor=actor_text,
        subject_type=_subject_type(subject_type, name["subject_type"]),
        subject_id=_text(subject_id, name["subject_id"], SUBJECT_ID_MAX),
        occurred_from=occurred_from,
        occurred_before=occurred_before,
        after_seq=_seq(after_seq, name["after_seq"]),
    )


def since_start(since: dt.date | dt.datetime) -> dt.datetime:
    """A date means its midnight in UTC (events are timestamped in UTC); a datetime must be aware."""
    if isinstance(since, dt.datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("since must be an aware datetime or a date")
        return since
    return dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)


# --------------------------------------------------------------------------
# Scope
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditScope:
    """What ``viewer`` may read: everything (platform-wide ``audit.read``) or the events of ``projects``."""

    viewer: Viewer
    everything: bool
    #: The projects whose events the viewer reads (lazy; every project for a platform-wide reader).
    projects: QuerySet[Project] = field(repr=False)

    def events(self, filters: AuditFilter | None = None) -> QuerySet[AuditEvent]:
        """The viewer's events matching ``filters``, in seq order; a project filter is checked first (404/403)."""
        filters = filters or AuditFilter()
        if filters.project_id is not None:
            self._check_project(filters.project_id)
        events = AuditEvent.objects.order_by("seq")
        if not self.everything:
            events = events.filter(project_id__in=self.projects.values("pk"))
        return filters.apply(events)

    def _check_project(self, project_id: uuid.UUID) -> None:
        if self.projects.filter(pk=project_id).exists():
            return
        if not self.everything and project_visible(self.viewer, project_id):
            raise PermissionDenied(
                "Reading this project's audit log needs the audit.read permission on it",
                permission=Perm.AUDIT_READ.value,
            )
        raise ProjectNotFound()


def audit_scope(*, viewer: Viewer) -> AuditScope:
    """The viewer's reach into the log; ``permission_denied`` when they hold ``audit.read`` nowhere.

    One query (none for a superuser) for a platform-wide reader, two for a project-level one.
    """
    if has_permission(viewer, Perm.AUDIT_READ):
        return AuditScope(viewer=viewer, everything=True, projects=Project.objects.all())
    projects = projects_with_permission(viewer, Perm.AUDIT_READ)
    if not projects.exists():
        raise PermissionDenied(
            "Reading the audit log needs the audit.read permission", permission=Perm.AUDIT_READ.value
        )
    return AuditScope(viewer=viewer, everything=False, projects=projects)


def audit_log_available(*, viewer: Viewer) -> bool:
    """Does ``viewer`` hold ``audit.read`` anywhere (what :func:`audit_scope` would not refuse)? One query, none for
    anonymous users and superusers: cheap enough for the navigation of every page."""
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return False
    if viewer.is_superuser:
        return True
    platform_roles = sorted(role.value for role, perms in SYSTEM_PERMISSIONS.items() if Perm.AUDIT_READ in perms)
    platform = SystemRoleAssignment.objects.filter(user=viewer, role__in=platform_roles, revoked_at__isnull=True)
    projects = projects_with_permission(viewer, Perm.AUDIT_READ)
    # The projects part alone would miss a platform reader while no project exists yet.
    return User.objects.filter(pk=viewer.pk).filter(Exists(platform) | Exists(projects)).exists()


def audit_events(*, viewer: Viewer, filters: AuditFilter | None = None) -> QuerySet[AuditEvent]:
    """The events ``viewer`` may read, filtered, in seq order (403/404 as described in the module docstring)."""
    return audit_scope(viewer=viewer).events(filters)


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
    filters = AuditFilter(
        project_id=None if project_id is None else uuid.UUID(str(project_id)),
        action=action,
        actor_id=None if actor_id is None else uuid.UUID(str(actor_id)),
        subject_type=subject_type,
        subject_id=subject_id,
        occurred_from=None if since is None else since_start(since),
    )
    return filters.apply(AuditEvent.objects.order_by("seq"))


# --------------------------------------------------------------------------
# Pages (keyset by seq, newest first) and the head of the chain
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    """``events`` newest first; ``older``/``newer``: the ``before``/``after`` seq of the adjacent pages, or None."""

    events: list[AuditEvent]
    older: int | None
    newer: int | None


def audit_page(
    events: QuerySet[AuditEvent], *, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> AuditPage:
    """One page of ``events`` (already scoped and filtered), newest first.

    ``before=N``: the ``size`` events just older than #N; ``after=N``: the ``size`` events just newer than #N
    (ignored when ``before`` is given); neither: the newest. Keyset on the unique, append-only seq, so paging never
    skips or repeats an event, however many are recorded meanwhile. Two queries at most.
    """
    events = events.select_related("actor")
    if after is not None and before is None:
        rows = list(events.filter(seq__gt=after).order_by("seq")[: size + 1])
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        oldest = rows[-1].seq if rows else after + 1
        has_older = events.filter(seq__lt=oldest).exists()
        return AuditPage(
            events=rows,
            older=oldest if has_older else None,
            newer=rows[0].seq if has_newer else None,
        )
    window = events if before is None else events.filter(seq__lt=before)
    rows = list(window.order_by("-seq")[: size + 1])
    has_older = len(rows) > size
    rows = rows[:size]
    newest = rows[0].seq if rows else (before or 1) - 1
    has_newer = before is not None and events.filter(seq__gt=newest).exists()
    return AuditPage(
        events=rows,
        older=rows[-1].seq if has_older else None,
        newer=newest if has_newer else None,
    )


@dataclass(frozen=True)
class ChainHead:
    """The newest event a viewer can read, and whether it checks out: its hash recomputes from its content
    (``hash_ok``) and its ``prev_hash`` is the hash of the event before it (``link_ok``, the genesis hash for #1).
    """

    seq: int
    hash: str
    prev_hash: str
    occurred_at: dt.datetime
    hash_ok: bool
    link_ok: bool

    @property
    def anchor(self) -> str:
        """For ``payor audit verify --anchor SEQ:HASH``."""
        return f"{self.seq}:{self.hash}"


def audit_chain_head(*, scope: AuditScope) -> ChainHead | None:
    """The latest event in ``scope`` (unfiltered), checked against its own content and its predecessor. Two queries."""
    latest = scope.events().order_by("-seq").first()
    if latest is None:
        return None
    if latest.seq == 1:
        predecessor: str | None = GENESIS_HASH
    else:  # the link is checked against the whole log: only the verdict is shown, not the other event
        predecessor = AuditEvent.objects.filter(seq=latest.seq - 1).values_list("hash", flat=True).first()
    return ChainHead(
        seq=latest.seq,
        hash=latest.hash,
        prev_hash=latest.prev_hash,
        occurred_at=latest.occurred_at,
        hash_ok=payload_hash(latest.prev_hash, latest.payload()) == latest.hash,
        link_ok=predecessor == latest.prev_hash,
    )
