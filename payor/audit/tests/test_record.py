from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import uuid
import zoneinfo
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import RequestFactory

from payor import audit
from payor.audit.canonical import GENESIS_HASH, canonical_json, event_payload, payload_hash
from payor.audit.errors import AuditEventInvalid
from payor.audit.models import AuditEvent
from payor.audit.services import audit_record
from payor.audit.tests.conftest import GENESIS, independent_hash
from payor.audit.verify import audit_verify
from payor.core.money import Money
from payor.projects.models import ProjectStatus
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_worked_example_canonical_bytes_and_hash():
    """The documented formula on fixed values: what an external auditor re-implements."""
    payload = event_payload(
        seq=1,
        occurred_at=dt.datetime(2026, 3, 1, 9, 30, 0, 5, tzinfo=dt.UTC),
        actor_id=uuid.UUID("01900000-0000-7000-8000-000000000001"),
        actor_label="alice@example.test",
        action="invoice.approved",
        subject_type="invoices.invoice",
        subject_id="42",
        project_id=uuid.UUID("01900000-0000-7000-8000-0000000000AA"),
        before={"status": "submitted"},
        after={"status": "approved", "total": {"currency": "USD", "amount": "1250.00"}, "note": "café ✓"},
        request_id="req-1",
        ip="192.0.2.7",
    )
    canonical = (
        '{"action":"invoice.approved","actor_id":"01900000-0000-7000-8000-000000000001",'
        '"actor_label":"alice@example.test","after":{"note":"café ✓","status":"approved",'
        '"total":{"amount":"1250.00","currency":"USD"}},"before":{"status":"submitted"},'
        '"ip":"192.0.2.7","occurred_at":"2026-03-01T09:30:00.000005Z",'
        '"project_id":"01900000-0000-7000-8000-0000000000aa","request_id":"req-1","seq":1,'
        '"subject_id":"42","subject_type":"invoices.invoice"}'
    ).encode()
    assert canonical_json(payload) == canonical
    expected = hashlib.sha256(b"0" * 64 + canonical).hexdigest()
    assert payload_hash(GENESIS_HASH, payload) == expected


def test_canonical_json_escapes_only_quotes_backslashes_and_control_characters():
    text = 'q" b\\ t\t n\n x\x01 del\x7f ls\u2028 / é 🦫'
    assert canonical_json({"b": 1, "a": [text], "é": None, "Z": True}) == (
        '{"Z":true,"a":["q\\" b\\\\ t\\t n\\n x\\u0001 del\x7f ls\u2028 / é 🦫"],"b":1,"é":null}'.encode()
    )


def test_importing_the_package_does_not_load_models():
    """``from payor import audit`` is safe before apps are ready: record() imports the service when called."""
    code = "import sys, payor.audit; assert 'payor.audit.models' not in sys.modules and 'django.db' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_three_events_form_a_gapless_chain_with_independently_recomputable_hashes():
    alice = UserFactory(email="alice@example.test", password=None)
    project = ProjectFactory()
    first = audit_record(
        actor=alice,
        action="project.created",
        subject_type="projects.project",
        subject_id=project.pk,
        after={"name": "Klamath"},
        project_id=project.pk,
    )
    second = audit_record(
        actor=None,
        action="invoice.approved",
        subject_type="invoices.invoice",
        subject_id="inv-1",
        before={"status": "submitted"},
        after={"status": "approved"},
        project_id=project.pk,
    )
    third = audit.record(alice, "role.assigned", ("accounts.membership", "m-1"), after={"role": "approver"})

    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.hash for e in events] == [first.hash, second.hash, third.hash]
    assert [e.prev_hash for e in events] == [GENESIS, first.hash, second.hash]
    assert [e.hash for e in events] == [
        independent_hash(GENESIS, events[0]),
        independent_hash(events[0].hash, events[1]),
        independent_hash(events[1].hash, events[2]),
    ]
    assert [(e.actor_id, e.actor_label, e.action, e.subject_type, e.subject_id, e.project_id) for e in events] == [
        (alice.pk, "alice@example.test", "project.created", "projects.project", str(project.pk), project.pk),
        (None, "system", "invoice.approved", "invoices.invoice", "inv-1", project.pk),
        (alice.pk, "alice@example.test", "role.assigned", "accounts.membership", "m-1", None),
    ]
    assert [(e.before, e.after) for e in events] == [
        (None, {"name": "Klamath"}),
        ({"status": "submitted"}, {"status": "approved"}),
        (None, {"role": "approver"}),
    ]
    assert events[0].occurred_at <= events[1].occurred_at <= events[2].occurred_at
    report = audit_verify()
    assert (report.ok, report.events, report.last_seq, report.last_hash) == (True, 3, 3, third.hash)


def test_money_uuid_decimal_dates_and_choices_are_canonicalised():
    ref = uuid.UUID("01900000-0000-7000-8000-0000000000AB")
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    event = audit_record(
        actor=None,
        action="invoice.updated",
        subject_type="invoices.invoice",
        subject_id=uuid.UUID("01900000-0000-7000-8000-000000000002"),
        before={"total": Money.parse("1250.5", "USD"), "fee": Money(7, "JPY"), "ratio": Decimal("0.10")},
        after={
            "total": Money.parse("-3.00", "USD"),
            "vendor": ref,
            "due": dt.date(2026, 4, 30),
            "approved_at": dt.datetime(2026, 3, 1, 10, 30, tzinfo=paris),
            "status": ProjectStatus.ON_HOLD,
            "lines": (1, "two", None, True),
            "nested": {"ids": [ref]},
        },
    )
    stored = AuditEvent.objects.get(seq=event.seq)
    assert stored.subject_id == "01900000-0000-7000-8000-000000000002"
    assert stored.before == {
        "total": {"amount": "1250.50", "currency": "USD"},
        "fee": {"amount": "7", "currency": "JPY"},
        "ratio": "0.10",
    }
    assert stored.after == {
        "total": {"amount": "-3.00", "currency": "USD"},
        "vendor": "01900000-0000-7000-8000-0000000000ab",
        "due": "2026-04-30",
        "approved_at": "2026-03-01T09:30:00.000000Z",
        "status": "on_hold",
        "lines": [1, "two", None, True],
        "nested": {"ids": ["01900000-0000-7000-8000-0000000000ab"]},
    }
    assert stored.hash == independent_hash(GENESIS, stored)
    assert audit_verify().ok


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ({"amount": 1.5}, "after.amount: floats are not accepted in audit values (use Decimal, Money or a string)"),
        (
            {"at": dt.datetime(2026, 1, 1, 12, 0)},  # noqa: DTZ001 - naive on purpose
            "after.at: naive datetime 2026-01-01T12:00:00 (use an aware datetime)",
        ),
        ({"tags": {"a"}}, "after.tags: set cannot be recorded (convert it to JSON data: ids, not objects)"),
        ({1: "one"}, "after: object keys must be strings, got int 1"),
        ({"memo": "a\x00b"}, "after.memo: strings cannot contain NUL characters"),
        ([{"x": [0, 2.0]}], "after[0].x[1]: floats are not accepted in audit values (use Decimal, Money or a string)"),
    ],
)
def test_values_that_cannot_hash_stably_are_refused_and_nothing_is_recorded(after, message):
    with pytest.raises(AuditEventInvalid) as info:
        audit_record(actor=None, action="invoice.updated", subject_type="invoices.invoice", subject_id="1", after=after)
    assert (info.value.code, info.value.detail) == ("audit_value_invalid", message)
    assert AuditEvent.objects.count() == 0


def test_a_model_instance_in_a_value_is_refused():
    project = ProjectFactory()
    with pytest.raises(AuditEventInvalid) as info:
        audit_record(
            actor=None, action="project.updated", subject_type="projects.project", subject_id="1", after=project
        )
    assert info.value.detail == "after: Project cannot be recorded (convert it to JSON data: ids, not objects)"


@pytest.mark.parametrize(
    "action",
    ["invoice", "Invoice.approved", "invoice.", ".approved", "invoice..approved", "1nvoice.a", "invoice approved"],
)
def test_actions_must_be_dotted_lowercase(action):
    with pytest.raises(AuditEventInvalid) as info:
        audit_record(actor=None, action=action, subject_type="invoices.invoice", subject_id="1")
    assert info.value.code == "audit_action_invalid"
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("subject_type", "subject_id"),
    [("", "1"), ("Invoices.Invoice", "1"), ("invoices.invoice", ""), ("invoices.invoice", "x" * 201)],
)
def test_subjects_must_be_named(subject_type, subject_id):
    with pytest.raises(AuditEventInvalid) as info:
        audit_record(actor=None, action="invoice.approved", subject_type=subject_type, subject_id=subject_id)
    assert info.value.code == "audit_subject_invalid"
    assert AuditEvent.objects.count() == 0


def test_a_rolled_back_transaction_takes_its_event_with_it_and_leaves_no_gap():
    audit_record(actor=None, action="invoice.submitted", subject_type="invoices.invoice", subject_id="1")

    def approve_then_fail() -> None:
        with transaction.atomic():
            audit_record(actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id="1")
            raise RuntimeError("the change being audited failed")

    with pytest.raises(RuntimeError):
        approve_then_fail()
    assert list(AuditEvent.objects.values_list("seq", "action")) == [(1, "invoice.submitted")]
    again = audit_record(actor=None, action="invoice.rejected", subject_type="invoices.invoice", subject_id="1")
    assert list(AuditEvent.objects.values_list("seq", "action")) == [(1, "invoice.submitted"), (2, "invoice.rejected")]
    assert again.prev_hash == AuditEvent.objects.get(seq=1).hash
    assert audit_verify().ok


def test_request_id_and_client_address_come_from_the_request():
    factory = RequestFactory()
    addresses = {
        "192.0.2.7": "192.0.2.7",
        "2001:DB8:0:0:0:0:0:1": "2001:db8::1",
        "::ffff:192.0.2.9": "192.0.2.9",
        "unix-socket": None,
        "": None,
    }
    for index, (remote, stored) in enumerate(addresses.items()):
        request = factory.get("/", REMOTE_ADDR=remote)
        request.request_id = f"req-{index}"
        event = audit_record(
            actor=AnonymousUser(),
            action="session.login_failed",
            subject_type="accounts.user",
            subject_id="x",
            request=request,
        )
        event = AuditEvent.objects.get(seq=event.seq)
        assert (event.request_id, event.ip, event.actor_id, event.actor_label) == (
            f"req-{index}",
            stored,
            None,
            "anonymous",
        )
    report = audit_verify()
    assert (report.ok, report.events) == (True, 5), report.problem


def test_record_takes_a_model_subject_and_project_and_an_actor_label():
    project = ProjectFactory()
    event = audit.record(
        None,
        "project.phase_changed",
        project,
        {"phase": "origination"},
        {"phase": "implementation"},
        project,
        actor_label="job:projects.phase",
    )
    assert (event.subject_type, event.subject_id, event.project_id, event.actor_label) == (
        "projects.project",
        str(project.pk),
        project.pk,
        "job:projects.phase",
    )


def test_the_trigger_refuses_update_and_delete_and_nothing_changes():
    event = audit_record(actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id="1")
    for sql, operation in [
        ("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE seq = 1", "update"),
        ("DELETE FROM audit_auditevent WHERE seq = 1", "delete"),
    ]:
        with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
        assert info.value.__cause__.sqlstate == "PY002"
        assert str(info.value).startswith(f"audit events are append-only: {operation} refused")
    with pytest.raises(DatabaseError, match="append-only: update refused"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(actor_label="mallory")
    with pytest.raises(DatabaseError, match="append-only: delete refused"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).delete()
    stored = AuditEvent.objects.get()
    assert (stored.seq, stored.actor_label, stored.hash) == (1, "system", event.hash)


def test_a_second_successor_of_one_event_is_refused_by_the_database():
    """Even a writer that skips the advisory lock cannot fork the chain: prev_hash is unique."""
    first = audit_record(actor=None, action="invoice.submitted", subject_type="invoices.invoice", subject_id="1")
    second = audit_record(actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id="1")
    fork = AuditEvent(
        seq=3,
        occurred_at=second.occurred_at,
        actor_label="system",
        action="invoice.rejected",
        subject_type="invoices.invoice",
        subject_id="1",
        prev_hash=first.hash,
        hash="f" * 64,
    )
    with pytest.raises(IntegrityError, match="audit_event_prev_hash_unique"), transaction.atomic():
        fork.save(force_insert=True)
    assert AuditEvent.objects.count() == 2
