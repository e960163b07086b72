"""Races over real parallel connections: two payments of one organization executed at once take consecutive
numbers (the counter row, created on first use, is locked FOR UPDATE); one payment executed twice at once gets one
receipt."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from payor.payments.models import Disbursement
from payor.payments.services import disbursement_execute, disbursement_schedule
from payor.receipts.models import Receipt, ReceiptSequence
from payor.receipts.tests.conftest import approved, one_line, set_buyer
from payor.testing.concurrency import race


@pytest.fixture(autouse=True)
def _forget_render_jobs():
    """Committed tests leave their deferred render jobs in procrastinate's (unmanaged) table: remove them."""
    yield
    ids = [str(pk) for pk in Receipt.objects.values_list("pk", flat=True)]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE args->>'receipt_id' = ANY(%s)", [ids])


def scheduled(billing, amount: str) -> Disbursement:
    invoice = approved(billing, one_line(billing, amount))
    return disbursement_schedule(actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate())


@pytest.mark.django_db(transaction=True)
def test_two_payments_executed_at_once_take_consecutive_numbers(billing):
    set_buyer(billing)
    first, second = scheduled(billing, "1000.00"), scheduled(billing, "2000.00")
    tre = billing.people["tre"]
    assert not ReceiptSequence.objects.exists()

    results = race(
        [
            lambda: disbursement_execute(actor=tre, disbursement=first, rail_reference="ACH-A"),
            lambda: disbursement_execute(actor=tre, disbursement=second, rail_reference="ACH-B"),
        ]
    )

    assert all(isinstance(r, Disbursement) for r in results), results
    assert sorted(Receipt.objects.values_list("sequence", "number")) == [(1, "SB-000001"), (2, "SB-000002")]
    assert ReceiptSequence.objects.get().last_number == 2
    assert set(Receipt.objects.values_list("transaction_id", flat=True)) == {"ACH-A", "ACH-B"}


@pytest.mark.django_db(transaction=True)
def test_one_payment_executed_twice_at_once_gets_one_receipt(billing):
    set_buyer(billing)
    disbursement = scheduled(billing, "1000.00")
    tre = billing.people["tre"]

    results = race(
        [
            lambda: disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-SAME"),
            lambda: disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-SAME"),
        ]
    )

    assert all(isinstance(r, Disbursement) for r in results), results
    assert list(Receipt.objects.values_list("number", "transaction_id")) == [("SB-000001", "ACH-SAME")]
    assert ReceiptSequence.objects.get().last_number == 1
