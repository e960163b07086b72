"""The finance screens through the test client: access per role, exact ledger figures, inline errors (nothing
written), the role-shaped menus. The world is the payments' ``billing`` fixture: 150,000.00 USD funded, WBS
1 Restoration (200,000.00) / 1.1 Planting (120,000.00) / 1.2 Monitoring (80,000.00), a compliant vendor with a
linked VENDOR user and an executed 45,000.00 contract (1.1: 30,000.00, 1.2: 15,000.00)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from payor.audit.models import AuditEvent
from payor.contracts.models import ChangeOrder, ChangeOrderStatus, Contract, ContractStatus
from payor.contracts.services import contract_create
from payor.invoices.services import invoice_create
from payor.ledger.models import Transfer
from payor.payments.services import disbursement_execute, disbursement_schedule
from payor.payments.tests.conftest import (
    approved,
    billing,
    fast_password_hashing,
    usd,
    world,
)
from payor.projects.models import BudgetLine
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory

__all__ = ["billing", "fast_password_hashing", "world"]  # fixtures

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


def figure(html: str, name: str) -> str:
    """The text of the element marked ``data-figure="name"``."""
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match is not None, name
    return match.group(1).strip()


def paid(billing):
    """An approved 1,000.00 invoice on 1.1 (retention 100.00), scheduled today and executed: 882.00 paid."""
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    disbursement_execute(actor=billing.people["tre"], disbursement=disbursement, rail_reference="ACH-TRACE-1")
    return invoice


@pytest.fixture
def readers(billing):
    people = {}
    for name, role in (
        ("aud", ProjectRole.AUDITOR),
        ("ben", ProjectRole.BENEFICIARY),
        ("proc", ProjectRole.PROCUREMENT),
    ):
        people[name] = UserFactory(email=f"{name}@example.test")
        ProjectRoleFactory(project=billing.world.project, user=people[name], role=role)
    people["outsider"] = UserFactory(email="outsider@example.test")
    return people


def urls(billing) -> dict[str, str]:
    project = billing.world.project
    return {
        "home": f"/projects/{project.pk}/finance/",
        "budget": f"/projects/{project.pk}/budget/",
        "contract": f"/contracts/{billing.contract.pk}/",
    }


# --------------------------------------------------------------------------------------------------------------
# Project Finance Home
# --------------------------------------------------------------------------------------------------------------


def test_home_card_shows_the_ledger_figures_after_a_paid_invoice(billing):
    paid(billing)
    page = client_for(billing.people["tre"]).get(urls(billing)["home"])
    assert page.status_code == 200
    html = text(page)
    # 150,000.00 funded - 45,000.00 committed = 105,000.00 available; 1,000.00 invoiced: 100.00 retained,
    # 882.00 paid, the 18.00 early-pay discount back to the commitment: 30,000.00 + 15,000.00 - 1,000.00 + 18.00.
    assert figure(html, "available") == "$105,000.00"
    assert figure(html, "funded") == "$150,000.00"
    assert figure(html, "committed") == "$44,018.00"
    assert figure(html, "encumbered") == "$0.00"
    assert figure(html, "retention") == "$100.00"
    assert figure(html, "withheld") == "$0.00"
    assert figure(html, "pending") == "$0.00"
    assert figure(html, "disbursed") == "$882.00"
    assert figure(html, "burn-total") == "$882.00"
    assert figure(html, "runway") == "357.1"  # 105,000.00 / (882.00 / 3), rounded down
    assert '<title id="burn-svg-title">' in html
    assert 'data-testid="burn-table"' in html
    assert "Nothing needs your attention" in html


def test_home_before_any_payment_has_no_runway_and_lists_the_approvers_alert(billing):
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    html = text(client_for(billing.people["pm"]).get(urls(billing)["home"]))
    assert figure(html, "runway") == "—"
    assert figure(html, "available") == "$105,000.00"
    assert figure(html, "encumbered") == "$1,000.00"
    assert "Awaiting your approval" in html
    assert f"/invoices/{invoice.pk}/" in html
    assert f"{invoice.number} · {billing.vendor.name}" in html
    # The finance reviewer's stage waits for the PM's: no alert for them yet.
    assert "Awaiting your approval" not in text(client_for(billing.people["fin"]).get(urls(billing)["home"]))


def test_home_for_procurement_shows_alerts_but_no_figures(billing, readers):
    page = client_for(readers["proc"]).get(urls(billing)["home"])
    assert page.status_code == 200
    html = text(page)
    assert 'data-figure="available"' not in html
    assert "$105,000.00" not in html
    assert "shown to the project's finance roles" in html


@pytest.mark.parametrize(
    ("who", "home", "budget", "contract"),
    [
        ("pm", 200, 200, 200),
        ("fin", 200, 200, 200),
        ("tre", 200, 200, 200),
        ("dao1", 200, 200, 200),
        ("aud", 200, 200, 200),
        ("proc", 200, 200, 200),
        ("ben", 200, 403, 403),
        ("vendor", 403, 403, 403),
        ("outsider", 404, 404, 404),
    ],
)
def test_finance_pages_per_role(billing, readers, who, home, budget, contract):
    user = billing.vendor_user if who == "vendor" else {**billing.people, **readers}[who]
    client = client_for(user)
    pages = urls(billing)
    assert client.get(pages["home"]).status_code == home
    assert client.get(pages["budget"]).status_code == budget
    assert client.get(pages["contract"]).status_code == contract


def test_finance_pages_need_sign_in(billing):
    for url in urls(billing).values():
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --------------------------------------------------------------------------------------------------------------
# Budget & Contracts
# --------------------------------------------------------------------------------------------------------------


def wbs_row(html: str, code: str) -> str:
    match = re.search(rf'data-wbs="{re.escape(code)}">\s*<summary class="wbs-row">(.*?)</summary>', html, re.S)
    assert match is not None, code
    return match.group(1)


def cells(row: str) -> list[str]:
    """The money cells of a WBS row, without their screen-reader labels: cap, committed, encumbered, disbursed,
    variance."""
    return re.findall(r'class="wbs-num money[^"]*"><span class="visually-hidden">[^<]*</span>([^<]*)<', row)


def test_budget_tree_with_figures_and_variance(billing):
    paid(billing)
    html = text(client_for(billing.people["pm"]).get(urls(billing)["budget"]))
    # 1.1: cap 120,000.00; committed 30,000.00 - 1,000.00 + 18.00 = 29,018.00; 882.00 paid; invoiced 982.00 (882.00
    # paid + 100.00 retained): variance 120,000.00 - 982.00 = 119,018.00; used 30,000.00 = 25.00 %.
    assert cells(wbs_row(html, "1.1")) == ["$120,000.00", "$29,018.00", "$0.00", "$882.00", "$119,018.00"]
    assert "25.00&nbsp;%" in wbs_row(html, "1.1")
    assert cells(wbs_row(html, "1.2")) == ["$80,000.00", "$15,000.00", "$0.00", "$0.00", "$80,000.00"]
    assert cells(wbs_row(html, "1")) == ["$200,000.00", "$44,018.00", "$0.00", "$882.00", "$199,018.00"]
    # Contracts with their ledger figures, linked to their detail.
    assert f'href="/contracts/{billing.contract.pk}/"' in html
    assert billing.contract.number in html


def budget_state():
    return (
        list(BudgetLine.objects.order_by("id").values_list("id", "wbs_code", "description", "cap")),
        AuditEvent.objects.count(),
    )


def add_line(client, billing, **fields):
    data = {"new-parent": "", "new-wbs_code": "", "new-description": "", "new-cap": "", **fields}
    return client.post(f"/projects/{billing.world.project.pk}/budget/lines/", data)


def test_a_pm_adds_a_budget_line(billing):
    client = client_for(billing.people["pm"])
    response = add_line(
        client, billing, **{"new-wbs_code": "2", "new-description": "Reporting", "new-cap": "$25,000.50"}
    )
    assert response.status_code == 302
    line = BudgetLine.objects.get(project=billing.world.project, wbs_code="2")
    assert (line.description, line.cap, line.parent_id) == ("Reporting", usd("25000.50"), None)
    assert response["Location"] == f"/projects/{billing.world.project.pk}/budget/#line-{line.pk}"
    assert "Budget line 2 · Reporting added." in text(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"new-wbs_code": "2", "new-description": "Reporting", "new-cap": "12,50x"}, 422, "Enter an amount in USD"),
        ({"new-wbs_code": "2", "new-description": "Reporting", "new-cap": "-5"}, 422, "zero or more"),
        ({"new-wbs_code": "2.1", "new-description": "Reporting", "new-cap": "10"}, 422, "is a child&#x27;s code"),
        ({"new-wbs_code": "1", "new-description": "Again", "new-cap": "10"}, 409, "already has a budget line 1"),
        ({"new-wbs_code": "", "new-description": "", "new-cap": ""}, 422, "This field is required."),
    ],
)
def test_add_budget_line_refusals_are_inline_and_write_nothing(billing, fields, status, message):
    before = budget_state()
    response = add_line(client_for(billing.people["pm"]), billing, **fields)
    assert response.status_code == status
    html = text(response)
    assert message in html
    assert 'id="add-line" open' in html  # the form stays open with the error
    assert budget_state() == before


def test_a_child_above_its_parents_cap_is_refused_on_the_cap_field(billing):
    root = billing.world.lines["1"]  # 200,000.00, children 120,000.00 + 80,000.00
    before = budget_state()
    response = add_line(
        client_for(billing.people["pm"]),
        billing,
        **{"new-parent": str(root.pk), "new-wbs_code": "1.3", "new-description": "Outreach", "new-cap": "0.01"},
    )
    assert response.status_code == 409
    html = text(response)
    assert "the children of 1 would be capped at 200000.01, above its cap of 200000.00 USD" in html
    assert 'id="id_new-cap_error"' in html
    assert budget_state() == before


def edit_line(client, line, **fields):
    data = {f"line-{line.pk}-description": line.description, f"line-{line.pk}-cap": line.cap.amount_str(), **fields}
    return client.post(
        f"/budget-lines/{line.pk}/", {key.replace("LINE", f"line-{line.pk}"): v for key, v in data.items()}
    )


def test_a_pm_edits_a_cap_and_a_cap_below_use_is_refused_inline(billing):
    client = client_for(billing.people["pm"])
    line = billing.world.lines["1.1"]
    before = budget_state()
    response = edit_line(client, line, **{"LINE-cap": "29,999.99"})
    assert response.status_code == 409
    html = text(response)
    assert "1.1 already uses 30000.00 USD" in html
    assert f'id="id_line-{line.pk}-cap_error"' in html
    assert re.search(r'<details class="wbs-node depth-1" id="line-[^"]+" open data-wbs="1.1">', html)
    assert budget_state() == before

    response = edit_line(client, line, **{"LINE-cap": "100,000.00", "LINE-description": "Planting and seeding"})
    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.cap, line.description) == (usd("100000.00"), "Planting and seeding")


def test_budget_forms_need_budget_manage_and_csrf(billing):
    before = budget_state()
    fields = {"new-wbs_code": "2", "new-description": "Reporting", "new-cap": "10"}
    assert add_line(client_for(billing.people["fin"]), billing, **fields).status_code == 403
    assert edit_line(client_for(billing.people["tre"]), billing.world.lines["1.1"]).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(billing.people["pm"])
    assert add_line(strict, billing, **fields).status_code == 403
    assert budget_state() == before
    page = text(client_for(billing.people["fin"]).get(urls(billing)["budget"]))
    assert 'data-testid="add-line-form"' not in page
    assert 'action="/budget-lines/' not in page  # no edit forms for a reader


# --------------------------------------------------------------------------------------------------------------
# Contract detail
# --------------------------------------------------------------------------------------------------------------


def test_contract_detail_with_allocations_invoices_and_retention(billing):
    invoice = paid(billing)
    page = client_for(billing.people["pm"]).get(urls(billing)["contract"])
    assert page.status_code == 200
    html = text(page)
    assert figure(html, "retention") == "$100.00"
    assert figure(html, "disbursed") == "$882.00"
    assert figure(html, "remaining") == "$44,018.00"
    allocations = html.split('data-testid="allocations-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", allocations, re.S)[1:]
    assert [re.findall(r'money[^"]*">([^<]*)<', row) for row in rows] == [
        ["$30,000.00", "$29,018.00", "$0.00", "$100.00", "$882.00"],
        ["$15,000.00", "$15,000.00", "$0.00", "$0.00", "$0.00"],
    ]
    assert f'href="/invoices/{invoice.pk}/"' in html
    assert "Paid" in html
    assert 'data-testid="change-order-form"' in html


def co_state():
    return (
        list(ChangeOrder.objects.order_by("id").values_list("id", "status", "delta")),
        list(Contract.objects.order_by("id").values_list("id", "status", "not_to_exceed")),
        Transfer.objects.count(),
        AuditEvent.objects.count(),
    )


def test_a_pm_proposes_a_change_order_and_sees_its_approval_plan(billing):
    client = client_for(billing.people["pm2"])
    line = billing.world.lines["1.2"]
    response = client.post(
        f"/contracts/{billing.contract.pk}/change-orders/",
        {"co-reason": "Two more monitoring visits", f"co-delta_{line.pk}": "5,000.00"},
    )
    assert response.status_code == 302
    change_order = ChangeOrder.objects.get(contract=billing.contract)
    assert (change_order.number, change_order.status, change_order.delta) == (
        1,
        ChangeOrderStatus.PENDING,
        usd("5000.00"),
    )
    html = text(client.get(response["Location"]))
    assert "Change order 1 proposed ($5,000.00): it now goes through the approval matrix." in html
    assert "CO-1" in html
    assert "Two more monitoring visits" in html
    assert "+$5,000.00" in html
    assert "Project manager · next" in html  # the first stage of the band is waiting for a PM


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"co-reason": "More"}, 422, "a change order changes at least one budget line"),
        ({"co-reason": ""}, 422, "This field is required."),
        ({"co-reason": "Less", "DELTA_1.2": "-15,000.01"}, 409, "has 15000.00 allocated"),
        ({"co-reason": "Typo", "DELTA_1.2": "1.234"}, 422, "Enter an amount in USD"),
    ],
)
def test_change_order_refusals_are_inline_and_write_nothing(billing, fields, status, message):
    line = billing.world.lines["1.2"]
    data = {key.replace("DELTA_1.2", f"co-delta_{line.pk}"): value for key, value in fields.items()}
    before = co_state()
    response = client_for(billing.people["pm"]).post(f"/contracts/{billing.contract.pk}/change-orders/", data)
    assert response.status_code == status
    html = text(response)
    assert message in html
    assert 'id="propose-change-order" open' in html
    assert co_state() == before


def test_closing_a_contract_with_an_open_invoice_is_refused_inline(billing):
    invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    before = co_state()
    response = client_for(billing.people["pm"]).post(f"/contracts/{billing.contract.pk}/close/")
    assert response.status_code == 409
    html = text(response)
    assert "contract_has_open_invoices" in html
    assert co_state() == before


def test_a_pm_executes_a_draft_and_closes_it(billing):
    draft = contract_create(
        actor=billing.people["pm"],
        project=billing.world.project,
        vendor=billing.vendor,
        title="Seed collection",
        not_to_exceed=usd("2000.00"),
        allocations=[billing.world.alloc("1.1", "2000.00")],
        retention_percent=Decimal("5.00"),
    )
    client = client_for(billing.people["pm"])
    assert "Execute contract" in text(client.get(f"/contracts/{draft.pk}/"))
    assert client.post(f"/contracts/{draft.pk}/execute/").status_code == 302
    draft.refresh_from_db()
    assert draft.status == ContractStatus.EXECUTED
    html = text(client.get(f"/contracts/{draft.pk}/"))
    assert figure(html, "remaining") == "$2,000.00"
    assert client.post(f"/contracts/{draft.pk}/close/").status_code == 302
    draft.refresh_from_db()
    assert draft.status == ContractStatus.CLOSED
    assert client.post(f"/contracts/{draft.pk}/launch/").status_code == 404
    # Readers cannot act.
    assert client_for(billing.people["fin"]).post(f"/contracts/{billing.contract.pk}/close/").status_code == 403


# --------------------------------------------------------------------------------------------------------------
# Navigation
# --------------------------------------------------------------------------------------------------------------


def sidebar(html: str) -> str:
    return html.split('id="sidebar-menu"')[1].split("</aside>")[0]


def test_menus_are_shaped_by_role(billing, readers):
    project = billing.world.project
    finance = sidebar(text(client_for(billing.people["tre"]).get("/projects/")))
    assert f'href="/projects/{project.pk}/finance/"' in finance
    assert f'href="/projects/{project.pk}/budget/"' in finance
    assert 'href="/vendors/"' in finance
    assert "Audit log" in finance

    vendor_menu = sidebar(text(client_for(billing.vendor_user).get("/projects/")))
    for label in ("Finance home", "Budget &amp; contracts", "Vendors", "Audit log", "Projects"):
        assert label not in vendor_menu
    assert "Vendor portal" in vendor_menu

    beneficiary = sidebar(text(client_for(readers["ben"]).get("/projects/")))
    assert "Finance home" in beneficiary
    assert "Vendors" not in beneficiary


def test_landing_takes_finance_roles_of_one_project_to_its_finance_home(billing):
    response = client_for(billing.people["tre"]).get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{billing.world.project.pk}/finance/"
    vendor = client_for(billing.vendor_user).get("/")
    assert vendor["Location"] == "/portal/"


def test_project_page_and_list_link_the_finance_home(billing, readers):
    project = billing.world.project
    html = text(client_for(billing.people["pm"]).get(f"/projects/{project.pk}/"))
    assert f'href="/projects/{project.pk}/finance/"' in html
    assert f'href="/projects/{project.pk}/finance/"' in text(client_for(billing.people["pm"]).get("/projects/"))
    vendor_html = text(client_for(billing.vendor_user).get(f"/projects/{project.pk}/"))
    assert f"/projects/{project.pk}/finance/" not in vendor_html


def test_change_order_stages_are_decided_on_the_contract_page(billing):
    pm, pm2, fin = billing.people["pm"], billing.people["pm2"], billing.people["fin"]
    line = billing.world.lines["1.2"]
    client_for(pm2).post(
        f"/contracts/{billing.contract.pk}/change-orders/",
        {"co-reason": "Two more monitoring visits", f"co-delta_{line.pk}": "5000.00"},
    )
    change_order = ChangeOrder.objects.get(contract=billing.contract)
    url = f"/change-orders/{change_order.pk}/decide/"

    # The proposer may not approve it; a rejection needs a note: refused inline, nothing written.
    before = co_state()
    refused = client_for(pm2).post(url, {"co-1-decision": "approved"})
    assert refused.status_code == 403
    assert "The submitter of an item cannot approve it" in text(refused)
    no_note = client_for(pm).post(url, {"co-1-decision": "rejected", "co-1-note": ""})
    assert no_note.status_code == 422
    assert 'id="id_co-1-note_error"' in text(no_note)
    assert co_state() == before

    # PM, then finance (a 5,000.00 change is band 1): the second approval applies it.
    assert 'data-testid="co-decision-form"' not in text(client_for(fin).get(f"/contracts/{billing.contract.pk}/"))
    pm_client, fin_client = client_for(pm), client_for(fin)
    response = pm_client.post(url, {"co-1-decision": "approved"})
    assert response.status_code == 302
    assert "CO-1: you approved the project manager stage." in text(pm_client.get(response["Location"]))
    response = fin_client.post(url, {"co-1-decision": "approved", "co-1-note": "Budget checked"})
    assert response.status_code == 302
    change_order.refresh_from_db()
    billing.contract.refresh_from_db()
    assert (change_order.status, billing.contract.not_to_exceed) == (ChangeOrderStatus.APPROVED, usd("50000.00"))
    html = text(fin_client.get(response["Location"]))
    assert "CO-1: you approved the finance reviewer stage. The change is applied." in html
    assert figure(html, "remaining") == "$50,000.00"
