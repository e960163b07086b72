"""Worked examples with exact cents, from approval to paid and closed: the early-pay discount taken (split over
the coded lines with the remainder kept) and not taken (with taxes, withholding and fees), a failure that puts the
invoice back exactly as approved, a cancellation, closing with and without retention held. The ledger is checked
after every step: figures, and ``ledger verify`` (balances recompute, funded = the sum of the parts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from payor.audit.models import AuditEvent
from payor.contracts.services import Terms
from payor.events.models import OutboxEvent
from payor.invoices.errors import InvoiceStateInvalid
from payor.invoices.math import SovLineIn
from payor.invoices.models import InvoiceStatus
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer, TransferPhase
from payor.payments.errors import InvoiceRetentionHeld
from payor.payments.models import DisbursementStatus
from payor.payments.services import (
    disbursement_cancel,
    disbursement_execute,
    disbursement_fail,
    disbursement_schedule,
    invoice_close,
    invoice_retention_held,
)
from payor.payments.tests.conftest import approved, balanced, contract_figures, contract_for, figures, state, usd

pytestmark = pytest.mark.django_db


def by_line(billing, invoice) -> dict[str, tuple[str, str, str]]:
    """(committed, encumbered, disbursed) per WBS code of the contract, from the ledger accounts."""
    rows = ledger_selectors.budget_line_figures(project_id=billing.world.project.pk)
    codes = {billing.line_id(code): code for code in ("1.1", "1.2")}
    return {
        codes[line_id]: (f.committed.amount_str(), f.encumbered.amount_str(), f.disbursed.amount_str())
        for (line_id, _), f in rows.items()
        if line_id in codes
    }


def topics(n: int) -> list[str]:
    return list(OutboxEvent.objects.order_by("-id").values_list("topic", flat=True)[:n])[::-1]


def three_line_invoice(billing):
    return approved(
        billing,
        billing.data(
            SovLineIn("1", "Site preparation and invasive removal", usd("12000.00"), this_period=usd("3333.35")),
            SovLineIn("2", "Live-stake planting", usd("20001.00"), percent_complete="41.67"),
            SovLineIn("3", "Erosion-control matting", usd("8000.00"), this_period=usd("1111.15")),
            coding={"1.1": "11667.77", "1.2": "1111.15"},
        ),
    )


def test_discount_taken_split_over_the_lines_then_released_when_executed(billing):
    invoice = three_line_invoice(billing)
    today = timezone.localdate()
    # The invoice (see the invoices worked example): total 12,778.92, retention 1,277.89 (1.1: 1,166.78,
    # 1.2: 111.11), early-pay discount 230.02, net payable 11,271.01; band 2, so the treasurer approved it too.
    assert (invoice.net_payable, invoice.early_pay_discount) == (usd("11271.01"), usd("230.02"))
    assert invoice.discount_until == today + dt.timedelta(days=10)
    # Approved: still encumbered per line = gross - retention: 1.1 10,500.99, 1.2 1,000.04 (= 11,501.03).
    assert by_line(billing, invoice) == {
        "1.1": ("18332.23", "10500.99", "0.00"),
        "1.2": ("13888.85", "1000.04", "0.00"),
    }

    # Scheduled on the last day of the discount window: the discount is taken.
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=today + dt.timedelta(days=10)
    )
    assert disbursement.status == DisbursementStatus.SCHEDULED
    assert disbursement.method == "ach"  # the vendor's bank method
    assert (disbursement.amount, disbursement.discount_taken, disbursement.fees) == (
        usd("11271.01"),
        usd("230.02"),
        usd("0.00"),
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SCHEDULED
    # 230.02 split 10,500.99 : 1,000.04 -> exact 210.019… and 20.0007…: 210.01 + 20.00 leaves one cent, which goes
    # to the larger remainder (1.1): 210.02 and 20.00. Each line pays the rest: 10,290.97 and 980.04 (= 11,271.01).
    pending = {
        t.budget_line_id: t.amount
        for t in Transfer.objects.filter(disbursement_id=disbursement.pk, phase=TransferPhase.PENDING)
    }
    assert pending == {billing.line_id("1.1"): 1029097, billing.line_id("1.2"): 98004}
    f = contract_figures(billing)
    assert (f.pending, f.encumbered, f.disbursed) == (usd("11271.01"), usd("230.02"), usd("0.00"))
    assert (f.committed, f.retention) == (usd("32221.08"), usd("1277.89"))
    balanced()

    # Executed: the pending transfers are posted and the discount goes back to the commitment, line by line.
    disbursement = disbursement_execute(
        actor=billing.people["tre"], disbursement=disbursement, rail_reference="ACH-TRACE-091000019-0000001"
    )
    assert disbursement.status == DisbursementStatus.EXECUTED
    assert (disbursement.executed_on, disbursement.executed_by) == (today, billing.people["tre"])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert by_line(billing, invoice) == {
        "1.1": ("18542.25", "0.00", "10290.97"),  # 18,332.23 + 210.02 released
        "1.2": ("13908.85", "0.00", "980.04"),  # 13,888.85 + 20.00 released
    }
    f = contract_figures(billing)
    assert (f.pending, f.encumbered, f.disbursed) == (usd("0.00"), usd("0.00"), usd("11271.01"))
    assert (f.committed, f.retention) == (usd("32451.10"), usd("1277.89"))
    p = figures(billing)
    assert (p.funded, p.available) == (usd("150000.00"), usd("105000.00"))
    assert p.balanced
    assert ledger_selectors.vendor_paid(vendor_id=billing.vendor.pk, year=disbursement.scheduled_on.year) == {
        "USD": usd("11271.01")
    }
    balanced()
    assert topics(3) == ["invoice.scheduled", "payment.executed", "invoice.paid"]
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:5])[::-1]
    assert actions == [
        "disbursement.scheduled",
        "invoice.scheduled",
        "disbursement.executed",
        "invoice.paid",
        "receipt.numbered",  # the self-billed receipt, numbered in the same transaction (payor.receipts)
    ]
    payment = OutboxEvent.objects.get(topic="payment.executed")
    assert payment.payload["amount"] == {"amount": "11271.01", "currency": "USD"}
    assert payment.payload["rail_reference"] == "ACH-TRACE-091000019-0000001"

    # Retention (1,277.89) is still held: the invoice cannot close yet.
    before = state(billing)
    with pytest.raises(InvoiceRetentionHeld) as refused:
        invoice_close(actor=billing.people["tre"], invoice=invoice)
    assert refused.value.extra["retention_held"] == "1277.89"
    assert state(billing) == before


def test_discount_missed_with_taxes_withholding_and_fees(billing):
    invoice = approved(
        billing,
        billing.data(
            SovLineIn("1", "Monitoring visit", usd("5000.00"), this_period=usd("1000.00")),
            SovLineIn("2", "Survey", usd("5000.00"), this_period=usd("2000.00")),
            coding={"1.1": "1000.00", "1.2": "2000.00"},
            taxes="247.50",
            withholds="720.00",
            fees="25.00",
        ),
    )
    # total 3,247.50; retention 300.00 (100.00 / 200.00); withholding 720.00 (240.00 / 480.00); discount 54.00;
    # net payable 2,173.50; fees 25.00 from available. Encumbered per line: 1,082.50 - 100.00 - 240.00 = 742.50 and
    # 2,165.00 - 200.00 - 480.00 = 1,485.00, plus the 25.00 of fees (no budget line).
    assert by_line(billing, invoice) == {"1.1": ("28917.50", "742.50", "0.00"), "1.2": ("12835.00", "1485.00", "0.00")}
    assert figures(billing).encumbered == usd("2252.50")
    assert figures(billing).available == usd("104975.00")

    # One day after the discount window: the vendor gets the discount back, 2,173.50 + 54.00 = 2,227.50.
    scheduled_on = invoice.discount_until + dt.timedelta(days=1)
    disbursement = disbursement_schedule(actor=billing.people["tre"], invoice=invoice, scheduled_on=scheduled_on)
    assert (disbursement.amount, disbursement.discount_taken, disbursement.fees) == (
        usd("2227.50"),
        usd("0.00"),
        usd("25.00"),
    )
    p = figures(billing)
    assert (p.encumbered, p.pending, p.disbursed) == (usd("0.00"), usd("2252.50"), usd("0.00"))
    assert (p.retention, p.withheld, p.available) == (usd("300.00"), usd("720.00"), usd("104975.00"))
    balanced()

    disbursement_execute(
        actor=billing.people["tre"],
        disbursement=disbursement,
        rail_reference="ACH-TRACE-0000002",
        executed_on=timezone.localdate(),
    )
    p = figures(billing)
    assert (p.encumbered, p.pending, p.disbursed) == (usd("0.00"), usd("0.00"), usd("2252.50"))
    assert by_line(billing, invoice) == {"1.1": ("28917.50", "0.00", "742.50"), "1.2": ("12835.00", "0.00", "1485.00")}
    # The fees left with the payment but are not the vendor's: its 1099 figure is what it received.
    assert ledger_selectors.vendor_paid(vendor_id=billing.vendor.pk, year=scheduled_on.year) == {"USD": usd("2227.50")}
    assert p.balanced
    balanced()


def test_a_failure_puts_the_invoice_back_exactly_as_approved(billing):
    invoice = three_line_invoice(billing)
    approved_lines = by_line(billing, invoice)
    approved_figures = figures(billing)
    tre = billing.people["tre"]
    first = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate())
    assert first.discount_taken == usd("230.02")

    failed = disbursement_fail(actor=tre, disbursement=first, reason="R03: no account / unable to locate account")
    assert failed.status == DisbursementStatus.FAILED
    assert failed.failure_reason == "R03: no account / unable to locate account"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.APPROVED
    assert by_line(billing, invoice) == approved_lines
    assert figures(billing) == approved_figures
    assert Transfer.objects.filter(disbursement_id=first.pk, phase=TransferPhase.VOID).count() == 2
    assert topics(1) == ["payment.failed"]
    assert OutboxEvent.objects.get(topic="payment.failed").payload["status"] == "failed"
    balanced()
    # Failing it again is a no-op.
    before = state(billing)
    assert disbursement_fail(actor=tre, disbursement=first, reason="again").failure_reason == failed.failure_reason
    assert state(billing) == before

    # Payable again: a new disbursement, executed; the failed one keeps its record.
    second = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate(), method="manual")
    assert second.pk != first.pk
    disbursement_execute(actor=tre, disbursement=second, rail_reference="WIRE-2026-11-0042")
    f = contract_figures(billing)
    assert (f.encumbered, f.pending, f.disbursed) == (usd("0.00"), usd("0.00"), usd("11271.01"))
    assert ledger_selectors.vendor_paid(vendor_id=billing.vendor.pk, year=timezone.localdate().year) == {
        "USD": usd("11271.01")
    }
    balanced()


def test_cancel_a_scheduled_payment(billing):
    invoice = approved(billing, billing.data(fees="12.50"))  # 1,000.00 on 1.1: retention 100.00, discount 18.00
    approved_figures = figures(billing)
    tre = billing.people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate())
    assert (disbursement.amount, disbursement.fees) == (usd("882.00"), usd("12.50"))
    assert figures(billing).pending == usd("894.50")

    canceled = disbursement_cancel(actor=tre, disbursement=disbursement, reason="Paying by wire instead")
    assert canceled.status == DisbursementStatus.CANCELED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.APPROVED
    assert figures(billing) == approved_figures
    assert OutboxEvent.objects.get(topic="payment.failed").payload["status"] == "canceled"
    assert AuditEvent.objects.filter(action__in=["disbursement.canceled", "invoice.unscheduled"]).count() == 2
    balanced()
    before = state(billing)
    disbursement_cancel(actor=tre, disbursement=disbursement)  # again: a no-op
    assert state(billing) == before


def test_close_a_paid_invoice_without_retention(billing, world):
    contract = contract_for(
        world,
        billing.vendor,
        nte="20000.00",
        allocations=[world.alloc("1.2", "20000.00")],
        retention_percent=Decimal("0"),
        terms=Terms(kind="net_days", net_days=30),
    )
    invoice = approved(
        billing,
        billing.data(
            SovLineIn("1", "Monitoring", usd("20000.00"), this_period=usd("2500.00")), coding={"1.2": "2500.00"}
        ),
        contract=contract,
    )
    assert (invoice.retention, invoice.early_pay_discount, invoice.discount_until) == (usd("0.00"), usd("0.00"), None)
    tre = billing.people["tre"]
    before = state(billing)
    with pytest.raises(InvoiceStateInvalid):  # approved, not paid yet
        invoice_close(actor=tre, invoice=invoice)
    assert state(billing) == before

    disbursement = disbursement_schedule(
        actor=tre, invoice=invoice, scheduled_on=timezone.localdate() + dt.timedelta(days=30)
    )
    assert disbursement.amount == usd("2500.00")
    disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-3")
    assert invoice_retention_held(invoice=invoice) == usd("0.00")
    closed = invoice_close(actor=tre, invoice=invoice)
    assert closed.status == InvoiceStatus.CLOSED
    assert topics(1) == ["invoice.closed"]
    assert AuditEvent.objects.order_by("-seq").first().action == "invoice.closed"
    before = state(billing)
    assert invoice_close(actor=tre, invoice=invoice).status == InvoiceStatus.CLOSED  # again: a no-op
    assert state(billing) == before
    f = ledger_selectors.contract_figures(contract_id=contract.pk)["USD"]
    assert (f.committed, f.encumbered, f.disbursed) == (usd("17500.00"), usd("0.00"), usd("2500.00"))
    balanced()
