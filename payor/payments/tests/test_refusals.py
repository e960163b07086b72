"""Who may pay, and every refusal: each one a stable code with nothing written (``state()`` unchanged)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from payor.core.errors import PermissionDenied
from payor.invoices.models import InvoiceStatus
from payor.invoices.services import invoice_create
from payor.payments.errors import (
    DisbursementAlreadyScheduled,
    DisbursementDateInvalid,
    DisbursementInvalid,
    DisbursementInvoiceNotApproved,
    DisbursementMethodInvalid,
    DisbursementReferenceConflict,
    DisbursementStateInvalid,
    DisbursementVendorConflict,
)
from payor.payments.models import Disbursement, DisbursementMethod, DisbursementStatus
from payor.payments.services import (
    disbursement_cancel,
    disbursement_execute,
    disbursement_fail,
    disbursement_schedule,
    invoice_close,
)
from payor.payments.tests.conftest import approved, balanced, state
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory
from payor.vendors.errors import VendorCoiExpired, VendorKycNotPassed
from payor.vendors.models import BankMethod, DocumentKind, Vendor, VendorDocument

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    return timezone.localdate()


def refused(billing, error, call, **kwargs):
    before = state(billing)
    with pytest.raises(error) as caught:
        call(**kwargs)
    assert state(billing) == before
    return caught.value


def test_methods_are_the_vendor_bank_methods_plus_manual():
    assert set(DisbursementMethod.values) == {*BankMethod.values, "manual"}


def test_only_the_treasurer_schedules_and_executes(billing):
    invoice = approved(billing, billing.data())
    people = billing.people
    for actor in (billing.vendor_user, people["pm"], people["fin"], people["dao1"]):
        error = refused(
            billing, PermissionDenied, disbursement_schedule, actor=actor, invoice=invoice, scheduled_on=today()
        )
        assert error.extra["permission"] == "payment_run.create"
    disbursement = disbursement_schedule(actor=people["tre"], invoice=invoice, scheduled_on=today())
    for actor in (billing.vendor_user, people["pm"], people["fin"], people["dao1"]):
        refused(
            billing, PermissionDenied, disbursement_execute, actor=actor, disbursement=disbursement, rail_reference="X"
        )
        refused(billing, PermissionDenied, disbursement_fail, actor=actor, disbursement=disbursement, reason="R01")
        refused(billing, PermissionDenied, disbursement_cancel, actor=actor, disbursement=disbursement)
    disbursement_execute(actor=people["tre"], disbursement=disbursement, rail_reference="ACH-1")
    for actor in (billing.vendor_user, people["pm"], people["fin"]):
        refused(billing, PermissionDenied, invoice_close, actor=actor, invoice=invoice)


def test_a_treasurer_acting_for_the_vendor_cannot_pay_it(billing):
    invoice = approved(billing, billing.data())
    tre = billing.people["tre"]
    ProjectRoleFactory(project=billing.world.project, user=tre, role=ProjectRole.VENDOR, vendor=billing.vendor)
    error = refused(
        billing, DisbursementVendorConflict, disbursement_schedule, actor=tre, invoice=invoice, scheduled_on=today()
    )
    assert error.status == 403


def test_only_an_approved_invoice_is_scheduled(billing):
    submitted = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    error = refused(
        billing,
        DisbursementInvoiceNotApproved,
        disbursement_schedule,
        actor=billing.people["tre"],
        invoice=submitted,
        scheduled_on=today(),
    )
    assert (error.status, error.extra["status"]) == (409, "submitted")


def test_schedule_checks_date_method_and_vendor_compliance(billing):
    invoice = approved(billing, billing.data())
    tre = billing.people["tre"]
    yesterday = today() - dt.timedelta(days=1)
    refused(billing, DisbursementDateInvalid, disbursement_schedule, actor=tre, invoice=invoice, scheduled_on=yesterday)
    refused(
        billing,
        DisbursementDateInvalid,
        disbursement_schedule,
        actor=tre,
        invoice=invoice,
        scheduled_on=timezone.now(),  # a datetime is not a date
    )
    # The vendor is paid by ACH: SEPA (no details for it) is refused, as is an unknown method.
    for method in ("sepa", "cheque"):
        error = refused(
            billing,
            DisbursementMethodInvalid,
            disbursement_schedule,
            actor=tre,
            invoice=invoice,
            scheduled_on=today(),
            method=method,
        )
        assert error.extra["allowed"] == ["ach", "manual"]
    # Compliance is checked on the payment date: the COI lapses in five days.
    coi = VendorDocument.objects.get(vendor=billing.vendor, kind=DocumentKind.COI)
    VendorDocument.objects.filter(pk=coi.pk).update(valid_until=today() + dt.timedelta(days=5))
    refused(
        billing,
        VendorCoiExpired,
        disbursement_schedule,
        actor=tre,
        invoice=invoice,
        scheduled_on=today() + dt.timedelta(days=6),
    )
    assert disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today() + dt.timedelta(days=5))


def test_kyc_revoked_after_approval_blocks_payment(billing):
    invoice = approved(billing, billing.data())
    Vendor.objects.filter(pk=billing.vendor.pk).update(kyc_status="failed")
    refused(
        billing,
        VendorKycNotPassed,
        disbursement_schedule,
        actor=billing.people["tre"],
        invoice=invoice,
        scheduled_on=today(),
    )


def test_scheduling_twice(billing):
    invoice = approved(billing, billing.data())
    tre = billing.people["tre"]
    first = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today())
    before = state(billing)
    # The same payment again (a double click): the same disbursement, nothing new.
    assert disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today(), method="ach") == first
    assert state(billing) == before
    # Another date or method while it is scheduled: refused, naming the payment that holds the invoice.
    error = refused(
        billing,
        DisbursementAlreadyScheduled,
        disbursement_schedule,
        actor=tre,
        invoice=invoice,
        scheduled_on=today() + dt.timedelta(days=1),
    )
    assert error.extra["disbursement_id"] == str(first.pk)
    refused(
        billing,
        DisbursementAlreadyScheduled,
        disbursement_schedule,
        actor=tre,
        invoice=invoice,
        scheduled_on=today(),
        method="manual",
    )
    disbursement_execute(actor=tre, disbursement=first, rail_reference="ACH-1")
    # Paid: never again.
    refused(
        billing, DisbursementAlreadyScheduled, disbursement_schedule, actor=tre, invoice=invoice, scheduled_on=today()
    )


def test_executing_twice_and_outcome_conflicts(billing):
    invoice = approved(billing, billing.data())
    tre = billing.people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today())
    refused(
        billing, DisbursementInvalid, disbursement_execute, actor=tre, disbursement=disbursement, rail_reference=" "
    )
    refused(
        billing,
        DisbursementDateInvalid,
        disbursement_execute,
        actor=tre,
        disbursement=disbursement,
        rail_reference="ACH-1",
        executed_on=today() + dt.timedelta(days=1),
    )
    refused(
        billing,
        DisbursementDateInvalid,
        disbursement_execute,
        actor=tre,
        disbursement=disbursement,
        rail_reference="ACH-1",
        executed_on=today() - dt.timedelta(days=1),
    )
    refused(billing, DisbursementInvalid, disbursement_fail, actor=tre, disbursement=disbursement, reason="")
    executed = disbursement_execute(actor=tre, disbursement=disbursement, rail_reference=" ACH-1 ")
    assert executed.rail_reference == "ACH-1"
    before = state(billing)
    assert disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-1").status == "executed"
    assert state(billing) == before
    error = refused(
        billing,
        DisbursementReferenceConflict,
        disbursement_execute,
        actor=tre,
        disbursement=disbursement,
        rail_reference="ACH-2",
    )
    assert error.extra["rail_reference"] == "ACH-1"
    refused(billing, DisbursementStateInvalid, disbursement_fail, actor=tre, disbursement=disbursement, reason="R01")
    refused(billing, DisbursementStateInvalid, disbursement_cancel, actor=tre, disbursement=disbursement)
    balanced()


def test_an_ended_disbursement_stays_ended(billing):
    invoice = approved(billing, billing.data())
    tre = billing.people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today())
    disbursement_cancel(actor=tre, disbursement=disbursement)
    refused(
        billing,
        DisbursementStateInvalid,
        disbursement_execute,
        actor=tre,
        disbursement=disbursement,
        rail_reference="A",
    )
    refused(billing, DisbursementStateInvalid, disbursement_fail, actor=tre, disbursement=disbursement, reason="R01")
    # The invoice is payable again by a new disbursement.
    again = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today())
    disbursement_fail(actor=tre, disbursement=again, reason="R02: account closed")
    refused(billing, DisbursementStateInvalid, disbursement_cancel, actor=tre, disbursement=again)
    assert list(Disbursement.objects.order_by("id").values_list("status", flat=True)) == [
        DisbursementStatus.CANCELED,
        DisbursementStatus.FAILED,
    ]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.APPROVED
    balanced()


def test_a_user_without_any_role_is_refused(billing):
    invoice = approved(billing, billing.data())
    outsider = UserFactory(email="outsider@example.test")
    refused(billing, PermissionDenied, disbursement_schedule, actor=outsider, invoice=invoice, scheduled_on=today())
