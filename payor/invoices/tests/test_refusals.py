"""Refusals at service level: each bad input or state is refused with its stable code and writes nothing
(ledger, invoices, lines, coding, attachments, decisions, audit log, outbox — ``full_state``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from django.utils import timezone

from payor.contracts.services import contract_close, contract_create
from payor.core.errors import DomainError
from payor.core.money import Money
from payor.invoices.math import CodingIn, SovLineIn
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import (
    InvoiceInput,
    invoice_create,
    invoice_decide,
    invoice_review_start,
    invoice_submit,
    invoice_update,
    invoice_withdraw,
)
from payor.invoices.tests.conftest import (
    FIN,
    PM,
    TREAS,
    Billing,
    contract_for,
    decide,
    full_state,
    usd,
    vendor_user_for,
)
from payor.projects.services import budget_line_create
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.models import DocumentKind, Vendor
from payor.vendors.tests.conftest import compliant, on_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def item(this_period: str | None = "1000.00", *, scheduled: str = "10000.00", code: str = "1", **fields) -> SovLineIn:
    return SovLineIn(
        code,
        fields.pop("description", "Site preparation"),
        fields.pop("scheduled_value", usd(scheduled)),
        this_period=usd(this_period) if this_period is not None else None,
        **fields,
    )


def refused(billing: Billing, code: str, action: Callable[[], object], case: str = "") -> DomainError:
    before = full_state(billing)
    with pytest.raises(DomainError) as caught:
        action()
    assert caught.value.code == code, f"{case}: {caught.value.code} ({caught.value}), expected {code}"
    assert full_state(billing) == before, case
    return caught.value


def bad_inputs(billing: Billing) -> dict[str, tuple[str, InvoiceInput]]:
    """Invoice inputs that must be refused, by case, with the expected code."""
    data = billing.data
    good = data()
    today = timezone.localdate()
    other_project = ProjectFactory(currency="USD")
    other_pm = UserFactory()
    ProjectRoleFactory(project=other_project, user=other_pm, role=ProjectRole.PROJECT_MANAGER)
    foreign_line = budget_line_create(
        actor=other_pm, project=other_project, wbs_code="1", description="Elsewhere", cap=usd("1000.00")
    )

    def coded(*parts: tuple[object, Money]) -> InvoiceInput:
        return dataclasses.replace(good, coding=[CodingIn(line_id, amount) for line_id, amount in parts])

    l11, l12 = billing.line_id("1.1"), billing.line_id("1.2")
    return {
        # Negative amounts.
        "negative this_period": ("invoice_invalid", data(item("-1.00"), coding={"1.1": "1.00"})),
        "negative taxes": ("invoice_invalid", data(taxes="-0.01")),
        "negative withholds": ("invoice_invalid", data(withholds="-0.01")),
        "negative fees": ("invoice_invalid", data(fees="-0.01")),
        "negative coded amount": ("invoice_invalid", data(coding={"1.1": "1100.00", "1.2": "-100.00"})),
        "zero coded amount": ("invoice_invalid", data(coding={"1.1": "1000.00", "1.2": "0.00"})),
        "negative scheduled value": ("invoice_sov_invalid", data(item(scheduled="-10000.00"))),
        # Currency.
        "EUR scheduled value": ("invoice_currency_mismatch", data(item(scheduled_value=eur("10000.00")))),
        "EUR this_period": (
            "invoice_currency_mismatch",
            data(SovLineIn("1", "Work", usd("10000.00"), this_period=eur("1000.00")), coding={"1.1": "1000.00"}),
        ),
        "EUR taxes": ("invoice_currency_mismatch", dataclasses.replace(good, taxes=eur("1.00"))),
        "EUR withholds": ("invoice_currency_mismatch", dataclasses.replace(good, withholds=eur("1.00"))),
        "EUR fees": ("invoice_currency_mismatch", dataclasses.replace(good, fees=eur("1.00"))),
        "EUR coded amount": ("invoice_currency_mismatch", coded((l11, eur("1000.00")))),
        "EUR claimed retention": (
            "invoice_currency_mismatch",
            dataclasses.replace(good, claimed_retention=eur("100.00")),
        ),
        "EUR claimed total": ("invoice_currency_mismatch", dataclasses.replace(good, claimed_total=eur("1000.00"))),
        # Coding.
        "coding a cent short": ("invoice_coding_mismatch", data(coding={"1.1": "999.99"})),
        "coding a cent over": ("invoice_coding_mismatch", data(coding={"1.1": "600.00", "1.2": "400.01"})),
        "no coding": ("invoice_coding_mismatch", coded()),
        "a line coded twice": ("invoice_invalid", coded((l11, usd("500.00")), (l11, usd("500.00")))),
        "unknown budget line": ("invoice_coding_line_unknown", coded((uuid.uuid4(), usd("1000.00")))),
        "parent budget line": ("invoice_coding_line_unknown", data(coding={"1": "1000.00"})),
        "another project's line": ("invoice_coding_line_unknown", coded((foreign_line.pk, usd("1000.00")))),
        "coding mixes a good and an unknown line": (
            "invoice_coding_line_unknown",
            coded((l12, usd("500.00")), (uuid.uuid4(), usd("500.00"))),
        ),
        # SOV lines.
        "percent above 100": ("invoice_sov_invalid", data(item(None, percent_complete="100.01"))),
        "percent with 3 decimals": ("invoice_sov_invalid", data(item(None, percent_complete="41.675"))),
        "negative percent": ("invoice_sov_invalid", data(item(None, percent_complete="-1"))),
        "float percent": ("invoice_sov_invalid", data(item(None, percent_complete=50.0))),
        "percent not a number": ("invoice_sov_invalid", data(item(None, percent_complete="half"))),
        "percent NaN": ("invoice_sov_invalid", data(item(None, percent_complete="NaN"))),
        "both this_period and percent": ("invoice_sov_invalid", data(item("1000.00", percent_complete="10"))),
        "neither this_period nor percent": ("invoice_sov_invalid", data(item(None), coding={"1.1": "1.00"})),
        "no lines": ("invoice_sov_invalid", dataclasses.replace(good, lines=[])),
        "an item twice": ("invoice_sov_invalid", data(item("500.00"), item("500.00"))),
        "blank item code": ("invoice_sov_invalid", data(item(code="  "))),
        "item code too long": ("invoice_sov_invalid", data(item(code="X" * 33))),
        "blank description": ("invoice_sov_invalid", data(item(description=""))),
        "bills nothing": ("invoice_sov_invalid", data(item("0.00"), coding={"1.1": "1.00"})),
        "SOV over scheduled": ("invoice_sov_over_scheduled", data(item("10000.01"))),
        "SOV above the NTE": ("invoice_sov_exceeds_nte", data(item(scheduled="45000.01"))),
        # Period.
        "period ends before it starts": (
            "invoice_period_invalid",
            dataclasses.replace(good, period_start=dt.date(2026, 10, 2), period_end=dt.date(2026, 10, 1)),
        ),
        "period ends in the future": (
            "invoice_period_invalid",
            dataclasses.replace(good, period_start=today, period_end=today + dt.timedelta(days=1)),
        ),
        # The vendor's own figures, to the cent.
        "claimed retention a cent low": ("invoice_retention_mismatch", data(claimed_retention=usd("99.99"))),
        "claimed retention a cent high": ("invoice_retention_mismatch", data(claimed_retention=usd("100.01"))),
        "claimed total a cent low": ("invoice_total_mismatch", data(taxes="10.00", claimed_total=usd("1009.99"))),
        "claimed total a cent high": ("invoice_total_mismatch", data(claimed_total=usd("1000.01"))),
        # 1,000.00 + 10.00 taxes - 100.00 retention = 910.00 payable at most.
        "withholds above total less retention": ("invoice_withholds_invalid", data(taxes="10.00", withholds="910.01")),
        # Text.
        "vendor reference too long": ("invoice_invalid", data(vendor_reference="R" * 65)),
        "NUL in the description": ("invoice_invalid", data(description="Oct\x00ober")),
    }


def test_bad_input_is_refused_with_its_code_and_nothing_written(billing):
    cases = bad_inputs(billing)
    for case, (code, data) in cases.items():
        refused(
            billing,
            code,
            lambda data=data: invoice_create(actor=billing.vendor_user, contract=billing.contract, data=data),
            case,
        )
    # The good input goes through: the refusals were about the one thing each case changed.
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    assert invoice.status == InvoiceStatus.SUBMITTED


def test_bad_input_is_refused_on_a_draft_update_too(billing):
    draft = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data(), submit=False)
    cases = bad_inputs(billing)
    cases.pop("SOV above the NTE")  # checked at submission, with the contract's billing
    for case, (code, data) in cases.items():
        refused(
            billing, code, lambda data=data: invoice_update(actor=billing.vendor_user, invoice=draft, data=data), case
        )
    assert Invoice.objects.get(pk=draft.pk).subtotal == usd("1000.00")


def test_coding_a_line_the_contract_does_not_allocate(billing, world):
    contract = contract_for(world, billing.vendor, nte="5000.00", allocations=[world.alloc("1.1", "5000.00")])
    refused(
        billing,
        "invoice_coding_line_not_on_contract",
        lambda: invoice_create(
            actor=billing.vendor_user,
            contract=contract,
            data=billing.data(item(scheduled="5000.00"), coding={"1.1": "500.00", "1.2": "500.00"}),
        ),
    )


def test_a_percentage_below_what_was_billed_before(billing):
    first = billing.data(item(None, percent_complete="40"), coding={"1.1": "4000.00"})
    invoice_create(actor=billing.vendor_user, contract=billing.contract, data=first)
    for percent in ("39.99", "0"):
        refused(
            billing,
            "invoice_sov_invalid",
            lambda percent=percent: invoice_create(
                actor=billing.vendor_user,
                contract=billing.contract,
                data=billing.data(item(None, percent_complete=percent), coding={"1.1": "1.00"}),
            ),
            percent,
        )
    # Cumulative: 100 % now bills the remaining 6,000.00; a cent more is over the schedule.
    refused(
        billing,
        "invoice_sov_over_scheduled",
        lambda: invoice_create(
            actor=billing.vendor_user, contract=billing.contract, data=billing.data(item("6000.01"))
        ),
    )
    last = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(item(None, percent_complete="100"), coding={"1.1": "6000.00"}),
    )
    line = last.lines.get()
    assert (line.previous, line.this_period, line.percent_complete) == (usd("4000.00"), usd("6000.00"), 100)


def test_an_items_scheduled_value_cannot_change_between_invoices(billing):
    invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(item("10000.00", scheduled="10000.00"), coding={"1.1": "10000.00"}),
    )
    refused(
        billing,
        "invoice_sov_scheduled_value_changed",
        lambda: invoice_create(
            actor=billing.vendor_user,
            contract=billing.contract,
            data=billing.data(item("5000.00", scheduled="15000.00"), coding={"1.1": "5000.00"}),
        ),
    )


def test_withholding_that_leaves_less_than_the_discount_is_refused_not_a_500(billing):
    # 2/10 net 30: the discount is 2 % of 900.00 = 18.00; withholding all 900.00 payable leaves -18.00.
    data = billing.data(withholds="900.00")
    before = full_state(billing)
    try:
        invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=data)
    except DomainError:
        assert full_state(billing) == before
    else:
        assert not invoice.net_payable.is_negative


def test_a_vendor_reference_is_billed_once_per_contract(billing, world):
    vendor_user = billing.vendor_user
    first = invoice_create(actor=vendor_user, contract=billing.contract, data=billing.data(vendor_reference="WCR-7"))
    error = refused(
        billing,
        "invoice_reference_taken",
        lambda: invoice_create(
            actor=vendor_user, contract=billing.contract, data=billing.data(vendor_reference=" WCR-7 ")
        ),
    )
    assert error.extra["vendor_reference"] == "WCR-7"
    # A draft holds its number too, and an update cannot take one already used.
    draft = invoice_create(
        actor=vendor_user, contract=billing.contract, data=billing.data(vendor_reference="WCR-8"), submit=False
    )
    refused(
        billing,
        "invoice_reference_taken",
        lambda: invoice_update(actor=vendor_user, invoice=draft, data=billing.data(vendor_reference="WCR-7")),
    )
    # The same number on another contract is another invoice.
    other = contract_for(world, billing.vendor, nte="5000.00", allocations=[world.alloc("1.1", "5000.00")])
    invoice_create(
        actor=vendor_user, contract=other, data=billing.data(item(scheduled="5000.00"), vendor_reference="WCR-7")
    )
    # Once the first is rejected, its number may be billed again.
    invoice_decide(actor=billing.people["pm"], invoice=first, role=PM, decision="rejected", note="Duplicate lines")
    again = invoice_create(actor=vendor_user, contract=billing.contract, data=billing.data(vendor_reference="WCR-7"))
    assert again.status == InvoiceStatus.SUBMITTED
    # ...but only once.
    refused(
        billing,
        "invoice_reference_taken",
        lambda: invoice_create(
            actor=vendor_user, contract=billing.contract, data=billing.data(vendor_reference="WCR-7")
        ),
    )


def test_only_executed_contracts_are_billed(billing, world):
    draft_contract = contract_create(
        actor=billing.people["pm"],
        project=world.project,
        vendor=billing.vendor,
        title="Not signed yet",
        not_to_exceed=usd("5000.00"),
        allocations=[world.alloc("1.1", "5000.00")],
    )
    data = billing.data(item(scheduled="5000.00"))
    refused(
        billing,
        "invoice_contract_not_executed",
        lambda: invoice_create(actor=billing.vendor_user, contract=draft_contract, data=data),
    )
    closing = contract_for(world, billing.vendor, nte="5000.00", allocations=[world.alloc("1.1", "5000.00")])
    draft = invoice_create(actor=billing.vendor_user, contract=closing, data=data, submit=False)
    contract_close(actor=billing.people["pm"], contract=closing)
    refused(
        billing,
        "invoice_contract_not_executed",
        lambda: invoice_create(actor=billing.vendor_user, contract=closing, data=data),
    )
    refused(billing, "invoice_contract_not_executed", lambda: invoice_submit(actor=billing.vendor_user, invoice=draft))


def _vendor(world, name: str) -> Vendor:
    return VendorFactory(organization=world.project.organization, name=name)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (
            lambda v: Vendor.objects.filter(pk=compliant(v, coi_until=dt.date(2099, 12, 31)).pk).update(
                kyc_status="pending"
            ),
            "vendor_kyc_not_passed",
        ),
        (
            lambda v: Vendor.objects.filter(pk=compliant(v, coi_until=dt.date(2099, 12, 31)).pk).update(
                kyc_status="failed"
            ),
            "vendor_kyc_not_passed",
        ),
        (
            lambda v: (
                Vendor.objects.filter(pk=v.pk).update(kyc_status="passed", kyc_reviewed_at=timezone.now()),
                on_file(v, DocumentKind.COI, valid_until=dt.date(2099, 12, 31)),
            ),
            "vendor_tax_form_missing",
        ),
        (lambda v: compliant(v, coi_until=timezone.localdate() - dt.timedelta(days=1)), "vendor_coi_expired"),
        (
            lambda v: (
                Vendor.objects.filter(pk=v.pk).update(kyc_status="passed", kyc_reviewed_at=timezone.now()),
                on_file(v, DocumentKind.W9),
            ),
            "vendor_coi_missing",
        ),
    ],
    ids=["kyc pending", "kyc failed", "no W-9", "COI expired", "no COI"],
)
def test_a_non_compliant_vendor_cannot_submit(billing, world, setup, code):
    vendor = _vendor(world, "Alder Ecological")
    user = vendor_user_for(world, vendor, email="ap@alder.test")
    setup(vendor)
    contract = contract_for(world, vendor, nte="5000.00", allocations=[world.alloc("1.1", "5000.00")])
    data = billing.data(item(scheduled="5000.00"))
    error = refused(billing, code, lambda: invoice_create(actor=user, contract=contract, data=data))
    assert error.status == 409
    assert code in error.extra["failed"]
    # A draft may be prepared meanwhile; submitting it is refused the same way.
    draft = invoice_create(actor=user, contract=contract, data=data, submit=False)
    refused(billing, code, lambda: invoice_submit(actor=user, invoice=draft))


def test_decisions_need_an_invoice_under_review(billing):
    people = billing.people
    draft = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data(), submit=False)
    approved = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data(item(code="2")))
    approved = decide(billing, decide(billing, approved, "pm", PM), "fin", FIN)
    assert approved.status == InvoiceStatus.APPROVED
    for invoice in (draft, approved):
        for decision, note in (("approved", ""), ("rejected", "late"), ("returned", "late")):
            for name, role in (("pm2", PM), ("fin", FIN), ("tre", TREAS)):
                refused(
                    billing,
                    "invoice_state_invalid",
                    lambda invoice=invoice, decision=decision, note=note, name=name, role=role: invoice_decide(
                        actor=people[name], invoice=invoice, role=role, decision=decision, note=note
                    ),
                    f"{invoice.status} {decision} {role}",
                )
        refused(
            billing,
            "invoice_state_invalid",
            lambda invoice=invoice: invoice_review_start(actor=people["pm2"], invoice=invoice, role=PM),
        )
    # Neither can an approved invoice be changed, resubmitted or withdrawn.
    refused(
        billing,
        "invoice_state_invalid",
        lambda: invoice_update(actor=billing.vendor_user, invoice=approved, data=billing.data(item(code="2"))),
    )
    refused(billing, "invoice_state_invalid", lambda: invoice_submit(actor=billing.vendor_user, invoice=approved))
    refused(billing, "invoice_state_invalid", lambda: invoice_withdraw(actor=billing.vendor_user, invoice=approved))
    # A submitted invoice is not edited in place: it is withdrawn first.
    submitted = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data(item(code="3")))
    refused(
        billing,
        "invoice_state_invalid",
        lambda: invoice_update(actor=billing.vendor_user, invoice=submitted, data=billing.data(item(code="3"))),
    )
