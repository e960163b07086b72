"""Races over real parallel connections: two treasurers scheduling one invoice; an execution racing a failure."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from payor.invoices.models import InvoiceStatus
from payor.ledger.models import Transfer, TransferPhase
from payor.payments.errors import DisbursementAlreadyScheduled, DisbursementStateInvalid
from payor.payments.models import Disbursement, DisbursementStatus
from payor.payments.services import disbursement_execute, disbursement_fail, disbursement_schedule
from payor.payments.tests.conftest import TREAS, approved, balanced, contract_figures, usd
from payor.testing.concurrency import race
from payor.testing.factories import ProjectRoleFactory, UserFactory


def second_treasurer(billing):
    user = UserFactory(email="tre2@example.test")
    ProjectRoleFactory(project=billing.world.project, user=user, role=TREAS, limit=usd("1000000.00"))
    return user


@pytest.mark.django_db(transaction=True)
def test_two_treasurers_scheduling_one_invoice_make_one_disbursement(billing):
    invoice = approved(billing, billing.data())  # 1,000.00: net 882.00 with the discount, 900.00 without
    tre, tre2 = billing.people["tre"], second_treasurer(billing)
    today = timezone.localdate()
    late = invoice.discount_until + dt.timedelta(days=1)
    results = race(
        [
            lambda: disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today),
            lambda: disbursement_schedule(actor=tre2, invoice=invoice, scheduled_on=late),
        ]
    )
    winners = [r for r in results if isinstance(r, Disbursement)]
    assert len(winners) == 1, results
    assert sum(isinstance(r, DisbursementAlreadyScheduled) for r in results) == 1, results
    assert Disbursement.objects.count() == 1
    stored = Disbursement.objects.get()
    assert stored.amount == (usd("882.00") if stored.scheduled_on == today else usd("900.00"))
    assert contract_figures(billing).pending == stored.amount
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SCHEDULED
    balanced()


@pytest.mark.django_db(transaction=True)
def test_the_same_schedule_from_two_treasurers_at_once_is_one_payment(billing):
    invoice = approved(billing, billing.data())
    tre, tre2 = billing.people["tre"], second_treasurer(billing)
    today = timezone.localdate()
    results = race(
        [
            lambda: disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today),
            lambda: disbursement_schedule(actor=tre2, invoice=invoice, scheduled_on=today),
        ]
    )
    assert all(isinstance(r, Disbursement) for r in results), results
    assert results[0] == results[1]
    assert Disbursement.objects.count() == 1
    assert Transfer.objects.filter(phase=TransferPhase.PENDING).count() == 1
    assert contract_figures(billing).pending == usd("882.00")
    balanced()


@pytest.mark.django_db(transaction=True)
def test_execute_racing_fail_exactly_one_wins(billing):
    invoice = approved(billing, billing.data(fees="5.00"))
    tre, tre2 = billing.people["tre"], second_treasurer(billing)
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate())
    results = race(
        [
            lambda: disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-RACE-1"),
            lambda: disbursement_fail(actor=tre2, disbursement=disbursement, reason="R01: insufficient funds"),
        ]
    )
    assert sum(isinstance(r, Disbursement) for r in results) == 1, results
    assert sum(isinstance(r, DisbursementStateInvalid) for r in results) == 1, results
    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    f = contract_figures(billing)
    pending = Transfer.objects.filter(disbursement_id=disbursement.pk, phase=TransferPhase.PENDING).count()
    assert pending == 2  # the vendor's share on 1.1 and the fees
    if isinstance(results[0], Disbursement):
        assert disbursement.status == DisbursementStatus.EXECUTED
        assert invoice.status == InvoiceStatus.PAID
        assert Transfer.objects.filter(phase=TransferPhase.POST).count() == 2
        assert Transfer.objects.filter(phase=TransferPhase.VOID).count() == 0
        assert (f.disbursed, f.encumbered, f.pending) == (usd("887.00"), usd("0.00"), usd("0.00"))
    else:
        assert disbursement.status == DisbursementStatus.FAILED
        assert invoice.status == InvoiceStatus.APPROVED
        assert Transfer.objects.filter(phase=TransferPhase.VOID).count() == 2
        assert Transfer.objects.filter(phase=TransferPhase.POST).count() == 0
        assert (f.disbursed, f.encumbered, f.pending) == (usd("0.00"), usd("905.00"), usd("0.00"))
    balanced()
