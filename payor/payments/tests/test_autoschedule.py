"""A self-billed invoice is paid on its terms by the system: its approval defers ``payments.invoice.autoschedule``
(in the approval's transaction), which schedules it on its due date with the vendor's bank method; due today, the
payment goes out at once through the local Stripe server."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from payor.audit.models import AuditEvent
from payor.contracts.services import Terms
from payor.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from payor.invoices.services import invoice_create, invoice_decide
from payor.payments.models import Disbursement, DisbursementStatus
from payor.payments.rail_services import disbursements_pay_due
from payor.payments.tests.conftest import FIN, PM, TREAS, balanced, contract_for, onboarded, queued, run_jobs

pytestmark = pytest.mark.django_db

JOBS = ("payments.invoice.autoschedule", "payments.disbursement.submit")


def self_billed(billing, contract, *, approve: bool = True) -> Invoice:
    """A 1,000.00 invoice turned self-billed before its approval (the milestone flow creates such invoices)."""
    invoice = invoice_create(actor=billing.vendor_user, contract=contract, data=billing.data())
    Invoice.objects.filter(pk=invoice.pk).update(kind=InvoiceKind.SELF_BILLED)
    invoice.refresh_from_db()
    if approve:
        for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
            invoice = invoice_decide(actor=billing.people[name], invoice=invoice, role=role, decision="approved")
            if invoice.status == InvoiceStatus.APPROVED:
                break
    return invoice


def test_due_on_approval_is_scheduled_and_paid_by_the_system(billing, stripe_server):
    onboarded(billing, stripe_server)
    contract = contract_for(
        billing.world,
        billing.vendor,
        nte="20000.00",
        allocations=[billing.world.alloc("1.1", "20000.00")],
        terms=Terms(kind="on_approval", net_days=None),
    )
    invoice = self_billed(billing, contract)
    assert invoice.status == InvoiceStatus.APPROVED
    assert queued(*JOBS) == [("payments.invoice.autoschedule", {"invoice_id": str(invoice.pk)})]

    [(_, disbursement_id)] = run_jobs("payments.invoice.autoschedule")
    disbursement = Disbursement.objects.get(pk=disbursement_id)
    assert (disbursement.scheduled_on, disbursement.method, disbursement.amount.amount_str()) == (
        timezone.localdate(),
        "stripe_connect",
        "900.00",  # no early-pay discount on these terms: 1,000.00 less 10 % retention
    )
    assert (disbursement.created_by, disbursement.scheduled_by_system) == (None, True)
    invoice.refresh_from_db()
    assert disbursement.approved_at == invoice.approved_at
    scheduled = AuditEvent.objects.get(action="disbursement.scheduled")
    assert (scheduled.actor_id, scheduled.actor_label) == (None, "system")
    assert queued(*JOBS) == [("payments.disbursement.submit", {"disbursement_id": str(disbursement.pk)})]

    assert run_jobs(*JOBS) == [("payments.disbursement.submit", "executed")]

    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    [transfer] = stripe_server.transfers()
    assert (disbursement.status, disbursement.rail_reference, transfer["amount"]) == (
        DisbursementStatus.EXECUTED,
        transfer["id"],
        90000,
    )
    assert invoice.status == InvoiceStatus.PAID
    balanced()
    # The job again: nothing new.
    from payor.payments.rail_services import invoice_autoschedule

    assert invoice_autoschedule(invoice_id=invoice.pk) is None
    assert Disbursement.objects.count() == 1


def test_net_terms_wait_for_the_due_date(billing, stripe_server):
    onboarded(billing, stripe_server)
    invoice = self_billed(billing, billing.contract)  # 2/10 net 30
    run_jobs("payments.invoice.autoschedule")
    disbursement = Disbursement.objects.get(invoice=invoice)
    assert disbursement.scheduled_on == invoice.due_on == timezone.localdate() + dt.timedelta(days=30)
    assert disbursement.discount_taken.amount_str() == "0.00"  # the 10-day window is long gone by then
    assert queued(*JOBS) == []
    assert disbursements_pay_due() == {}
    assert stripe_server.transfers() == []


def test_a_vendor_invoice_is_not_scheduled_by_the_system(billing, stripe_server):
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    for name, role in (("pm", PM), ("fin", FIN)):
        invoice = invoice_decide(actor=billing.people[name], invoice=invoice, role=role, decision="approved")
    assert invoice.status == InvoiceStatus.APPROVED
    assert queued(*JOBS) == []


def test_a_refused_schedule_is_audited_and_leaves_the_invoice_approved(billing, stripe_server):
    invoice = self_billed(billing, billing.contract)
    billing.vendor.__class__.objects.filter(pk=billing.vendor.pk).update(kyc_status="pending")
    assert run_jobs("payments.invoice.autoschedule") == [("payments.invoice.autoschedule", "")]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.APPROVED
    assert Disbursement.objects.count() == 0
    refused = AuditEvent.objects.get(action="disbursement.autoschedule_refused")
    assert refused.actor_label == "system"
    assert refused.after["code"].startswith("vendor_")
