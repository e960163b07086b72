"""Recording audit events, in the same transaction as the change they record.

``audit_record`` takes a transaction-level advisory lock on the chain, reads the
last event (its seq and hash, one primary-key index probe) and inserts the next
one: two round trips (lock and read share one). The lock is held until the surrounding transaction ends, so concurrent
writers take turns and the chain never forks; a rollback takes the event with
it and the next writer reuses its seq, so there are no gaps. Called outside a
transaction, it runs in one of its own.

Because every audited transaction holds the chain lock from ``audit_record`` to
its commit, record as the last write of a transition (lock, check, write,
ledger, audit, enqueue): recording early makes other writers wait for the rest
of the transaction, and taking row locks after recording invites deadlocks.
The read-then-insert relies on READ COMMITTED (Payor's isolation level): under
REPEATABLE READ the read could be stale, and the insert then fails on the
unique seq/prev_hash constraints rather than forking the chain.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from django.contrib.auth.models import AnonymousUser
from django.db import connection, models, transaction
from django.http import HttpRequest

from payor.accounts.models import User
from payor.audit.canonical import ACTION_RE, GENESIS_HASH, event_payload, json_safe, normalize_ip, payload_hash
from payor.audit.errors import AuditEventInvalid
from payor.audit.models import AuditEvent

#: ``pg_advisory_xact_lock`` key serialising writers of the chain: the ASCII bytes "payoraud".
AUDIT_CHAIN_LOCK: Final = 0x7061796F72617564

SUBJECT_TYPE_MAX = 100
SUBJECT_ID_MAX = 200
ACTION_MAX = 100
LABEL_MAX = 254
REQUEST_ID_MAX = 128
SUBJECT_TYPE_RE: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")

# Two statements, one round trip. Under READ COMMITTED each statement of a multi-statement query takes
# its own snapshot, so the read sees every event committed by the writer whose lock we waited for. No
# parameters, so it also works with server-side binding. occurred_at is the database's clock, read
# after the lock: it follows seq, from one clock for every app server.
_LOCK_AND_HEAD = f"""
SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK});
SELECT clock_timestamp(), last.seq, last.hash
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT seq, hash FROM {AuditEvent._meta.db_table} ORDER BY seq DESC LIMIT 1) AS last ON true
"""  # noqa: S608 - a constant and our table name, nothing from input


def _text(value: object, *, field: str, limit: int, code: str) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        raise AuditEventInvalid(f"{field} must be a non-empty string of at most {limit} characters", code=code)
    return value


def _actor(actor: User | AnonymousUser | None, actor_label: str | None) -> tuple[uuid.UUID | None, str]:
    if actor is None:
        return None, actor_label or "system"
    if not actor.is_authenticated:
        return None, actor_label or "anonymous"
    return actor.pk, actor_label or actor.email


def _request(request: HttpRequest | None) -> tuple[str | None, str | None]:
    if request is None:
        return None, None
    request_id = getattr(request, "request_id", None)
    if request_id is not None:
        _text(request_id, field="request_id", limit=REQUEST_ID_MAX, code="audit_value_invalid")
    return request_id, normalize_ip(request.META.get("REMOTE_ADDR"))


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    subject_type: str,
    subject_id: object,
    before: object = None,
    after: object = None,
    project_id: uuid.UUID | str | None = None,
    request: HttpRequest | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event to the chain: ``actor`` did ``action`` to ``subject_type``/``subject_id``.

    ``actor`` None is the system (``actor_label`` defaults to "system"; jobs may
    name themselves, e.g. "job:ledger.pending.expire"); a user is labelled with
    their email. ``before``/``after`` go through
    :func:`payor.audit.canonical.json_safe` (Money, Decimal, UUID, dates; floats
    are refused). ``request`` supplies the request id and the client address
    (``REMOTE_ADDR``).
    """
    if not isinstance(action, str) or len(action) > ACTION_MAX or not ACTION_RE.fullmatch(action):
        raise AuditEventInvalid(
            f"action {action!r} must be dotted lowercase words, like invoice.approved", code="audit_action_invalid"
        )
    subject_type = _text(subject_type, field="subject_type", limit=SUBJECT_TYPE_MAX, code="audit_subject_invalid")
    if not SUBJECT_TYPE_RE.fullmatch(subject_type):
        raise AuditEventInvalid(
            f"subject_type {subject_type!r} must be lowercase words, like projects.project",
            code="audit_subject_invalid",
        )
    if isinstance(subject_id, uuid.UUID | int) and not isinstance(subject_id, bool):
        subject_id = str(subject_id)
    subject_id = _text(subject_id, field="subject_id", limit=SUBJECT_ID_MAX, code="audit_subject_invalid")
    actor_id, label = _actor(actor, actor_label)
    label = _text(label, field="actor_label", limit=LABEL_MAX, code="audit_value_invalid")
    try:
        project = None if project_id is None else uuid.UUID(str(project_id))
    except ValueError as exc:
        raise AuditEventInvalid(f"project_id {project_id!r} is not a UUID", code="audit_value_invalid") from exc
    before_json = json_safe(before, "before")
    after_json = json_safe(after, "after")
    request_id, ip = _request(request)

    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_AND_HEAD)
            cursor.nextset()
            occurred_at, last_seq, last_hash = cursor.fetchone()
        seq = (last_seq or 0) + 1
        prev_hash = last_hash or GENESIS_HASH
        fields = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "actor_label": label,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "project_id": project,
            "before": before_json,
            "after": after_json,
            "request_id": request_id,
            "ip": ip,
        }
        event = AuditEvent(**fields, prev_hash=prev_hash, hash=payload_hash(prev_hash, event_payload(**fields)))
        event.save(force_insert=True)
    return event


def _subject(subject: models.Model | tuple[str, object]) -> tuple[str, object]:
    if isinstance(subject, models.Model):
        if subject.pk is None:
            raise AuditEventInvalid("the subject must be saved before it is audited", code="audit_subject_invalid")
        return subject._meta.label_lower, subject.pk
    if isinstance(subject, tuple) and len(subject) == 2:
        return subject[0], subject[1]
    raise AuditEventInvalid(
        "subject must be a model instance or a (subject_type, subject_id) pair", code="audit_subject_invalid"
    )


def record(
    actor: User | AnonymousUser | None,
    action: str,
    subject: models.Model | tuple[str, object],
    before: object = None,
    after: object = None,
    project: models.Model | uuid.UUID | str | None = None,
    request: HttpRequest | None = None,
    *,
    actor_label: str | None = None,
) -> AuditEvent:
    """The issue's shape: ``record(actor, action, subject, before, after, project, request)``.

    ``subject`` is a saved model instance (type ``<app_label>.<model>``, e.g.
    ``projects.project``, id its primary key) or a ``(subject_type, subject_id)``
    pair; ``project`` a Project (or any model: its primary key is used), a UUID
    or None.
    """
    subject_type, subject_id = _subject(subject)
    project_id = project.pk if isinstance(project, models.Model) else project
    return audit_record(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=before,
        after=after,
        project_id=project_id,
        request=request,
        actor_label=actor_label,
    )
