"""Concurrent writers over real parallel connections (one per thread) cannot fork or gap the chain."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from payor.audit.models import AuditEvent
from payor.audit.services import audit_record
from payor.audit.verify import audit_verify
from payor.testing.concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_sixteen_writers_recording_ten_events_each_make_one_gapless_chain():
    def writer(worker: int) -> int:
        for i in range(10):  # each in its own transaction: record() opens one when called outside
            audit_record(
                actor=None,
                action="invoice.approved",
                subject_type="invoices.invoice",
                subject_id=f"{worker}-{i}",
                after={"worker": worker, "i": i},
            )
        return worker

    results = race([lambda w=w: writer(w) for w in range(16)])
    assert results == list(range(16))
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 161))
    assert AuditEvent.objects.values("prev_hash").distinct().count() == 160
    per_worker = {
        w: list(AuditEvent.objects.filter(after__worker=w).order_by("seq").values_list("after__i", flat=True))
        for w in range(16)
    }
    assert per_worker == {w: list(range(10)) for w in range(16)}
    report = audit_verify()
    assert (report.ok, report.events) == (True, 160), report.problem


def test_writers_inside_longer_transactions_that_half_roll_back_leave_no_gap():
    class Abort(Exception):
        pass

    def writer(worker: int) -> str:
        try:
            with transaction.atomic():
                for i in range(5):
                    audit_record(
                        actor=None,
                        action="invoice.approved",
                        subject_type="invoices.invoice",
                        subject_id=f"{worker}-{i}",
                    )
                time.sleep(0.005)  # the chain lock is held until this transaction ends
                if worker % 2:
                    raise Abort()
        except Abort:
            return "rolled back"
        return "committed"

    results = race([lambda w=w: writer(w) for w in range(16)])
    assert results == ["committed", "rolled back"] * 8
    events = list(AuditEvent.objects.order_by("seq").values_list("seq", "subject_id"))
    assert [seq for seq, _ in events] == list(range(1, 41))
    assert {int(subject.split("-")[0]) for _, subject in events} == set(range(0, 16, 2))
    # One committed transaction's events are contiguous: writers took turns, never interleaved.
    workers = [subject.split("-")[0] for _, subject in events]
    assert [len(set(workers[i : i + 5])) for i in range(0, 40, 5)] == [1] * 8
    report = audit_verify()
    assert (report.ok, report.events) == (True, 40), report.problem
