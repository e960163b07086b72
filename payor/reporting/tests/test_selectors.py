"""Burn per month, runway and alerts on the payments' worked world, with exact cents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from payor.core.errors import NotFound, PermissionDenied
from payor.invoices.services import invoice_create, invoice_decide
from payor.payments.services import disbursement_execute, disbursement_fail, disbursement_schedule
from payor.projects.services import budget_line_update
from payor.rbac.roles import ProjectRole
from payor.reporting.selectors import burn_by_month, finance_alerts, finance_home, month_start, runway
from payor.reporting.tests.conftest import approved, figures, usd
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.models import Vendor

pytestmark = pytest.mark.django_db


def next_month(day: dt.date, count: int = 1) -> dt.date:
    index = day.year * 12 + day.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def paid(billing):
    """An approved 1,000.00 invoice on 1.1 (retention 100.00), scheduled today and executed: 882.00 paid."""
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    return disbursement_execute(actor=billing.people["tre"], disbursement=disbursement, rail_reference="ACH-1")


def test_burn_counts_executed_payments_only_and_ends_at_the_ledger_disbursed(billing):
    tre = billing.people["tre"]
    today = timezone.localdate()
    invoice = approved(billing, billing.data())
    assert (invoice.total, invoice.retention, invoice.net_payable) == (usd("1000.00"), usd("100.00"), usd("882.00"))
    scheduled = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today)
    assert scheduled.amount == usd("882.00")
    # Scheduled only: the money is pending in the ledger, not burnt.
    burn = burn_by_month(viewer=tre, project=billing.world.project)
    assert len(burn.months) == 12
    assert burn.months[-1].month == month_start(today)
    assert burn.months[0].month == next_month(month_start(today), -11)
    assert burn.total == usd("0.00")
    assert runway(viewer=tre, project=billing.world.project).months is None

    disbursement_execute(actor=tre, disbursement=scheduled, rail_reference="ACH-TRACE-1")
    burn = burn_by_month(viewer=tre, project=billing.world.project)
    assert [m.disbursed for m in burn.months] == [usd("0.00")] * 11 + [usd("882.00")]
    assert burn.months[-1].cumulative == usd("882.00") == figures(billing).disbursed
    assert burn.before == usd("0.00")
    assert burn.peak == usd("882.00")


def test_a_failed_payment_is_no_burn_and_an_alert_until_scheduled_again(billing):
    tre, project = billing.people["tre"], billing.world.project
    today = timezone.localdate()
    invoice = approved(billing, billing.data())
    first = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today)
    failed = disbursement_fail(actor=tre, disbursement=first, reason="R03 no account")
    assert burn_by_month(viewer=tre, project=project).total == usd("0.00")
    alerts = finance_alerts(viewer=tre, project=project)
    assert [d.pk for d in alerts.failed_payments] == [failed.pk]
    assert alerts.failed_payments[0].failure_reason == "R03 no account"

    invoice.refresh_from_db()
    disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=today)
    assert finance_alerts(viewer=tre, project=project).failed_payments == []


def test_runway_is_available_over_the_trailing_three_months_average_rounded_down(billing):
    tre, project = billing.people["tre"], billing.world.project
    paid(billing)
    # available 105,000.00 (150,000.00 funded - 45,000.00 committed); 882.00 paid in the trailing three months:
    # 105,000.00 / (882.00 / 3) = 357.14… months -> 357.1.
    result = runway(viewer=tre, project=project)
    assert result.available == usd("105000.00")
    assert result.trailing_burn == usd("882.00")
    assert result.monthly_burn == usd("294.00")
    assert result.months == Decimal("357.1")

    # Two months on, the payment is still in the trailing window; three months on it is not: no burn, no runway.
    later = next_month(timezone.localdate(), 2)
    assert runway(viewer=tre, project=project, today=later).months == Decimal("357.1")
    burn = burn_by_month(viewer=tre, project=project, today=later, months=3)
    assert [m.disbursed for m in burn.months] == [usd("882.00"), usd("0.00"), usd("0.00")]
    assert [m.cumulative for m in burn.months] == [usd("882.00")] * 3
    much_later = next_month(timezone.localdate(), 3)
    assert runway(viewer=tre, project=project, today=much_later).months is None
    burn = burn_by_month(viewer=tre, project=project, today=much_later, months=3)
    assert burn.before == usd("882.00") == burn.total
    assert burn.peak == usd("0.00")


def test_runway_of_a_small_balance_rounds_down_to_a_tenth(billing):
    tre, project = billing.people["tre"], billing.world.project
    paid(billing)
    # Commit all but 100.00 of available with a second contract: 100.00 / 294.00 = 0.34 -> 0.3.
    from payor.reporting.tests.conftest import contract_for

    contract_for(
        billing.world,
        billing.vendor,
        nte="104900.00",
        allocations=[billing.world.alloc("1.1", "64900.00"), billing.world.alloc("1.2", "40000.00")],
    )
    result = runway(viewer=tre, project=project)
    assert result.available == usd("100.00")
    assert result.months == Decimal("0.3")


def test_approval_alerts_follow_the_plan_stage_by_stage(billing):
    people, project = billing.people, billing.world.project
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    pm_alerts = finance_alerts(viewer=people["pm"], project=project).approvals
    assert [(a.invoice.pk, a.stage.role) for a in pm_alerts] == [(invoice.pk, ProjectRole.PROJECT_MANAGER)]
    assert finance_alerts(viewer=people["fin"], project=project).approvals == []  # waiting for the PM

    invoice_decide(actor=people["pm"], invoice=invoice, role=ProjectRole.PROJECT_MANAGER, decision="approved")
    assert finance_alerts(viewer=people["pm"], project=project).approvals == []
    assert finance_alerts(viewer=people["pm2"], project=project).approvals == []  # one stage per item: PM done
    fin_alerts = finance_alerts(viewer=people["fin"], project=project).approvals
    assert [(a.invoice.number, a.stage.role) for a in fin_alerts] == [(invoice.number, ProjectRole.FINANCE_REVIEWER)]


def test_no_approval_alert_for_an_invoice_of_a_vendor_one_acts_for(billing):
    people, project = billing.people, billing.world.project
    invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    ProjectRoleFactory(project=project, user=people["pm2"], role=ProjectRole.VENDOR, vendor=billing.vendor)
    assert finance_alerts(viewer=people["pm2"], project=project).approvals == []
    assert len(finance_alerts(viewer=people["pm"], project=project).approvals) == 1


def test_coi_alerts_within_thirty_days_and_expired_for_vendors_with_an_open_contract(billing):
    fin, project = billing.people["fin"], billing.world.project
    today = timezone.localdate()
    Vendor.objects.filter(pk=billing.vendor.pk).update(coi_expiry=today + dt.timedelta(days=31))
    assert finance_alerts(viewer=fin, project=project).cois == []
    Vendor.objects.filter(pk=billing.vendor.pk).update(coi_expiry=today + dt.timedelta(days=30))
    (alert,) = finance_alerts(viewer=fin, project=project).cois
    assert (alert.vendor.pk, alert.days_left, alert.expired) == (billing.vendor.pk, 30, False)
    Vendor.objects.filter(pk=billing.vendor.pk).update(coi_expiry=today - dt.timedelta(days=2))
    (alert,) = finance_alerts(viewer=fin, project=project).cois
    assert (alert.expires_on, alert.days_left, alert.expired) == (today - dt.timedelta(days=2), -2, True)
    # A vendor of the organization without a contract on the project is not this project's alert.
    VendorFactory(organization=project.organization, name="Idle Vendor", coi_expiry=today)
    assert [a.vendor.name for a in finance_alerts(viewer=fin, project=project).cois] == [billing.vendor.name]


def test_budget_line_alert_above_ninety_percent_of_its_cap_exactly(billing):
    pm, project = billing.people["pm"], billing.world.project
    line = billing.world.lines["1.1"]  # 30,000.00 committed by the contract
    budget_line_update(actor=pm, line=line, cap=usd("33333.34"))  # 89.99997 %
    assert finance_alerts(viewer=pm, project=project).budget_lines == []
    budget_line_update(actor=pm, line=line, cap=usd("33333.33"))  # 90.000009 %
    (node,) = finance_alerts(viewer=pm, project=project).budget_lines
    assert (node.line.wbs_code, node.figures.used, node.figures.cap) == ("1.1", usd("30000.00"), usd("33333.33"))


def test_alert_groups_need_their_permissions(billing):
    project = billing.world.project
    invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    Vendor.objects.filter(pk=billing.vendor.pk).update(coi_expiry=timezone.localdate())
    budget_line_update(actor=billing.people["pm"], line=billing.world.lines["1.1"], cap=usd("30000.00"))
    beneficiary = UserFactory(email="ben@example.test")
    ProjectRoleFactory(project=project, user=beneficiary, role=ProjectRole.BENEFICIARY)
    assert finance_alerts(viewer=beneficiary, project=project).count == 0
    auditor = UserFactory(email="aud@example.test")
    ProjectRoleFactory(project=project, user=auditor, role=ProjectRole.AUDITOR)
    alerts = finance_alerts(viewer=auditor, project=project)
    assert (len(alerts.approvals), len(alerts.cois), len(alerts.budget_lines)) == (
        0,
        1,
        1,
    )  # an auditor approves nothing


def test_finance_home_refuses_vendor_users_and_hides_the_project_from_outsiders(billing):
    project = billing.world.project
    with pytest.raises(PermissionDenied):
        finance_home(viewer=billing.vendor_user, project_id=project.pk)
    with pytest.raises(PermissionDenied):
        burn_by_month(viewer=billing.vendor_user, project=project)
    with pytest.raises(NotFound):
        finance_home(viewer=UserFactory(email="nobody@example.test"), project_id=project.pk)
    procurement = UserFactory(email="proc@example.test")
    ProjectRoleFactory(project=project, user=procurement, role=ProjectRole.PROCUREMENT)
    home = finance_home(viewer=procurement, project_id=project.pk)  # budget.view: alerts, no figures
    assert (home.show_totals, home.burn, home.runway, home.buckets) == (False, None, None, [])


def test_finance_home_of_a_treasurer_after_a_payment(billing):
    paid(billing)
    home = finance_home(viewer=billing.people["tre"], project_id=billing.world.project.pk)
    assert home.show_totals
    ((bucket, f),) = home.buckets
    assert (bucket.currency, f.funded, f.available, f.committed, f.retention, f.disbursed) == (
        "USD",
        usd("150000.00"),
        usd("105000.00"),
        usd("44018.00"),
        usd("100.00"),
        usd("882.00"),
    )
    assert home.burn is not None
    assert home.burn.total == usd("882.00")
    assert home.runway is not None
    assert home.runway.months == Decimal("357.1")
