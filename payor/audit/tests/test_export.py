from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from payor.audit.models import AuditEvent
from payor.audit.services import audit_record
from payor.audit.tests.conftest import GENESIS, independent_hash
from payor.audit.verify import audit_verify
from payor.core.money import Money
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = [
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "subject_type",
    "subject_id",
    "project_id",
    "before",
    "after",
    "request_id",
    "ip",
    "prev_hash",
    "hash",
]


def canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def utc(event: AuditEvent) -> str:
    return event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rehash(record: dict) -> str:
    body = {key: value for key, value in record.items() if key not in {"prev_hash", "hash"}}
    return hashlib.sha256(record["prev_hash"].encode() + canonical(body).encode()).hexdigest()


@pytest.fixture
def two_events():
    user = UserFactory(email="zoë@example.test", password=None)
    project = ProjectFactory()
    request = RequestFactory().post("/", REMOTE_ADDR="2001:db8::7")
    request.request_id = "req-7"
    first = audit_record(
        actor=user,
        action="invoice.approved",
        subject_type="invoices.invoice",
        subject_id="inv-1",
        before={"status": "submitted", "total": Money.parse("12.50", "USD")},
        after={"status": "approved", "memo": 'a "quoted", comma'},
        project_id=project.pk,
        request=request,
    )
    second = audit_record(actor=None, action="role.assigned", subject_type="accounts.membership", subject_id="m-1")
    return user, project, AuditEvent.objects.get(seq=first.seq), AuditEvent.objects.get(seq=second.seq)


def test_jsonl_export_is_every_field_as_canonical_json_and_reverifies(two_events):
    user, project, first, second = two_events
    out = StringIO()
    call_command("audit", "export", "--format", "jsonl", stdout=out)
    lines = out.getvalue().splitlines()
    expected = [
        {
            "seq": 1,
            "occurred_at": utc(first),
            "actor_id": str(user.pk),
            "actor_label": "zoë@example.test",
            "action": "invoice.approved",
            "subject_type": "invoices.invoice",
            "subject_id": "inv-1",
            "project_id": str(project.pk),
            "before": {"status": "submitted", "total": {"amount": "12.50", "currency": "USD"}},
            "after": {"status": "approved", "memo": 'a "quoted", comma'},
            "request_id": "req-7",
            "ip": "2001:db8::7",
            "prev_hash": GENESIS,
            "hash": first.hash,
        },
        {
            "seq": 2,
            "occurred_at": utc(second),
            "actor_id": None,
            "actor_label": "system",
            "action": "role.assigned",
            "subject_type": "accounts.membership",
            "subject_id": "m-1",
            "project_id": None,
            "before": None,
            "after": None,
            "request_id": None,
            "ip": None,
            "prev_hash": first.hash,
            "hash": second.hash,
        },
    ]
    assert lines == [canonical(record) for record in expected]
    # An auditor with only the file: each hash recomputes, each prev_hash links to the line before.
    records = [json.loads(line) for line in lines]
    assert [rehash(record) for record in records] == [record["hash"] for record in records]
    assert [record["prev_hash"] for record in records] == [GENESIS, records[0]["hash"]]


def test_csv_export_has_every_column_and_reverifies(two_events):
    user, project, first, second = two_events
    out = StringIO()
    call_command("audit", "export", "--format", "csv", stdout=out)
    rows = list(csv.reader(StringIO(out.getvalue())))
    assert rows == [
        HEADER,
        [
            "1",
            utc(first),
            str(user.pk),
            "zoë@example.test",
            "invoice.approved",
            "invoices.invoice",
            "inv-1",
            str(project.pk),
            '{"status":"submitted","total":{"amount":"12.50","currency":"USD"}}',
            '{"memo":"a \\"quoted\\", comma","status":"approved"}',
            "req-7",
            "2001:db8::7",
            GENESIS,
            first.hash,
        ],
        [
            "2",
            utc(second),
            "",
            "system",
            "role.assigned",
            "accounts.membership",
            "m-1",
            "",
            "",
            "",
            "",
            "",
            first.hash,
            second.hash,
        ],
    ]
    for row in rows[1:]:
        record = {key: (cell or None) for key, cell in zip(HEADER, row, strict=True)}
        record["seq"] = int(record["seq"])
        for key in ("before", "after"):
            record[key] = None if record[key] is None else json.loads(record[key])
        assert rehash(record) == record["hash"]


def append_at(occurred_at: dt.datetime, *, project_id: uuid.UUID | None, subject_id: str) -> AuditEvent:
    """A valid next event with a chosen timestamp (the service always uses the database clock)."""
    last = AuditEvent.objects.order_by("-seq").first()
    event = AuditEvent(
        seq=last.seq + 1 if last else 1,
        occurred_at=occurred_at,
        actor_label="system",
        action="invoice.approved",
        subject_type="invoices.invoice",
        subject_id=subject_id,
        project_id=project_id,
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = independent_hash(event.prev_hash, event)
    event.save(force_insert=True)
    return event


def test_export_filters_by_project_and_since(db, tmp_path):
    a, b = ProjectFactory().pk, ProjectFactory().pk
    midnight = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    append_at(midnight - dt.timedelta(microseconds=1), project_id=a, subject_id="a-before")
    append_at(midnight, project_id=a, subject_id="a-at")
    append_at(midnight, project_id=b, subject_id="b-at")
    append_at(midnight + dt.timedelta(days=1), project_id=None, subject_id="none-after")
    assert audit_verify().ok

    def exported(*args: str) -> list[str]:
        out = StringIO()
        call_command("audit", "export", "--format", "jsonl", *args, stdout=out)
        return [json.loads(line)["subject_id"] for line in out.getvalue().splitlines()]

    assert exported() == ["a-before", "a-at", "b-at", "none-after"]
    assert exported("--project", str(a)) == ["a-before", "a-at"]
    assert exported("--since", "2026-03-02") == ["a-at", "b-at", "none-after"]
    assert exported("--project", str(a), "--since", "2026-03-02") == ["a-at"]
    assert exported("--since", "2026-03-04") == []

    target = tmp_path / "audit.csv"
    err = StringIO()
    call_command("audit", "export", "--format", "csv", "--project", str(b), "--output", str(target), stderr=err)
    assert err.getvalue() == f"exported 1 audit events to {target}\n"
    rows = list(csv.reader(target.open(newline="", encoding="utf-8")))
    assert [row[6] for row in rows] == ["subject_id", "b-at"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], "--project must be a UUID, got 'nope'"),
        (["--since", "03/02/2026"], "--since must be a date YYYY-MM-DD, got '03/02/2026'"),
    ],
)
def test_export_refuses_malformed_filters(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("audit", "export", "--format", "jsonl", *args, stdout=StringIO())


def test_a_reader_that_stops_early_ends_the_export_quietly():
    """``payor audit export ... | head -1``: the pipe closes after the first line; the command ends without a
    BrokenPipeError traceback and the reader got whole lines."""
    actor = UserFactory()
    for n in range(3):
        audit_record(actor=actor, action="role.assigned", subject_type="accounts.membership", subject_id=f"m-{n}")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: every write fails with EPIPE
    with os.fdopen(write_end, "w", encoding="utf-8") as stream:
        call_command("audit", "export", "--format", "jsonl", stdout=stream)
    # The descriptor was redirected to /dev/null, so closing it (above) raised nothing either.
