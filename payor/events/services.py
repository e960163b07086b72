"""Writing to the outbox, in the transaction of the change an event announces.

``event_emit`` validates the topic against :data:`payor.events.topics.TOPICS`, turns the payload into
plain JSON exactly like the audit log does (``Money`` -> ``{"amount": "1234.50", "currency": "USD"}``,
UUIDs and dates as strings, floats refused: :func:`payor.audit.canonical.json_safe`) and inserts one row.
It refuses to run outside a transaction: an event committed on its own could announce a change that then
rolls back, or the change could commit without its event.

The event's ``position`` is set when the transaction commits (``sql/outbox.sql``): positions follow commit
order, so readers never skip an event (:func:`payor.events.selectors.outbox_read`). Until then the row
is visible only to its own transaction, with ``position`` None. Emit as the last step of a transition
(lock, check, write, ledger, audit, emit/enqueue), like the audit record.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Final

from django.db import connection, models

from payor.audit.canonical import canonical_json, json_safe
from payor.audit.errors import AuditEventInvalid
from payor.events.errors import EventInvalid, EventOutsideTransaction, EventTopicUnknown, OutboxCursorInvalid
from payor.events.models import AGGREGATE_TYPE_PATTERN, OutboxCursor, OutboxEvent
from payor.events.topics import TOPICS

AGGREGATE_TYPE_MAX = 100
AGGREGATE_ID_MAX = 200
CONSUMER_MAX = 100
#: An event announces a change; documents travel by reference. Canonical JSON bytes.
PAYLOAD_MAX_BYTES: Final = 64 * 1024
_AGGREGATE_TYPE_RE: Final = re.compile(AGGREGATE_TYPE_PATTERN)

_INSERT = """
INSERT INTO events_outboxevent (topic, aggregate_type, aggregate_id, project_id, payload, occurred_at, xact_id)
VALUES (%s, %s, %s, %s, %s::jsonb, clock_timestamp(), pg_current_xact_id()::text::bigint)
RETURNING id, occurred_at, xact_id
"""


def _aggregate(aggregate: models.Model | tuple[str, object]) -> tuple[str, str]:
    if isinstance(aggregate, models.Model):
        if aggregate.pk is None:
            raise EventInvalid("the aggregate must be saved before an event names it", code="event_aggregate_invalid")
        kind, ident = aggregate._meta.label_lower, aggregate.pk
    elif isinstance(aggregate, tuple) and len(aggregate) == 2:
        kind, ident = aggregate
    else:
        raise EventInvalid(
            "aggregate must be a model instance or an (aggregate_type, aggregate_id) pair",
            code="event_aggregate_invalid",
        )
    if isinstance(ident, uuid.UUID | int) and not isinstance(ident, bool):
        ident = str(ident)
    if (
        not isinstance(kind, str)
        or len(kind) > AGGREGATE_TYPE_MAX
        or not _AGGREGATE_TYPE_RE.fullmatch(kind)
        or not isinstance(ident, str)
        or not ident
        or len(ident) > AGGREGATE_ID_MAX
        or "\x00" in ident
    ):
        raise EventInvalid(
            f"aggregate {kind!r}/{ident!r}: a lowercase dotted type (invoices.invoice) and an id of 1-200 characters",
            code="event_aggregate_invalid",
        )
    return kind, ident


def _project_id(project: models.Model | uuid.UUID | str | None) -> uuid.UUID | None:
    if project is None:
        return None
    value = project.pk if isinstance(project, models.Model) else project
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise EventInvalid(f"project {value!r} is not a UUID", code="event_aggregate_invalid") from exc


def _payload(payload: object) -> str:
    if not isinstance(payload, Mapping):
        raise EventInvalid("the payload is a JSON object (a mapping)", code="event_payload_invalid")
    try:
        data = canonical_json(json_safe(payload, "payload"))
    except AuditEventInvalid as exc:
        raise EventInvalid(exc.detail, code="event_payload_invalid", **exc.extra) from exc
    if len(data) > PAYLOAD_MAX_BYTES:
        raise EventInvalid(
            f"the payload is {len(data)} bytes of JSON, above {PAYLOAD_MAX_BYTES}: send ids, not documents",
            code="event_payload_invalid",
        )
    return data.decode("utf-8")


def event_emit(
    topic: str,
    *,
    aggregate: models.Model | tuple[str, object],
    payload: Mapping[str, object],
    project: models.Model | uuid.UUID | str | None = None,
) -> OutboxEvent:
    """Append one event to the outbox in the current transaction; returns it (``position`` None until commit).

    ``aggregate`` is the thing the event is about: a saved model instance (type ``<app_label>.<model>``,
    e.g. ``invoices.invoice``) or an ``(aggregate_type, aggregate_id)`` pair. Refused: an unknown topic
    (``event_topic_unknown``), a malformed aggregate (``event_aggregate_invalid``), a payload that is not a
    JSON object of JSON-safe values (``event_payload_invalid``: floats, naive datetimes, model instances…),
    and any call outside a transaction (``event_outside_transaction``).
    """
    if not connection.in_atomic_block:
        raise EventOutsideTransaction(
            f"emit({topic!r}) outside a transaction: wrap the change and its event in transaction.atomic()"
        )
    if not isinstance(topic, str) or topic not in TOPICS:
        raise EventTopicUnknown(f"unknown topic {topic!r}", topic=str(topic))
    aggregate_type, aggregate_id = _aggregate(aggregate)
    project_id = _project_id(project)
    body = _payload(payload)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [topic, aggregate_type, aggregate_id, project_id, body])
        pk, occurred_at, xact_id = cursor.fetchone()
    return OutboxEvent(
        id=pk,
        position=None,
        topic=topic,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        project_id=project_id,
        payload=json.loads(body),
        occurred_at=occurred_at,
        xact_id=xact_id,
    )


def outbox_cursor_advance(*, consumer: str, position: int) -> int:
    """Record that ``consumer`` has handled every event up to ``position``; returns its cursor.

    Cursors only move forward (an older position is ignored), so a consumer retrying a page cannot rewind
    another worker's progress.
    """
    if not isinstance(consumer, str) or not consumer or len(consumer) > CONSUMER_MAX or "\x00" in consumer:
        raise OutboxCursorInvalid(f"a consumer is named by 1-{CONSUMER_MAX} characters")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise OutboxCursorInvalid("a position is a whole number, 0 or more")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {OutboxCursor._meta.db_table} (consumer, position, updated_at) VALUES (%s, %s, now())
            ON CONFLICT (consumer) DO UPDATE
            SET position = greatest({OutboxCursor._meta.db_table}.position, excluded.position), updated_at = now()
            RETURNING position
            """,  # noqa: S608 - our table name, values are parameters
            [consumer, position],
        )
        return int(cursor.fetchone()[0])
