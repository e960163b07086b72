"""The milestone flow in a real browser (issue 6): the PM drafts and sends a work request, the contractor accepts it
(the terms' SHA-256 shown and posted back), submits a deliverable with a file, the PM asks for a revision, the
contractor resubmits, the PM approves, and the board shows the milestone approved with its self-billed invoice
submitted. Full-page screenshots (desktop and phone width) go to ``test-artifacts/``."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_typed_data

from payor.accounts.models import Wallet
from payor.contracts.models import MilestoneStatus, Submission, WorkRequest, WorkRequestStatus
from payor.contracts.tests.conftest import fast_password_hashing, flow, media, world
from payor.invoices.models import InvoiceStatus
from payor.testing.milestones import PDF
from tests.browser.test_invoice_journeys import FAKE_TYPED_DATA_WALLET, sign_in_as
from tests.browser.test_wallet_sign_in import screenshot

__all__ = ["fast_password_hashing", "flow", "media", "world"]

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def phone_shot(page, name: str) -> None:
    page.set_viewport_size(PHONE)
    screenshot(page, name)
    page.set_viewport_size(DESKTOP)


def test_work_request_to_approved_milestone(page, live_server, flow, tmp_path):
    project = flow.world.project
    board = f"/projects/{project.pk}/milestones/"

    # The PM drafts and sends a work request with two milestones (one row added in the form).
    sign_in_as(page, live_server, flow.pm, f"{board}new/")
    page.get_by_label("Contractor").select_option(label="Willow Creek Restoration")
    page.get_by_label("Title", exact=True).fill("Riparian planting, plot B")
    page.get_by_label("Scope of work").fill("Prepare and plant plot B along the creek.")
    page.get_by_label("Retention").fill("5.00")
    page.get_by_label("Payment terms").select_option("net_days")
    page.get_by_label("Net days").fill("7")
    page.get_by_label("Milestone 1 title").fill("Site preparation")
    page.get_by_label("Milestone 1 amount").fill("12345.67")
    page.get_by_label("Milestone 1 due date").fill("2026-12-01")
    page.get_by_label("Milestone 1 budget line").select_option(label="1.1 Planting")
    page.get_by_label("Milestone 1 acceptance criteria").fill("Cleared and staked, photos")
    page.get_by_label("Milestone 2 title").fill("Monitoring report")
    page.get_by_label("Milestone 2 amount").fill("7500.01")
    page.get_by_label("Milestone 2 budget line").select_option(label="1.2 Monitoring")
    screenshot(page, "milestones-new-work-request.png")
    page.get_by_role("button", name="Save and send").click()
    page.locator(".alert-success").wait_for()
    work_request = WorkRequest.objects.get(title="Riparian planting, plot B")
    assert work_request.status == WorkRequestStatus.SENT
    assert page.locator(f"#wr-{work_request.pk} [data-wr-status]").inner_text() == "Sent"

    # The contractor sees it in the inbox with the hash, and accepts.
    sign_in_as(page, live_server, flow.contractor, "/portal/work-requests/")
    card = page.locator(f"#wr-{work_request.pk}")
    assert card.locator("[data-terms-sha256]").inner_text() == work_request.terms_sha256
    assert "$19,845.68" in card.inner_text()
    assert page.locator("#inbox-unread").first.inner_text() == "1"
    screenshot(page, "milestones-contractor-inbox.png")
    phone_shot(page, "milestones-contractor-inbox-phone.png")
    card.get_by_role("link", name=re.compile("Review the terms and answer")).click()
    assert page.locator("#terms-sha256").inner_text() == work_request.terms_sha256
    screenshot(page, "milestones-contractor-terms.png")
    phone_shot(page, "milestones-contractor-terms-phone.png")
    page.get_by_role("button", name="Accept the terms").click()
    page.locator(".alert-success").wait_for()
    work_request.refresh_from_db()
    assert work_request.status == WorkRequestStatus.ACCEPTED
    assert page.locator("#wr-status").inner_text() == "Accepted"

    # ... and submits the first milestone's deliverable with a file.
    page.get_by_role("link", name="Site preparation").click()
    report = tmp_path / "site-report.pdf"
    report.write_bytes(PDF)
    page.get_by_label("Note").fill("Site cleared and staked; report attached.")
    page.get_by_label("Deliverable files").set_input_files(str(report))
    page.get_by_role("button", name="Submit for review").click()
    page.locator(".alert-success").wait_for()
    assert page.locator("#milestone-status").inner_text() == "Submitted"
    milestone = work_request.milestones.get(position=1)
    first = Submission.objects.get(milestone=milestone, attempt=1)

    # The PM asks for a revision from the review screen.
    sign_in_as(page, live_server, flow.pm, board)
    page.get_by_role("link", name=re.compile(r"Review milestone 1")).click()
    page.wait_for_url(f"{live_server.url}/submissions/{first.pk}/review/")
    assert "site-report.pdf" in page.locator("main").inner_text()
    screenshot(page, "milestones-review.png")
    page.get_by_label("Note to the contractor").fill("Please add the planting map.")
    page.get_by_role("button", name="Request revision").click()
    page.locator(".alert-success").wait_for()
    assert page.locator("#submission-status").inner_text() == "Revision requested"

    # The contractor reads the note and resubmits.
    sign_in_as(page, live_server, flow.contractor, f"/portal/milestones/{milestone.pk}/")
    assert "Please add the planting map." in page.locator("#revision-note").inner_text()
    page.get_by_label("Note").fill("Map added on page 2.")
    page.get_by_label("Deliverable files").set_input_files(str(report))
    page.get_by_role("button", name="Submit for review").click()
    page.locator(".alert-success").wait_for()
    second = Submission.objects.get(milestone=milestone, attempt=2)
    screenshot(page, "milestones-contractor-milestone.png")

    # The PM approves: the self-billed invoice is created and submitted.
    sign_in_as(page, live_server, flow.pm, f"/submissions/{second.pk}/review/")
    page.get_by_role("button", name="Approve milestone").click()
    page.locator(".alert-success").wait_for()
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.APPROVED
    assert milestone.invoice.status == InvoiceStatus.SUBMITTED
    page.goto(f"{live_server.url}{board}")
    row = page.locator(f"#m-{milestone.pk}")
    assert row.locator("[data-milestone-status]").inner_text() == "Approved"
    assert row.locator("[data-invoice-status]:visible").inner_text() == "Invoice submitted"
    assert milestone.invoice.number in row.inner_text()
    assert "$12,345.67" in row.inner_text()
    screenshot(page, "milestones-board.png")
    phone_shot(page, "milestones-board-phone.png")

    # The contractor sees the outcome and the payment status on the milestone page.
    sign_in_as(page, live_server, flow.contractor, f"/portal/milestones/{milestone.pk}/")
    assert page.locator("#invoice-status").inner_text() == "Submitted"
    payment = page.locator("#payment-status").inner_text()
    assert "$11,728.39" in payment  # net payable: 12,345.67 less 5 % retention (617.28)
    screenshot(page, "milestones-contractor-approved.png")
    phone_shot(page, "milestones-contractor-approved-phone.png")

    # Their inbox: the request, the revision request and the approval, newest first.
    page.get_by_role("link", name=re.compile(r"^Inbox")).click()
    page.wait_for_url(f"{live_server.url}/notifications/")
    titles = page.locator("#notifications [data-notification]").all_inner_texts()
    assert len(titles) == 3
    screenshot(page, "milestones-notifications.png")


def test_a_contractor_accepts_by_signing_the_terms_in_the_wallet(page, live_server, flow):
    key = Account.create()
    Wallet.objects.create(user=flow.contractor, address=key.address, chain_id=1, linked_at=timezone.now())
    sent = flow.sent()
    signed: list[dict] = []

    def sign_typed_data(data: str) -> str:
        typed = json.loads(data)
        signed.append(typed)
        return "0x" + key.sign_message(encode_typed_data(full_message=typed)).signature.hex().removeprefix("0x")

    page.expose_function("payorTestSignTypedData", sign_typed_data)
    page.add_init_script(FAKE_TYPED_DATA_WALLET % {"address": key.address})

    sign_in_as(page, live_server, flow.contractor, f"/portal/work-requests/{sent.pk}/")
    page.get_by_role("button", name="Sign with my wallet and accept").click()
    page.locator(".alert-success").wait_for()

    assert len(signed) == 1
    assert signed[0]["message"]["termsSha256"] == "0x" + sent.terms_sha256
    sent.refresh_from_db()
    assert (sent.status, sent.signer_address, sent.chain_id) == (WorkRequestStatus.ACCEPTED, key.address, 1)
    assert page.locator("#wr-status").inner_text() == "Accepted"
    short = f"{key.address[:10]}…{key.address[-8:]}"
    assert f"Signed by wallet {short} on chain 1" in page.inner_text("main")
    screenshot(page, "milestones-contractor-signed-acceptance.png")
