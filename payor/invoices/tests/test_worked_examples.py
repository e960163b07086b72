"""Worked examples with exact cents: a 3-line SOV with remainder-preserving retention and an early-pay discount,
through the band-2 approvals; taxes, withholding and fees; an overrun refused until a change order lands."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from payor.contracts.services import Allocation, change_order_create, change_order_decide
from payor.events.models import OutboxEvent
from payor.invoices.errors import InvoiceChangeOrderPending, InvoiceCommitmentExceeded, InvoiceNteExceeded
from payor.invoices.math import SovLineIn
from payor.invoices.models import InvoiceStatus
from payor.invoices.services import invoice_create, invoice_decide
from payor.invoices.tests.conftest import FIN, PM, TREAS, contract_figures, figures, state, usd
from payor.ledger.models import Transfer

pytestmark = pytest.mark.django_db


def three_line_sov() -> list[SovLineIn]:
    return [
        SovLineIn("1", "Site preparation and invasive removal", usd("12000.00"), this_period=usd("3333.35")),
        SovLineIn("2", "Live-stake planting", usd("20001.00"), percent_complete="41.67"),
        SovLineIn("3", "Erosion-control matting", usd("8000.00"), this_period=usd("1111.15")),
    ]


def test_three_line_sov_retention_discount_and_band_two_approvals(billing):
    vendor_user, people = billing.vendor_user, billing.people
    invoice = invoice_create(
        actor=vendor_user,
        contract=billing.contract,
        data=billing.data(
            *three_line_sov(),
            coding={"1.1": "11667.77", "1.2": "1111.15"},
            vendor_reference="WCR-2026-014",
            claimed_retention=usd("1277.89"),
            claimed_total=usd("12778.92"),
        ),
    )
    assert invoice.status == InvoiceStatus.SUBMITTED
    # 41.67 % of 20,001.00 = 8,334.4167 -> 8,334.42 billed on line 2.
    lines = list(invoice.lines.order_by("position"))
    assert [line.this_period for line in lines] == [usd("3333.35"), usd("8334.42"), usd("1111.15")]
    assert [line.percent_complete for line in lines] == [Decimal("27.77"), Decimal("41.67"), Decimal("13.88")]
    assert invoice.subtotal == usd("12778.92")
    # 10 % of 12,778.92 = 1,277.892 -> 1,277.89. Rounding each line would give 333.34 + 833.44 + 111.12 = 1,277.90,
    # a cent too much; the split keeps the invoice's figure.
    assert invoice.retention == usd("1277.89")
    assert [line.retention for line in lines] == [usd("333.33"), usd("833.44"), usd("111.12")]
    coding = {part.budget_line.wbs_code: part for part in invoice.coding.select_related("budget_line")}
    assert coding["1.1"].retention == usd("1166.78")
    assert coding["1.2"].retention == usd("111.11")
    # 2/10 net 30: 2 % of the 11,501.03 payable now = 230.0206 -> 230.02.
    assert invoice.early_pay_discount == usd("230.02")
    assert invoice.total == usd("12778.92")
    assert invoice.net_payable == usd("11271.01")
    assert invoice.funds_required == usd("12548.90")

    # ENCUMBER on submission, per coded line.
    f = contract_figures(billing)
    assert f.encumbered == usd("12778.92")
    assert f.committed == usd("32221.08")
    assert figures(billing).available == usd("105000.00")

    # Band 2 (10,000.01-50,000.00): PM, then Finance, then Treasurer.
    invoice = invoice_decide(actor=people["pm"], invoice=invoice, role=PM, decision="approved", note="Work verified")
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    invoice = invoice_decide(actor=people["fin"], invoice=invoice, role=FIN, decision="approved")
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    invoice = invoice_decide(actor=people["tre"], invoice=invoice, role=TREAS, decision="approved")
    assert invoice.status == InvoiceStatus.APPROVED
    today = timezone.localdate()
    assert invoice.due_on == today + dt.timedelta(days=30)
    assert invoice.discount_until == today + dt.timedelta(days=10)

    # RETAIN on approval; the rest stays encumbered until paid.
    f = contract_figures(billing)
    assert f.retention == usd("1277.89")
    assert f.encumbered == usd("11501.03")
    assert f.committed == usd("32221.08")
    assert figures(billing).available == usd("105000.00")
    topics = list(OutboxEvent.objects.order_by("position", "id").values_list("topic", flat=True))  # NULL until commit
    assert topics[-2:] == ["invoice.submitted", "invoice.approved"]


def test_taxes_withholding_and_fees(billing):
    invoice = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Monitoring visit", usd("5000.00"), this_period=usd("1000.00")),
            SovLineIn("2", "Survey", usd("5000.00"), this_period=usd("2000.00")),
            coding={"1.1": "1000.00", "1.2": "2000.00"},
            taxes="247.50",
            withholds="720.00",
            fees="25.00",
        ),
    )
    assert invoice.total == usd("3247.50")
    assert invoice.retention == usd("300.00")
    assert invoice.early_pay_discount == usd("54.00")  # 2 % of 2,700.00
    assert invoice.net_payable == usd("2173.50")  # 3,247.50 - 300.00 - 720.00 - 54.00
    assert invoice.funds_required == usd("2498.50")  # seed: total - withholds - discount + fees
    coding = {part.budget_line.wbs_code: part for part in invoice.coding.select_related("budget_line")}
    assert (coding["1.1"].taxes, coding["1.2"].taxes) == (usd("82.50"), usd("165.00"))
    assert (coding["1.1"].gross, coding["1.2"].gross) == (usd("1082.50"), usd("2165.00"))
    # Withholding split by what each line keeps after retention: 982.50 and 1,965.00.
    assert (coding["1.1"].withholds, coding["1.2"].withholds) == (usd("240.00"), usd("480.00"))
    f = figures(billing)
    assert f.encumbered == usd("3272.50")  # gross 3,247.50 from the commitment + 25.00 fees from available
    assert f.available == usd("104975.00")

    # Band 1 (<= 10,000.00): PM and Finance.
    invoice_decide(actor=billing.people["pm"], invoice=invoice, role=PM, decision="approved")
    invoice = invoice_decide(actor=billing.people["fin"], invoice=invoice, role=FIN, decision="approved")
    assert invoice.status == InvoiceStatus.APPROVED
    f = figures(billing)
    assert (f.retention, f.withheld) == (usd("300.00"), usd("720.00"))
    assert f.encumbered == usd("2252.50")  # 3,272.50 - 300.00 - 720.00


def test_an_overrun_is_refused_until_the_change_order_lands(billing, world):
    people = billing.people
    # Bill 29,000.00 of the 30,000.00 committed on 1.1.
    invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Planting", usd("30000.00"), this_period=usd("29000.00")), coding={"1.1": "29000.00"}
        ),
    )
    overrun = billing.data(
        SovLineIn("1", "Planting", usd("30000.00"), this_period=usd("1000.00")),
        SovLineIn("2", "Extra planting", usd("4000.00"), this_period=usd("4000.00")),
        coding={"1.1": "5000.00"},
    )
    before = state(billing)
    with pytest.raises(InvoiceCommitmentExceeded) as refused:
        invoice_create(actor=billing.vendor_user, contract=billing.contract, data=overrun)
    assert refused.value.extra["remaining_commitment"] == "1000.00"
    assert state(billing) == before

    # A change order of +4,000.00 on 1.1 is proposed: until it is approved the invoice waits on it.
    change = change_order_create(
        actor=people["pm"],
        contract=billing.contract,
        reason="Additional 0.4 ha of planting",
        lines=[Allocation(world.lines["1.1"].pk, usd("4000.00"))],
    )
    before = state(billing)
    with pytest.raises(InvoiceChangeOrderPending):
        invoice_create(actor=billing.vendor_user, contract=billing.contract, data=overrun)
    assert state(billing) == before

    change_order_decide(actor=people["pm2"], change_order=change, role=PM, decision="approved")
    change_order_decide(actor=people["fin"], change_order=change, role=FIN, decision="approved")
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=overrun)
    assert invoice.status == InvoiceStatus.SUBMITTED
    f = contract_figures(billing)
    assert f.encumbered == usd("34000.00")
    assert f.committed == usd("15000.00")  # 1.2 untouched; 1.1 fully invoiced

    # Beyond the new NTE (49,000.00) with nothing pending: refused outright.
    more = billing.data(
        SovLineIn("3", "Monitoring", usd("15000.00"), this_period=usd("15000.00")), coding={"1.2": "15000.00"}
    )
    billing.contract.refresh_from_db()
    assert billing.contract.not_to_exceed == usd("49000.00")
    before = state(billing)
    with pytest.raises(InvoiceNteExceeded):
        invoice_create(
            actor=billing.vendor_user,
            contract=billing.contract,
            data=billing.data(
                SovLineIn("3", "Monitoring", usd("15000.00"), this_period=usd("15000.00")),
                coding={"1.2": "15000.00"},
                taxes="1.00",
            ),
        )
    assert state(billing) == before
    invoice_create(actor=billing.vendor_user, contract=billing.contract, data=more)
    assert contract_figures(billing).committed == usd("0.00")
    assert Transfer.objects.filter(code="ENCUMBER").count() == 3  # 29,000 + 5,000 + 15,000, one coded line each
