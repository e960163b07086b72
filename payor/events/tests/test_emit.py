"""emit(): validation, canonical payloads, positions at commit, append-only rows."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from payor import events
from payor.core.money import Money
from payor.events.errors import EventInvalid, EventOutsideTransaction, EventTopicUnknown, OutboxCursorInvalid
from payor.events.models import OutboxEvent
from payor.events.selectors import outbox_cursor_get, outbox_read
from payor.events.services import outbox_cursor_advance
from payor.events.topics import TOPICS
from payor.testing.factories import ProjectFactory

INVOICE = ("invoices.invoice", "0193a1b2-0000-7000-8000-000000000001")


def fire_deferred() -> None:
    """Run the commit-time sequencing now (inside a test's never-committed transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_seed_topics_are_registered():
    seed = {
        "invoice.submitted",
        "invoice.approved",
        "invoice.rejected",
        "paymentrun.created",
        "payment.executed",
        "payment.failed",
        "verification.passed",
        "retention.release_created",
    }
    flow = {"invoice.returned", "invoice.scheduled", "invoice.paid", "contract.executed", "contract.closed"}
    assert seed | flow | {"change_order.approved"} <= set(TOPICS)


@pytest.mark.django_db
def test_an_event_carries_its_payload_as_canonical_json_like_the_audit_log():
    project = ProjectFactory()
    approver = uuid.UUID("0193a1b2-0000-7000-8000-0000000000aa")
    event = events.emit(
        "invoice.approved",
        aggregate=INVOICE,
        project=project,
        payload={
            "net_payable": Money.parse("1234.50", "USD"),
            "retention": Money.parse("0.000001", "USDC"),
            "approved_by": approver,
            "due_on": dt.date(2026, 3, 31),
            "approved_at": dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC),
            "rate": Decimal("0.10"),
            "lines": [{"wbs": "1.2", "count": 3, "final": True, "note": None}],
        },
    )
    assert event.position is None  # assigned when the transaction commits
    stored = OutboxEvent.objects.get(pk=event.pk)
    assert stored.payload == {
        "net_payable": {"amount": "1234.50", "currency": "USD"},
        "retention": {"amount": "0.000001", "currency": "USDC"},
        "approved_by": str(approver),
        "due_on": "2026-03-31",
        "approved_at": "2026-03-02T09:30:00.000000Z",
        "rate": "0.10",
        "lines": [{"wbs": "1.2", "count": 3, "final": True, "note": None}],
    }
    assert stored.payload == event.payload
    assert (stored.topic, stored.aggregate_type, stored.aggregate_id) == ("invoice.approved", *INVOICE)
    assert stored.project_id == project.pk
    assert stored.occurred_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        assert stored.xact_id == cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_model_instance_names_itself_as_the_aggregate():
    project = ProjectFactory()
    event = events.emit("contract.executed", aggregate=project, payload={})
    assert (event.aggregate_type, event.aggregate_id) == ("projects.project", str(project.pk))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("topic", "kwargs", "error", "code"),
    [
        ("invoice.exploded", {}, EventTopicUnknown, "event_topic_unknown"),
        ("Invoice.Approved", {}, EventTopicUnknown, "event_topic_unknown"),
        ("invoice.approved", {"payload": {"total": 12.5}}, EventInvalid, "event_payload_invalid"),
        ("invoice.approved", {"payload": {"lines": [{"pct": 0.1}]}}, EventInvalid, "event_payload_invalid"),
        ("invoice.approved", {"payload": {"at": dt.datetime(2026, 1, 1)}}, EventInvalid, "event_payload_invalid"),  # noqa: DTZ001
        ("invoice.approved", {"payload": {1: "x"}}, EventInvalid, "event_payload_invalid"),
        ("invoice.approved", {"payload": {"ids": {1, 2}}}, EventInvalid, "event_payload_invalid"),
        ("invoice.approved", {"payload": ["not", "an", "object"]}, EventInvalid, "event_payload_invalid"),
        ("invoice.approved", {"payload": {"blob": "x" * 70_000}}, EventInvalid, "event_payload_invalid"),
        ("invoice.approved", {"aggregate": ("Invoices", "1")}, EventInvalid, "event_aggregate_invalid"),
        ("invoice.approved", {"aggregate": ("invoices.invoice", "")}, EventInvalid, "event_aggregate_invalid"),
        ("invoice.approved", {"aggregate": "invoices.invoice:1"}, EventInvalid, "event_aggregate_invalid"),
        ("invoice.approved", {"project": "not-a-uuid"}, EventInvalid, "event_aggregate_invalid"),
    ],
)
def test_malformed_events_are_refused_and_nothing_is_written(topic, kwargs, error, code):
    arguments = {"aggregate": INVOICE, "payload": {"ok": True}, **kwargs}
    with pytest.raises(error) as refused:
        events.emit(topic, **arguments)
    assert refused.value.code == code
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
def test_positions_follow_emit_order_within_a_transaction_and_share_its_id():
    emitted = [events.emit("invoice.submitted", aggregate=("invoices.invoice", str(i)), payload={}) for i in range(3)]
    assert OutboxEvent.objects.filter(position__isnull=False).count() == 0
    fire_deferred()  # what COMMIT does
    stored = list(OutboxEvent.objects.filter(pk__in=[e.pk for e in emitted]).order_by("position"))
    assert [e.aggregate_id for e in stored] == ["0", "1", "2"]
    positions = [e.position for e in stored]
    assert positions == list(range(positions[0], positions[0] + 3))
    assert len({e.xact_id for e in stored}) == 1
    page = outbox_read(after=positions[0] - 1, limit=2)
    assert [e.aggregate_id for e in page.events] == ["0", "1"]
    assert page.next_after == positions[1]
    rest = outbox_read(after=page.next_after, limit=2)
    assert [e.aggregate_id for e in rest.events] == ["2"]
    assert outbox_read(after=rest.next_after).events == []
    assert outbox_read(after=rest.next_after).next_after == rest.next_after


@pytest.mark.django_db
def test_events_are_append_only():
    event = events.emit("invoice.submitted", aggregate=INVOICE, payload={"n": 1})
    # Even inside its own transaction, nobody but the commit-time sequencing may set the position.
    with pytest.raises(DatabaseError, match="append-only: update refused"), transaction.atomic():
        OutboxEvent.objects.filter(pk=event.pk).update(position=1)
    fire_deferred()
    for write in (
        lambda: OutboxEvent.objects.filter(pk=event.pk).update(payload={"n": 2}),
        lambda: OutboxEvent.objects.filter(pk=event.pk).update(position=10**12),
        lambda: OutboxEvent.objects.filter(pk=event.pk).update(topic="invoice.approved"),
        lambda: OutboxEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            write()

    def switch_then_update() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('payor.outbox_sequencing', 'on', true)")  # the switch alone is not enough
            cursor.execute("UPDATE events_outboxevent SET payload = '{}'::jsonb WHERE id = %s", [event.pk])

    with pytest.raises(DatabaseError, match="append-only"):
        switch_then_update()
    stored = OutboxEvent.objects.get(pk=event.pk)
    assert (stored.payload, stored.topic) == ({"n": 1}, "invoice.submitted")


@pytest.mark.django_db
def test_outbox_read_validates_its_arguments():
    for kwargs in ({"after": -1}, {"after": 0, "limit": 0}, {"after": 0, "limit": 1001}, {"after": True}):
        with pytest.raises(OutboxCursorInvalid):
            outbox_read(**kwargs)


@pytest.mark.django_db
def test_consumer_cursors_only_move_forward():
    assert outbox_cursor_get(consumer="webhooks") == 0
    assert outbox_cursor_advance(consumer="webhooks", position=7) == 7
    assert outbox_cursor_advance(consumer="webhooks", position=3) == 7  # a late retry cannot rewind it
    assert outbox_cursor_advance(consumer="webhooks", position=9) == 9
    assert outbox_cursor_get(consumer="webhooks") == 9
    assert outbox_cursor_get(consumer="export") == 0
    for kwargs in (
        {"consumer": "", "position": 1},
        {"consumer": "x", "position": -1},
        {"consumer": "x" * 101, "position": 1},
    ):
        with pytest.raises(OutboxCursorInvalid):
            outbox_cursor_advance(**kwargs)


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_is_refused():
    with pytest.raises(EventOutsideTransaction):
        events.emit("invoice.submitted", aggregate=INVOICE, payload={})
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_takes_its_events_with_it():
    class Abort(Exception):
        pass

    def emit_then_fail(topic: str, attempt: int) -> None:
        with transaction.atomic():
            events.emit(topic, aggregate=INVOICE, payload={"attempt": attempt})
            raise Abort()

    with pytest.raises(Abort):
        emit_then_fail("invoice.submitted", 1)
    assert OutboxEvent.objects.count() == 0
    # A savepoint rolled back inside a committed transaction drops only its own event.
    with transaction.atomic():
        events.emit("invoice.submitted", aggregate=INVOICE, payload={"attempt": 2})
        with pytest.raises(Abort):
            emit_then_fail("invoice.approved", 3)
        events.emit("invoice.rejected", aggregate=INVOICE, payload={"attempt": 4})
    stored = list(OutboxEvent.objects.order_by("position").values_list("topic", "payload", "position"))
    assert [(topic, payload) for topic, payload, _ in stored] == [
        ("invoice.submitted", {"attempt": 2}),
        ("invoice.rejected", {"attempt": 4}),
    ]
    assert stored[1][2] == stored[0][2] + 1
    page = outbox_read(after=0)
    assert [e.payload["attempt"] for e in page.events] == [2, 4]
