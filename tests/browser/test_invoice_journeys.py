"""Invoice journeys in a real browser (issue 8 screens 3, 4 and 6): a vendor submits through the portal and the PM,
Finance and the Treasurer approve in turn; a PM approving their own submission sees the refusal; the queue's
filters and bulk approval; a vendor cannot reach another vendor's pages. Full-page screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.urls import NoReverseMatch, reverse
from eth_account.messages import encode_typed_data

from payor.invoices.math import SovLineIn
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_create
from payor.invoices.tests.conftest import (
    FIN,
    PM,
    TREAS,
    big_contract,
    billing,
    contract_for,
    decide,
    fast_password_hashing,
    figures,
    grant_to,
    media,
    usd,
    vendor_user_for,
    world,
)
from payor.rbac.roles import ProjectRole
from payor.testing.factories import TEST_PASSWORD, VendorFactory
from payor.vendors.tests.conftest import compliant, png_bytes
from tests.browser.test_sign_in_and_projects import sign_in
from tests.browser.test_wallet_sign_in import screenshot

__all__ = ["billing", "fast_password_hashing", "media", "world"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media")]


def sign_in_as(page, live_server, user, path: str) -> None:
    page.context.clear_cookies()
    sign_in(page, live_server, user.email, TEST_PASSWORD)
    page.wait_for_url(re.compile(r".*/(projects|portal)/.*"))
    page.goto(f"{live_server.url}{path}")


def approve_my_stage(page, live_server, user, invoice: Invoice, shot: str) -> None:
    sign_in_as(page, live_server, user, "/invoices/?awaiting=1")
    page.get_by_role("link", name=invoice.number).click()
    page.wait_for_url(f"{live_server.url}/invoices/{invoice.pk}/")
    page.get_by_role("button", name=re.compile(r"^Approve .* stage$")).click()
    page.locator(".alert-success").wait_for()
    screenshot(page, shot)


def test_a_vendor_submits_and_pm_finance_treasurer_approve_in_turn(page, live_server, billing, tmp_path):
    vendor = billing.vendor_user
    sign_in_as(page, live_server, vendor, "/portal/")
    assert page.get_by_role("link", name="Invoices", exact=True).count() == 0  # no finance menus for a vendor
    screenshot(page, "invoice-portal-home.png")
    page.get_by_role("link", name=re.compile(r"New invoice")).first.click()
    page.wait_for_url(re.compile(r".*/portal/contracts/.*/invoices/new/"))

    page.get_by_label("Line 1 item").fill("1")
    page.get_by_label("Line 1 description").fill("Site preparation and planting")
    page.get_by_label("Line 1 scheduled value (USD)").fill("20000.00")
    page.get_by_label("Line 1 this period (USD)").fill("12000.00")
    page.get_by_label("1.1 Planting").fill("12000.00")
    page.get_by_label("Your invoice number").fill("WC-2026-10")
    # The totals come back from the server (payor.invoices.math), live.
    page.locator("#preview-net").wait_for()
    assert page.locator("#preview-total").inner_text() == "$12,000.00"
    assert page.locator("#preview-retention").inner_text() == "− $1,200.00"
    assert page.locator("#preview-net").inner_text() == "$10,584.00"  # less the 2 % early-pay discount of 10,800.00
    photo = tmp_path / "site-photo.png"
    photo.write_bytes(png_bytes())
    page.get_by_label("SOV, timecards, photos, lien releases").set_input_files(str(photo))
    screenshot(page, "invoice-portal-new.png")
    page.get_by_role("button", name="Submit invoice").click()
    page.locator(".alert-success").wait_for()
    invoice = Invoice.objects.get(vendor_reference="WC-2026-10")
    assert page.url == f"{live_server.url}/invoices/{invoice.pk}/"
    assert page.locator("#invoice-status").inner_text() == "Submitted"
    assert page.get_by_alt_text("Preview of site-photo.png").is_visible()
    screenshot(page, "invoice-detail-vendor.png")

    approve_my_stage(page, live_server, billing.people["pm"], invoice, "invoice-approved-pm.png")
    approve_my_stage(page, live_server, billing.people["fin"], invoice, "invoice-approved-finance.png")
    approve_my_stage(page, live_server, billing.people["tre"], invoice, "invoice-approved-treasurer.png")
    assert page.locator("#invoice-status").inner_text() == "Approved"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.APPROVED
    ledger = page.locator("#ledger-effects").inner_text()
    assert re.search(r"ENCUMBER\s+committed\s+encumbered\s+1\.1\s+\$12,000\.00", ledger)
    assert re.search(r"RETAIN\s+encumbered\s+retention\s+1\.1\s+\$1,200\.00", ledger)
    summary = figures(billing)
    assert (summary.encumbered, summary.retention, summary.committed) == (
        usd("10800.00"),
        usd("1200.00"),
        usd("33000.00"),
    )

    # The home card (the finance screens), when installed: the same ledger figures.
    try:
        home = reverse("web:project-finance", args=[billing.world.project.pk])
    except NoReverseMatch:
        home = None
    if home:
        page.goto(f"{live_server.url}{home}")
        card = page.locator("main").inner_text()
        for amount in ("$10,800.00", "$1,200.00", "$33,000.00", "$105,000.00"):
            assert amount in card
        screenshot(page, "invoice-approved-finance-home.png")

    # The vendor tracks it in the portal.
    sign_in_as(page, live_server, vendor, "/portal/")
    row = page.locator("#portal-invoices tbody tr", has_text=invoice.number)
    assert "Approved" in row.inner_text()
    assert "$12,000.00" in row.inner_text()
    screenshot(page, "invoice-portal-approved.png")

    # Phone width: the detail stays readable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/invoices/{invoice.pk}/")
    screenshot(page, "invoice-detail-phone.png")
    page.set_viewport_size({"width": 1280, "height": 860})


def _submitted(billing, amount: str, item: str, *, contract=None, actor=None) -> Invoice:
    return invoice_create(
        actor=actor or billing.vendor_user,
        contract=contract or billing.contract,
        data=billing.data(SovLineIn(item, "Planting", usd(amount), this_period=usd(amount)), coding={"1.1": amount}),
    )


def test_queue_filters_bulk_approval_and_a_pm_refused_on_their_own_submission(page, live_server, billing):
    world, pm = billing.world, billing.people["pm"]
    alder = compliant(
        VendorFactory(organization=world.project.organization, name="Alder Survey Co"), coi_until=dt.date(2099, 1, 1)
    )
    grant_to(world, pm, ProjectRole.VENDOR, vendor=alder)  # the PM also acts for Alder and bills it
    own = _submitted(billing, "800.00", "A1", contract=contract_for(world, alder), actor=pm)
    one = _submitted(billing, "1000.00", "W1")
    two = _submitted(billing, "2500.00", "W2")
    invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("W3", "Fencing", usd("400.00"), this_period=usd("400.00")), coding={"1.2": "400.00"}
        ),
        submit=False,
    )

    sign_in_as(page, live_server, pm, "/invoices/")
    totals = page.locator("#queue-totals")
    assert "4 invoices" in totals.inner_text()
    assert "$4,700.00" in totals.inner_text()
    page.evaluate("window.__samePage = true")
    page.get_by_label("Status").select_option("submitted")
    page.wait_for_url(re.compile(r".*status=submitted.*"))
    page.locator("#queue-totals", has_text="3 invoices").wait_for()
    assert "$4,300.00" in page.locator("#queue-totals").inner_text()
    page.get_by_label("Awaiting me").check()
    page.wait_for_url(re.compile(r".*awaiting=1.*"))
    page.locator("#queue-totals", has_text="2 invoices").wait_for()  # not their own submission
    assert "$3,500.00" in page.locator("#queue-totals").inner_text()
    assert page.evaluate("window.__samePage") is True  # HTMX swapped the rows, no page load
    screenshot(page, "invoice-queue-filtered.png")

    # Select everything submitted, including their own invoice, and approve their stage in bulk.
    page.get_by_label("Awaiting me").uncheck()
    page.locator("#queue-totals", has_text="3 invoices").wait_for()
    page.get_by_label("Select every invoice on this page").check()  # the three submitted ones
    for invoice in (one, two, own):
        assert page.get_by_label(f"Select {invoice.number}").is_checked()
    page.get_by_role("button", name="Approve my stage for selected").click()
    results = page.locator("#bulk-results")
    results.wait_for()
    assert "2 approved" in results.inner_text()
    assert "1 refused" in results.inner_text()
    refused = results.locator(f'[data-invoice="{own.number}"]').inner_text()
    assert "Refused" in refused
    assert "approval_submitter_cannot_approve" in refused
    screenshot(page, "invoice-queue-bulk-approval.png")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "invoice-queue-phone.png")
    page.set_viewport_size({"width": 1280, "height": 860})
    for invoice, status in ((one, "under_review"), (two, "under_review"), (own, "submitted")):
        invoice.refresh_from_db()
        assert invoice.status == status

    # On the page of their own submission, approving is refused inline and nothing changes.
    page.goto(f"{live_server.url}/invoices/{own.pk}/")
    page.get_by_role("button", name=re.compile(r"^Approve .* stage$")).click()
    error = page.locator("#action-error")
    error.wait_for()
    assert "approval_submitter_cannot_approve" in error.inner_text()
    assert "Nothing was changed." in error.inner_text()
    own.refresh_from_db()
    assert own.status == InvoiceStatus.SUBMITTED
    screenshot(page, "invoice-self-approval-refused.png")


def test_a_vendor_cannot_reach_another_vendors_pages(page, live_server, billing):
    world = billing.world
    rival = compliant(
        VendorFactory(organization=world.project.organization, name="Rival Works"), coi_until=dt.date(2099, 1, 1)
    )
    rival_user = vendor_user_for(world, rival, email="billing@rival.test")
    rival_contract = contract_for(world, rival)
    theirs = _submitted(billing, "700.00", "R1", contract=rival_contract, actor=rival_user)

    sign_in_as(page, live_server, billing.vendor_user, "/portal/")
    assert "Rival Works" not in page.locator("main").inner_text()
    assert theirs.number not in page.locator("main").inner_text()
    nav = page.locator("aside").inner_text()
    assert "Invoices" not in nav
    assert "Audit log" not in nav
    assert "Vendor portal" in nav
    for path in (f"/invoices/{theirs.pk}/", f"/portal/contracts/{rival_contract.pk}/invoices/new/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None
        assert response.status == 404
    screenshot(page, "invoice-other-vendor-404.png")
    page.goto(f"{live_server.url}/invoices/")
    assert page.url == f"{live_server.url}/portal/"


FAKE_TYPED_DATA_WALLET = """
(() => {
  const address = %(address)r;
  window.ethereum = {
    async request({ method, params }) {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [address];
      if (method === "eth_chainId") return "0x1";
      if (method === "eth_signTypedData_v4") {
        if (params[0].toLowerCase() !== address.toLowerCase()) throw { code: 4100, message: "unknown account" };
        return await window.payorTestSignTypedData(params[1]);
      }
      throw { code: 4200, message: "unsupported method " + method };
    },
  };
})();
"""


def test_dao_signers_sign_in_the_wallet_or_paste_a_signature(page, live_server, billing):
    contract = big_contract(billing)
    invoice = _submitted(billing, "60000.00", "B1", contract=contract)
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        invoice = decide(billing, invoice, name, role)
    key = billing.world.keys["dao1"]
    signed: list[dict] = []

    def sign_typed_data(data: str) -> str:
        typed = json.loads(data)
        signed.append(typed)
        signature = key.sign_message(encode_typed_data(full_message=typed)).signature.hex()
        return signature if signature.startswith("0x") else f"0x{signature}"

    page.expose_function("payorTestSignTypedData", sign_typed_data)
    page.add_init_script(FAKE_TYPED_DATA_WALLET % {"address": key.address})

    # The first signer signs in the wallet: the page asks for the typed data and posts the signature.
    sign_in_as(page, live_server, billing.people["dao1"], f"/invoices/{invoice.pk}/")
    assert page.locator("#actions-title").inner_text() == "Your stage: DAO multisig signer"
    page.get_by_role("button", name="Sign approval in wallet").click()
    page.locator(".alert-success").wait_for()
    assert "waiting for 1 more signature" in page.locator("#invoice-waiting").inner_text()
    assert len(signed) == 1
    assert signed[0]["message"]["targetId"] == str(invoice.pk)
    assert signed[0]["message"]["decision"] == "approved"
    screenshot(page, "invoice-dao-signed-in-wallet.png")

    # The second pastes a signature made elsewhere; the server verifies it against their linked wallet.
    sign_in_as(page, live_server, billing.people["dao2"], f"/invoices/{invoice.pk}/")
    invoice.refresh_from_db()
    page.get_by_text("Paste a signature instead").click()
    page.get_by_label("Signature (0x + 130 hex digits)").fill(billing.sign("dao2", invoice))
    page.get_by_role("button", name="Submit signature").click()
    page.locator(".alert-success").wait_for()
    assert page.locator("#invoice-status").inner_text() == "Approved"
    screenshot(page, "invoice-dao-approved.png")
