"""Finance journeys in a real browser: the treasurer reads the Lift Forward card after an approved invoice, opens
the WBS tree with the keyboard, a contract and a vendor; a vendor user cannot reach any finance page, direct URLs
included. Full-page screenshots go to test-artifacts/ (desktop and phone width)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from payor.payments.tests.conftest import approved, billing, fast_password_hashing, world
from payor.testing.factories import TEST_PASSWORD
from tests.browser.test_sign_in_and_projects import sign_in

__all__ = ["billing", "fast_password_hashing", "world"]  # fixtures

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').first.inner_text().strip()


def test_home_card_shows_the_ledger_figures_after_an_approved_invoice(page, live_server, billing):
    ARTIFACTS.mkdir(exist_ok=True)
    invoice = approved(billing, billing.data())  # 1,000.00 on 1.1: PM and finance approved it
    project = billing.world.project
    treasurer = billing.people["tre"]
    sign_in(page, live_server, treasurer.email, TEST_PASSWORD)
    page.wait_for_url(f"{live_server.url}/projects/")

    page.get_by_role("link", name="Finance home").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/finance/")
    card = page.get_by_test_id("lift-forward-card")
    assert card.is_visible()
    # Funded 150,000.00; the 45,000.00 contract committed; the invoice moved 1,000.00 out of the commitment:
    # 100.00 retained, 900.00 encumbered until paid.
    assert figure(page, "available") == "$105,000.00"
    assert figure(page, "funded") == "$150,000.00"
    assert figure(page, "committed") == "$44,000.00"
    assert figure(page, "encumbered") == "$900.00"
    assert figure(page, "retention") == "$100.00"
    assert figure(page, "disbursed") == "$0.00"
    assert figure(page, "runway") == "—"
    assert page.get_by_role("img", name=re.compile("Burn per month")).is_visible()
    page.get_by_text("Data table", exact=True).click()
    assert page.get_by_test_id("burn-table").locator("tbody tr").count() == 12
    page.screenshot(path=str(ARTIFACTS / "finance-home.png"), full_page=True)

    # Budget & contracts: the WBS tree opens with the keyboard, the contract links to its detail.
    page.get_by_role("link", name="Budget & contracts").first.click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/budget/")
    planting = page.locator('details[data-wbs="1.1"]')
    assert planting.get_attribute("open") is None
    planting.locator("summary").focus()
    page.keyboard.press("Enter")
    assert planting.get_attribute("open") == ""
    assert planting.get_by_label("Cap (USD)").is_visible() is False  # the treasurer reads; no edit form
    page.screenshot(path=str(ARTIFACTS / "finance-budget.png"), full_page=True)

    page.get_by_role("link", name=billing.contract.number).click()
    page.wait_for_url(f"{live_server.url}/contracts/{billing.contract.pk}/")
    assert figure(page, "retention") == "$100.00"
    assert page.get_by_role("link", name=invoice.number).get_attribute("href") == f"/invoices/{invoice.pk}/"
    page.screenshot(path=str(ARTIFACTS / "finance-contract.png"), full_page=True)

    page.get_by_role("link", name="Vendors").first.click()
    page.wait_for_url(f"{live_server.url}/vendors/")
    page.get_by_role("link", name=billing.vendor.name).click()
    page.wait_for_url(f"{live_server.url}/vendors/{billing.vendor.pk}/")
    assert page.get_by_test_id("kyc-status").inner_text().strip() == "KYC passed"
    page.screenshot(path=str(ARTIFACTS / "finance-vendor.png"), full_page=True)

    # Phone width: the sidebar collapses, the card stacks, the WBS tree scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/projects/{project.pk}/finance/")
    assert figure(page, "available") == "$105,000.00"
    assert page.get_by_role("button", name="Toggle navigation").is_visible()
    page.screenshot(path=str(ARTIFACTS / "finance-home-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/projects/{project.pk}/budget/")
    page.screenshot(path=str(ARTIFACTS / "finance-budget-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 860})


def test_a_vendor_cannot_reach_finance_pages(page, live_server, billing):
    ARTIFACTS.mkdir(exist_ok=True)
    project = billing.world.project
    sign_in(page, live_server, billing.vendor_user.email, TEST_PASSWORD)
    page.wait_for_url(re.compile(rf"{re.escape(live_server.url)}/(projects|portal)/"))
    sidebar = page.locator("#sidebar-menu")
    for label in ("Finance home", "Budget & contracts", "Vendors", "Invoices", "Audit log"):
        assert sidebar.get_by_role("link", name=label, exact=True).count() == 0
    for url, status in (
        (f"/projects/{project.pk}/finance/", 403),
        (f"/projects/{project.pk}/budget/", 403),
        (f"/contracts/{billing.contract.pk}/", 403),
        ("/vendors/", 403),
        (f"/vendors/{billing.vendor.pk}/", 403),
    ):
        response = page.goto(f"{live_server.url}{url}")
        assert response is not None
        assert response.status == status, url
        assert page.locator('[data-testid="lift-forward-card"]').count() == 0
        assert page.get_by_text("$105,000.00").count() == 0
    page.goto(f"{live_server.url}/projects/{project.pk}/finance/")
    assert page.get_by_text("This page is not open to your role").is_visible()
    page.screenshot(path=str(ARTIFACTS / "finance-vendor-refused.png"), full_page=True)
