"""Transfers: idempotency, two-phase, linked batches, refusals, and the database's own guards."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from payor.core.money import Money
from payor.ledger import services as ledger
from payor.ledger.errors import (
    AccountNotFound,
    BalanceExceeded,
    InsufficientFunds,
    LedgerTampering,
    PendingAlreadyResolved,
    TransferConflict,
    TransferInvalid,
)
from payor.ledger.models import Account, AccountKind, Transfer, TransferCode, TransferPhase
from payor.ledger.services import TransferSpec
from payor.ledger.tests.conftest import usd
from payor.ledger.verify import ledger_verify
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def balances(account: Account) -> tuple[int, int, int, int]:
    account.refresh_from_db()
    return (account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted)


def accounts(bucket) -> tuple[Account, Account]:
    return (
        ledger.account_ensure(bucket=bucket, kind=AccountKind.AVAILABLE),
        ledger.account_ensure(bucket=bucket, kind=AccountKind.COMMITTED),
    )


def state() -> tuple[int, list[tuple[int, int, int, int, int]]]:
    rows = Account.objects.order_by("id").values_list(
        "id", "debits_pending", "debits_posted", "credits_pending", "credits_posted"
    )
    return Transfer.objects.count(), list(rows)


def commit_spec(bucket, amount: str, id: str = "t1", **extra) -> TransferSpec:
    available, committed = accounts(bucket)
    return TransferSpec(id=id, code=TransferCode.COMMIT, amount=usd(amount), debit=available, credit=committed, **extra)


def test_repeating_a_transfer_returns_the_original(funded):
    first = ledger.transfer_post(commit_spec(funded, "10.00"))
    again = ledger.transfer_post(commit_spec(funded, "10.00"))
    assert first.created is True
    assert again.created is False
    assert again.seq == first.seq
    _, committed = accounts(funded)
    assert balances(committed) == (0, 0, 0, 1000)


def test_repeating_an_id_with_different_fields_is_refused_and_changes_nothing(funded):
    ledger.transfer_post(commit_spec(funded, "10.00"))
    before = state()
    with pytest.raises(TransferConflict) as exc:
        ledger.transfer_post(commit_spec(funded, "10.01"))
    assert exc.value.code == "transfer_exists_with_different_fields"
    assert exc.value.status == 409
    assert state() == before


def test_insufficient_funds_is_its_own_error_and_changes_nothing(funded):
    spec = commit_spec(funded, "100000.01")
    before = state()
    with pytest.raises(InsufficientFunds) as exc:
        ledger.transfer_post(spec)
    assert exc.value.code == "insufficient_funds"
    assert exc.value.extra == {"account_kind": "available"}
    assert state() == before


def test_a_linked_batch_fails_as_a_whole(funded):
    specs = [commit_spec(funded, "60000.00", id="a"), commit_spec(funded, "50000.00", id="b")]
    before = state()
    with pytest.raises(InsufficientFunds):
        ledger.transfers_post(specs)
    assert state() == before
    posted = ledger.transfers_post([commit_spec(funded, "60000.00", id="a"), commit_spec(funded, "40000.00", id="b")])
    assert [p.created for p in posted] == [True, True]
    assert len({t.batch_id for t in Transfer.objects.filter(id__in=["a", "b"])}) == 1


def test_a_batch_naming_one_id_twice_is_refused(funded):
    specs = [commit_spec(funded, "1.00", id="same"), commit_spec(funded, "1.00", id="same")]
    before = state()
    with pytest.raises(TransferInvalid) as exc:
        ledger.transfers_post(specs)
    assert exc.value.code == "transfer_id_repeated_in_batch"
    assert state() == before


def test_a_refusal_inside_an_outer_transaction_leaves_it_usable(funded):
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            ledger.transfer_post(commit_spec(funded, "100000.01", id="too-much"))
        ledger.transfer_post(commit_spec(funded, "1.00", id="fine"))
    assert Transfer.objects.filter(id="fine").exists()
    assert not Transfer.objects.filter(id="too-much").exists()


def pending_setup(funded, amount="500.00", **extra):
    available, committed = accounts(funded)
    ledger.transfer_post(
        TransferSpec(
            id="p1",
            code=TransferCode.DISBURSE,
            amount=usd(amount),
            debit=available,
            credit=committed,
            phase=TransferPhase.PENDING,
            **extra,
        )
    )
    return available, committed


def test_pending_then_partial_post_releases_the_rest(funded):
    available, committed = pending_setup(funded)
    assert balances(available) == (50000, 0, 0, 10000000)
    assert balances(committed) == (0, 0, 50000, 0)
    ledger.pending_post(id="p1:post", pending_id="p1", code=TransferCode.DISBURSE, amount=usd("300.00"))
    assert balances(available) == (0, 30000, 0, 10000000)
    assert balances(committed) == (0, 0, 0, 30000)


def test_pending_void_restores_balances(funded):
    available, committed = pending_setup(funded)
    ledger.pending_void(id="p1:void", pending_id="p1")
    assert balances(available) == (0, 0, 0, 10000000)
    assert balances(committed) == (0, 0, 0, 0)


def test_a_pending_transfer_resolves_exactly_once(funded):
    pending_setup(funded)
    ledger.pending_post(id="p1:post", pending_id="p1", code=TransferCode.DISBURSE)
    assert ledger.pending_post(id="p1:post", pending_id="p1", code=TransferCode.DISBURSE).created is False
    before = state()
    with pytest.raises(PendingAlreadyResolved):
        ledger.pending_void(id="p1:void", pending_id="p1")
    with pytest.raises(PendingAlreadyResolved):
        ledger.pending_post(id="p1:post-again", pending_id="p1", code=TransferCode.DISBURSE)
    assert state() == before


@pytest.mark.parametrize(
    ("pending_id", "amount", "code"),
    [("missing", None, "pending_transfer_not_found"), ("p1", "500.01", "post_amount_exceeds_pending")],
)
def test_bad_posts_are_refused(funded, pending_id, amount, code):
    pending_setup(funded)
    before = state()
    with pytest.raises(TransferInvalid) as exc:
        ledger.pending_post(
            id="x", pending_id=pending_id, code=TransferCode.DISBURSE, amount=usd(amount) if amount else None
        )
    assert exc.value.code == code
    assert state() == before


def test_posting_a_single_transfer_as_pending_is_refused(funded):
    ledger.transfer_post(commit_spec(funded, "1.00", id="single"))
    with pytest.raises(TransferInvalid) as exc:
        ledger.pending_void(id="v", pending_id="single")
    assert exc.value.code == "pending_transfer_not_pending"


def test_timed_out_pending_transfers_are_voided_by_the_expiry_job(funded):
    available, _committed = pending_setup(funded, timeout_at=timezone.now() + dt.timedelta(minutes=5))
    assert ledger.pending_expire() == 0
    later = timezone.now() + dt.timedelta(minutes=6)
    assert ledger.pending_expire(now=later) == 1
    assert balances(available) == (0, 0, 0, 10000000)
    assert Transfer.objects.get(pending_id="p1").phase == TransferPhase.VOID
    assert ledger.pending_expire(now=later) == 0


@pytest.mark.django_db(transaction=True)
def test_an_expired_pending_transfer_cannot_be_posted():
    funded = ProjectFactory().buckets.get()
    ledger.fund(bucket=funded, amount=usd("1000.00"), key="funding:seed")
    pending_setup(funded, timeout_at=timezone.now() + dt.timedelta(milliseconds=300))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.4)")
    with pytest.raises(TransferInvalid) as exc:
        ledger.pending_post(id="late", pending_id="p1", code=TransferCode.DISBURSE)
    assert exc.value.code == "pending_transfer_expired"


def test_currency_mismatch_and_cross_project_transfers_are_refused(funded):
    available, committed = accounts(funded)
    usdc_bucket = ProjectFactory(currency="USDC").buckets.get()
    usdc_available = ledger.account_ensure(bucket=usdc_bucket, kind=AccountKind.AVAILABLE)
    other_committed = ledger.account_ensure(bucket=ProjectFactory().buckets.get(), kind=AccountKind.COMMITTED)
    before = state()
    cases = [
        (
            TransferSpec(id="a", code="COMMIT", amount=Money.parse("1", "EUR"), debit=available, credit=committed),
            "currency_mismatch",
        ),
        (
            TransferSpec(id="b", code="COMMIT", amount=usd("1"), debit=usdc_available, credit=committed),
            "currency_mismatch",
        ),
        (
            TransferSpec(id="c", code="COMMIT", amount=usd("1"), debit=available, credit=other_committed),
            "transfer_crosses_projects",
        ),
        (
            TransferSpec(id="d", code="COMMIT", amount=usd("1"), debit=available, credit=available),
            "transfer_accounts_same",
        ),
        (
            TransferSpec(id="e", code="COMMIT", amount=usd("-1"), debit=available, credit=committed),
            "transfer_amount_invalid",
        ),
        (TransferSpec(id="", code="COMMIT", amount=usd("1"), debit=available, credit=committed), "transfer_id_invalid"),
        (
            TransferSpec(
                id="f",
                code="COMMIT",
                amount=usd("1"),
                debit=available,
                credit=committed,
                timeout_at=timezone.now() + dt.timedelta(hours=1),
            ),
            "timeout_only_for_pending",
        ),
        (
            TransferSpec(
                id="h",
                code="COMMIT",
                amount=usd("1"),
                debit=available,
                credit=committed,
                phase=TransferPhase.PENDING,
                timeout_at=timezone.now() - dt.timedelta(hours=1),
            ),
            "timeout_in_past",
        ),
    ]
    for spec, code in cases:
        with pytest.raises(TransferInvalid) as exc:
            ledger.transfer_post(spec)
        assert exc.value.code == code, spec
    assert state() == before


def test_unknown_account_is_404(funded):
    available, _committed = accounts(funded)
    ghost = Account(pk=10**12, kind="committed", currency="USD")
    with pytest.raises(AccountNotFound):
        ledger.transfer_post(TransferSpec(id="g", code="COMMIT", amount=usd("1"), debit=available, credit=ghost))


def test_no_internal_account_can_go_negative(party):
    with pytest.raises(BalanceExceeded) as exc:
        ledger.retain(party=party, lines=[ledger.Line(usd("1.00"))], key="x", invoice_id=uuid.uuid4())
    assert exc.value.extra == {"account_kind": "encumbered"}


def test_raw_update_and_delete_of_transfers_fail(funded):
    ledger.transfer_post(commit_spec(funded, "10.00"))
    for sql in ("UPDATE ledger_transfer SET amount = 1", "DELETE FROM ledger_transfer"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert Transfer.objects.get(id="t1").amount == 1000


def test_raw_balance_edits_and_non_zero_new_accounts_fail(funded):
    available, _ = accounts(funded)
    with pytest.raises(DatabaseError, match="only by posting"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET credits_posted = credits_posted + 1 WHERE id = %s", [available.pk])
    with pytest.raises(DatabaseError, match="zero balances"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_account (project_id, bucket_id, currency, kind, debits_pending, debits_posted,"
            " credits_pending, credits_posted, created_at) VALUES (%s, %s, 'USD', 'withheld', 0, 0, 0, 5, now())",
            [funded.project_id, funded.pk],
        )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_account WHERE id = %s", [available.pk])
    assert balances(available) == (0, 0, 0, 10000000)


def test_the_service_maps_tampering_to_a_domain_error(funded):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE ledger_transfer SET amount = 1")
    except DatabaseError as exc:
        translated = ledger._translate(exc)
    assert isinstance(translated, LedgerTampering)
    assert translated.code == "ledger_append_only"


def test_verify_names_a_corrupted_balance(funded):
    assert ledger_verify().ok
    available, _ = accounts(funded)
    with connection.cursor() as cursor:
        # Only a superuser can switch triggers off: simulate a corrupted row.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE ledger_account SET credits_posted = credits_posted + 7 WHERE id = %s", [available.pk])
        cursor.execute("SET LOCAL session_replication_role = origin")
    report = ledger_verify()
    assert not report.ok
    assert report.problems[0].startswith(f"account {available.pk} (available): stored balances")
    assert any("funded" in problem for problem in report.problems)
