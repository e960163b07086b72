"""Ordering under real parallel connections: a reader following positions never skips a late committer.

The hazard: with positions taken at insert time, a transaction that inserts first (position 1) but
commits last is invisible when a reader has already moved its cursor past position 2 — the event is
skipped forever. Positions here are taken at commit, so the late committer gets the higher position.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, transaction

from payor import events
from payor.events.models import OutboxEvent
from payor.events.selectors import outbox_read
from payor.testing.concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30  # seconds; a hang fails the test instead of blocking the run


def in_thread(work) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_slow_transaction_that_emitted_first_is_not_skipped_by_a_reader_that_read_in_between():
    slow_emitted, reader_done = threading.Event(), threading.Event()

    def slow() -> None:
        with transaction.atomic():
            events.emit("invoice.submitted", aggregate=("invoices.invoice", "slow"), payload={})
            slow_emitted.set()
            assert reader_done.wait(WAIT)  # still open while the fast one commits and the reader reads

    def fast() -> None:
        assert slow_emitted.wait(WAIT)
        with transaction.atomic():
            events.emit("invoice.submitted", aggregate=("invoices.invoice", "fast"), payload={})

    slow_thread = in_thread(slow)
    fast_thread = in_thread(fast)
    fast_thread.join(WAIT)
    first = outbox_read(after=0)
    assert [e.aggregate_id for e in first.events] == ["fast"]
    reader_done.set()
    slow_thread.join(WAIT)
    second = outbox_read(after=first.next_after)
    assert [e.aggregate_id for e in second.events] == ["slow"]

    # The slow event was inserted first (lower id): a cursor over insertion order would have skipped it.
    fast_event, slow_event = first.events[0], second.events[0]
    assert slow_event.id < fast_event.id
    assert slow_event.position > fast_event.position


def test_a_reader_polling_during_a_storm_of_writers_sees_every_committed_event_once_in_commit_order():
    writers, transactions = 8, 15
    done = threading.Event()
    seen: list[OutboxEvent] = []

    def writer(worker: int) -> list[str]:
        rng = random.Random(worker)
        committed = []
        for n in range(transactions):
            ids = [f"{worker}-{n}-{k}" for k in range(rng.randint(1, 3))]
            try:
                with transaction.atomic():
                    for aggregate_id in ids:
                        events.emit("payment.executed", aggregate=("payments.disbursement", aggregate_id), payload={})
                        time.sleep(rng.random() * 0.004)
                    if rng.random() < 0.2:
                        raise RuntimeError("rolled back")
            except RuntimeError:
                continue
            committed.extend(ids)
        return committed

    def reader() -> None:
        after = 0
        while True:
            finished = done.is_set()  # read once more after the writers are done
            page = outbox_read(after=after, limit=7)
            seen.extend(page.events)
            after = page.next_after
            if finished and not page.events:
                return
            if not page.events:
                time.sleep(0.001)

    reader_thread = in_thread(reader)
    results = race([lambda w=w: writer(w) for w in range(writers)])
    done.set()
    reader_thread.join(WAIT)
    assert not reader_thread.is_alive()

    committed = [aggregate_id for result in results for aggregate_id in result]  # type: ignore[union-attr]
    assert all(isinstance(result, list) for result in results), results
    stored = list(OutboxEvent.objects.order_by("position"))
    assert sorted(e.aggregate_id for e in stored) == sorted(committed)
    # The reader saw every committed event exactly once, in position order, while they were being written.
    assert [e.id for e in seen] == [e.id for e in stored]
    positions = [e.position for e in seen]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    # One transaction's events have consecutive positions, in emit order.
    by_transaction: dict[int, list[OutboxEvent]] = {}
    for event in stored:
        by_transaction.setdefault(event.xact_id, []).append(event)
    for group in by_transaction.values():
        assert [e.position for e in group] == list(range(group[0].position, group[0].position + len(group)))
        assert [e.aggregate_id for e in group] == sorted(e.aggregate_id for e in group)
