"""Races over real parallel database connections (one connection per thread)."""

from __future__ import annotations

import pytest

from payor.ledger import services as ledger
from payor.ledger.errors import InsufficientFunds, PendingAlreadyResolved
from payor.ledger.models import AccountKind, Transfer, TransferCode, TransferPhase
from payor.ledger.services import TransferSpec
from payor.ledger.tests.conftest import usd
from payor.ledger.verify import ledger_verify
from payor.testing.concurrency import race
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)


def funded_accounts(amount: str):
    bucket = ProjectFactory().buckets.get()
    ledger.fund(bucket=bucket, amount=usd(amount), key=f"funding:{bucket.pk}")
    return (
        ledger.account_ensure(bucket=bucket, kind=AccountKind.AVAILABLE),
        ledger.account_ensure(bucket=bucket, kind=AccountKind.COMMITTED),
    )


def test_sixteen_workers_overcommitting_exactly_the_affordable_set_succeeds():
    available, committed = funded_accounts("1000.00")
    specs = [
        TransferSpec(
            id=f"commit:{i}", code=TransferCode.COMMIT, amount=usd("100.00"), debit=available, credit=committed
        )
        for i in range(16)
    ]
    results = race([lambda spec=spec: ledger.transfer_post(spec) for spec in specs])
    succeeded = [r for r in results if isinstance(r, ledger.Posted)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(succeeded) == 10
    assert len(refused) == 6
    available.refresh_from_db()
    committed.refresh_from_db()
    assert available.balance_available == 0
    assert committed.balance_posted == 100000
    assert Transfer.objects.filter(code=TransferCode.COMMIT).count() == 10
    assert ledger_verify().ok


def test_racing_duplicates_of_one_transfer_id_make_one_transfer():
    available, committed = funded_accounts("1000.00")
    spec = TransferSpec(
        id="commit:once", code=TransferCode.COMMIT, amount=usd("250.00"), debit=available, credit=committed
    )
    results = race([lambda: ledger.transfer_post(spec)] * 16)
    assert all(isinstance(r, ledger.Posted) for r in results), results
    assert sum(1 for r in results if r.created) == 1
    assert len({r.seq for r in results}) == 1
    committed.refresh_from_db()
    assert committed.balance_posted == 25000
    assert ledger_verify().ok


def test_racing_post_and_void_of_one_pending_transfer_exactly_one_wins():
    for round_ in range(5):
        available, committed = funded_accounts("1000.00")
        pending = f"payment:{round_}"
        ledger.transfer_post(
            TransferSpec(
                id=pending,
                code=TransferCode.DISBURSE,
                amount=usd("400.00"),
                debit=available,
                credit=committed,
                phase=TransferPhase.PENDING,
            )
        )
        results = race(
            [
                lambda p=pending: ledger.pending_post(id=f"{p}:post", pending_id=p, code=TransferCode.DISBURSE),
                lambda p=pending: ledger.pending_void(id=f"{p}:void", pending_id=p),
            ]
        )
        winners = [r for r in results if isinstance(r, ledger.Posted)]
        losers = [r for r in results if isinstance(r, PendingAlreadyResolved)]
        assert (len(winners), len(losers)) == (1, 1), results
        resolution = Transfer.objects.get(pending_id=pending)
        available.refresh_from_db()
        committed.refresh_from_db()
        if resolution.phase == TransferPhase.POST:
            assert (available.balance_available, committed.balance_posted) == (60000, 40000)
        else:
            assert (available.balance_available, committed.balance_posted) == (100000, 0)
    assert ledger_verify().ok


def test_opposite_direction_transfers_on_the_same_accounts_do_not_deadlock():
    """Batches touching the same two accounts in both orders: accounts are locked in id order, so all succeed."""
    available, committed = funded_accounts("1000.00")
    ledger.transfer_post(
        TransferSpec(
            id="commit:base", code=TransferCode.COMMIT, amount=usd("500.00"), debit=available, credit=committed
        )
    )

    def forward(name: str) -> TransferSpec:
        return TransferSpec(id=name, code=TransferCode.COMMIT, amount=usd("10.00"), debit=available, credit=committed)

    def backward(name: str) -> TransferSpec:
        return TransferSpec(id=name, code=TransferCode.RELEASE, amount=usd("10.00"), debit=committed, credit=available)

    batches = [[forward(f"f{i}"), backward(f"b{i}")] for i in range(8)]
    batches += [[backward(f"B{i}"), forward(f"F{i}")] for i in range(8)]
    results = race([lambda batch=batch: ledger.transfers_post(batch) for batch in batches])
    assert not [r for r in results if isinstance(r, Exception)], results
    committed.refresh_from_db()
    assert committed.balance_posted == 50000  # 16 batches of (+10, -10)
    assert Transfer.objects.count() == 2 + 32
    assert ledger_verify().ok
