"""The milestone-flow pages through the test client: the company's board, drafting form and review screen; the
contractor's inbox, terms (accept with the hash shown), milestone page (submit, outcome, payment status); the
notification inbox. Another contractor gets 404 everywhere; a contractor never reviews; refusals show inline with
nothing written."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_typed_data

from payor.accounts.models import Wallet
from payor.audit.models import AuditEvent
from payor.contracts.models import (
    Contract,
    Milestone,
    MilestoneStatus,
    Submission,
    SubmissionStatus,
    WorkRequest,
    WorkRequestStatus,
)
from payor.contracts.services import submission_review
from payor.contracts.tests.conftest import fast_password_hashing, flow, media, world
from payor.invoices.models import Invoice
from payor.notifications.models import Notification
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory
from payor.testing.milestones import PDF
from payor.web.tests.test_invoice_pages import client_for, text

__all__ = ["fast_password_hashing", "flow", "media", "world"]

pytestmark = pytest.mark.django_db


def board_url(flow) -> str:
    return f"/projects/{flow.world.project.pk}/milestones/"


def pdf_file(name: str = "report.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def draft_post(flow, *rows: tuple[str, str, str], **fields: str) -> dict[str, str]:
    """The work-request form as the browser posts it; ``rows`` are (title, amount, WBS code)."""
    data = {
        "vendor": str(flow.vendor.pk),
        "title": "Riparian planting, plot B",
        "scope": "Plant plot B",
        "retention_percent": "5.00",
        "terms_kind": "net_days",
        "net_days": "7",
        "discount_percent": "",
        "discount_days": "",
        "rows": str(len(rows)),
        **fields,
    }
    for index, (title, amount, code) in enumerate(rows):
        line = flow.world.lines[code].pk if code in flow.world.lines else code
        data |= {
            f"m-{index}-title": title,
            f"m-{index}-amount": amount,
            f"m-{index}-due_date": "2026-12-01",
            f"m-{index}-budget_line": str(line),
            f"m-{index}-description": "",
            f"m-{index}-acceptance_criteria": "",
        }
    return data


# --------------------------------------------------------------------------------------------------------------
# The board and who may open what
# --------------------------------------------------------------------------------------------------------------


def test_the_board_shows_each_milestone_with_exact_amounts_and_its_invoice_status(flow):
    accepted = flow.accepted()
    flow.approve(flow.submit(flow.milestone(accepted, 1)))
    flow.submit(flow.milestone(accepted, 2))
    draft = flow.draft(("Survey", "1000.00", "1.2"), title="Survey of plot C")

    page = client_for(flow.pm).get(board_url(flow))

    assert page.status_code == 200
    body = text(page)
    assert "WR-0001 · Riparian planting, plot A" in body
    assert "$39,845.68 Accepted" in body
    invoice = flow.milestone(accepted, 1).invoice
    assert (
        f"1 Site preparation WBS 1.1 · attempt 1 · due Dec 1, 2026 Dec 1, 2026 $12,345.67 Approved "
        f"Invoice submitted {invoice.number} Invoice submitted Open"
    ) in body
    assert (
        "2 Planting WBS 1.1 · attempt 1 · due Dec 31, 2026 Dec 31, 2026 $20,000.00 Submitted Not invoiced yet Review"
        in body
    )
    assert "3 Monitoring report WBS 1.2 · due Jan 30, 2027 Jan 30, 2027 $7,500.01 Pending Not invoiced yet" in body
    assert f"{draft.number} · Survey of plot C" in body
    assert "$1,000.00 Draft" in body
    # Counters: 1 pending, 1 to review, 0 revision requested, 1 approved.
    assert "1 Pending 1 To review 0 Revision requested 1 Approved" in body
    html = page.content.decode()
    assert f'action="/work-requests/{draft.pk}/send/"' in html
    assert "New work request" in body
    assert f'href="/projects/{flow.world.project.pk}/milestones/"' in html  # the menu entry


def test_company_users_without_the_role_get_403_and_contractors_never_see_the_board(flow):
    flow.accepted()
    fin = client_for(flow.world.people["fin"])
    assert fin.get(board_url(flow)).status_code == 200  # finance reads the board...
    assert "New work request" not in text(fin.get(board_url(flow)))
    assert fin.get(f"{board_url(flow)}new/").status_code == 403  # ...but does not draft
    contractor = client_for(flow.contractor)
    refused = contractor.get(board_url(flow))
    assert refused.status_code == 403
    assert "WR-0001" not in text(refused)
    outsider = client_for(UserFactory(email="nobody@example.test"))
    assert outsider.get(board_url(flow)).status_code == 404


def test_another_contractor_gets_404_on_every_page_of_someone_elses_request(flow):
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 1)
    submission = flow.submit(milestone)
    file_row = submission.files.get()
    other = client_for(flow.other_contractor)
    for url in (
        f"/portal/work-requests/{accepted.pk}/",
        f"/portal/milestones/{milestone.pk}/",
        f"/submissions/{submission.pk}/review/",
        f"/submissions/{submission.pk}/files/{file_row.pk}/",
        f"/work-requests/{accepted.pk}/",
        f"/milestones/{milestone.pk}/",
    ):
        assert other.get(url).status_code == 404, url
    assert other.post(f"/portal/work-requests/{accepted.pk}/decline/", {"reason": "x"}).status_code == 404
    assert other.post(f"/portal/milestones/{milestone.pk}/", {"note": "mine now"}).status_code == 404
    assert other.post(f"/submissions/{submission.pk}/review/", {"decision": "approved"}).status_code == 404
    inbox = other.get("/portal/work-requests/")
    assert inbox.status_code == 200
    assert accepted.number not in text(inbox)
    assert "No work requests" in text(inbox)
    assert Submission.objects.filter(milestone=milestone).count() == 1
    # Company users reading the project do not use the contractor's pages either.
    assert client_for(flow.pm).get(f"/portal/work-requests/{accepted.pk}/").status_code == 404


# --------------------------------------------------------------------------------------------------------------
# The contractor: inbox, accept, decline
# --------------------------------------------------------------------------------------------------------------


def test_the_inbox_shows_own_sent_requests_with_terms_hash_and_amounts(flow):
    sent = flow.sent()
    flow.draft(title="Not sent yet")
    flow.sent(vendor=flow.other_vendor, title="For Alder")
    page = client_for(flow.contractor).get("/portal/work-requests/")
    assert page.status_code == 200
    body = text(page)
    assert f"{sent.number} · Riparian planting, plot A" in body
    assert sent.terms_sha256 in body
    assert "Net 7 · retention 5.00 %" in body
    assert "$39,845.68 Sent" in body
    assert "1 Site preparation Due Dec 1, 2026 $12,345.67" in body
    assert "3 Monitoring report Due Jan 30, 2027 $7,500.01" in body
    assert "1 waiting for your answer" in body
    assert "Not sent yet" not in body
    assert "For Alder" not in body
    html = page.content.decode()
    assert 'href="/portal/work-requests/"' in html  # the "Work requests" menu entry
    assert 'href="/notifications/"' in html  # the inbox


def test_accept_with_a_wrong_hash_is_refused_and_nothing_is_written(flow):
    sent = flow.sent()
    client = client_for(flow.contractor)
    terms = client.get(f"/portal/work-requests/{sent.pk}/")
    assert terms.status_code == 200
    html = terms.content.decode()
    assert f'name="terms_sha256" value="{sent.terms_sha256}"' in html
    assert f'data-typed-data-url="/api/v1/work-requests/{sent.pk}/typed-data"' in html
    assert sent.terms_sha256 in text(terms)

    wrong = "0" * 64
    refused = client.post(f"/portal/work-requests/{sent.pk}/accept/", {"terms_sha256": wrong})
    assert refused.status_code == 409
    assert "work_request_terms_mismatch" in text(refused)
    assert "Nothing was changed." in text(refused)
    sent.refresh_from_db()
    assert sent.status == WorkRequestStatus.SENT
    assert sent.accepted_at is None
    assert not Contract.objects.filter(project=flow.world.project).exists()

    accepted = client.post(f"/portal/work-requests/{sent.pk}/accept/", {"terms_sha256": sent.terms_sha256})
    assert accepted.status_code == 302
    sent.refresh_from_db()
    assert sent.status == WorkRequestStatus.ACCEPTED
    assert sent.accepted_by == flow.contractor
    assert sent.contract is not None
    page = client.get(accepted["Location"])
    assert f"You accepted {sent.number} (contract {sent.contract.number})" in text(page)
    assert "Accept the terms" not in text(page)


def test_accept_signed_with_a_linked_wallet_through_the_typed_data_the_page_points_at(flow):
    key = Account.create()
    Wallet.objects.create(user=flow.contractor, address=key.address, chain_id=1, linked_at=timezone.now())
    sent = flow.sent()
    client = client_for(flow.contractor)
    # What work_request_sign.js does: fetch the typed data from the page's URL, sign it, post it with the hash.
    typed = client.get(f"/api/v1/work-requests/{sent.pk}/typed-data?chain_id=1").json()
    assert typed["message"]["termsSha256"] == "0x" + sent.terms_sha256
    signature = "0x" + key.sign_message(encode_typed_data(full_message=typed)).signature.hex()
    url = f"/portal/work-requests/{sent.pk}/accept/"

    unsigned_chain = client.post(url, {"terms_sha256": sent.terms_sha256, "signature": signature, "chain_id": ""})
    assert unsigned_chain.status_code == 422
    assert "work_request_invalid" in text(unsigned_chain)
    forged = "0x" + Account.create().sign_message(encode_typed_data(full_message=typed)).signature.hex()
    stranger = client.post(url, {"terms_sha256": sent.terms_sha256, "signature": forged, "chain_id": "1"})
    assert stranger.status_code == 403
    assert "approval_signer_not_linked" in text(stranger)
    sent.refresh_from_db()
    assert (sent.status, sent.signature) == (WorkRequestStatus.SENT, "")

    accepted = client.post(url, {"terms_sha256": sent.terms_sha256, "signature": signature, "chain_id": "1"})
    assert accepted.status_code == 302
    sent.refresh_from_db()
    assert (sent.status, sent.signer_address, sent.chain_id) == (WorkRequestStatus.ACCEPTED, key.address, 1)
    assert "Signed by wallet" in text(client.get(accepted["Location"]))


def test_a_contractor_declines_with_a_reason(flow):
    sent = flow.sent()
    response = client_for(flow.contractor).post(
        f"/portal/work-requests/{sent.pk}/decline/", {"reason": "Fully booked until spring"}
    )
    assert response.status_code == 302
    sent.refresh_from_db()
    assert (sent.status, sent.end_reason) == (WorkRequestStatus.DECLINED, "Fully booked until spring")
    assert Notification.objects.filter(recipient=flow.pm, kind="work_request.declined").count() == 1


# --------------------------------------------------------------------------------------------------------------
# The contractor: deliverables and payment status
# --------------------------------------------------------------------------------------------------------------


def test_submit_deliverables_then_see_the_outcome_and_the_payment_status(flow):
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 1)
    client = client_for(flow.contractor)
    url = f"/portal/milestones/{milestone.pk}/"

    empty = client.post(url, {"note": ""})
    assert empty.status_code == 422
    assert "submission_invalid" in text(empty)
    assert not Submission.objects.filter(milestone=milestone).exists()

    sent = client.post(url, {"note": "Site cleared, photos attached", "files": [pdf_file("site.pdf")]})
    assert sent.status_code == 302
    submission = Submission.objects.get(milestone=milestone)
    assert submission.note == "Site cleared, photos attached"
    assert [f.original_filename for f in submission.files.all()] == ["site.pdf"]
    page = client.get(url)
    assert "Attempt 1" in text(page)
    assert "site.pdf" in text(page)
    assert "Submit deliverables" not in text(page)  # one open submission at a time

    submission_review(actor=flow.pm, submission=submission, decision="revision_requested", note="Add the map")
    page = client.get(url)
    assert "Revision requested" in text(page)
    assert "Add the map" in text(page)
    assert "Submit a revision" in text(page)
    client.post(url, {"note": "Map added", "files": [pdf_file("site-map.pdf")]})
    flow.approve(Submission.objects.get(milestone=milestone, attempt=2))

    page = client.get(url)
    body = text(page)
    invoice = Invoice.objects.get(milestone=milestone)
    assert f"Invoice {invoice.number} Submitted" in body
    assert "Total $12,345.67" in body
    assert "Retention − $617.28" in body
    assert "Net payable $11,728.39" in body
    assert 'name="decision"' not in page.content.decode()  # a contractor never sees review actions


def test_the_file_download_is_audited_and_previews_inline(flow):
    accepted = flow.accepted()
    submission = flow.submit(flow.milestone(accepted, 1))
    row = submission.files.get()
    client = client_for(flow.pm)
    before = AuditEvent.objects.filter(action="submission.file_downloaded").count()
    download = client.get(f"/submissions/{submission.pk}/files/{row.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF-1.7")
    assert download["Content-Disposition"].startswith("attachment;")
    inline = client.get(f"/submissions/{submission.pk}/files/{row.pk}/?inline=1")
    assert inline["Content-Disposition"].startswith("inline;")
    assert inline["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'self'"
    assert AuditEvent.objects.filter(action="submission.file_downloaded").count() == before + 2


# --------------------------------------------------------------------------------------------------------------
# The company: review
# --------------------------------------------------------------------------------------------------------------


def test_the_pm_approves_on_the_review_screen_and_a_self_billed_invoice_follows(flow):
    accepted = flow.accepted()
    submission = flow.submit(flow.milestone(accepted, 1), note="All done")
    client = client_for(flow.pm)
    url = f"/submissions/{submission.pk}/review/"
    page = client.get(url)
    assert page.status_code == 200
    body = text(page)
    assert "All done" in body
    assert "report-0.pdf" in body
    assert "Approve milestone" in body
    assert f'src="/submissions/{submission.pk}/files/' in page.content.decode()

    done = client.post(url, {"decision": "approved", "note": ""})
    assert done.status_code == 302
    submission.refresh_from_db()
    invoice = submission.invoice
    assert submission.approval_status == SubmissionStatus.APPROVED
    assert (invoice.total.format(), invoice.net_payable.format()) == ("$12,345.67", "$11,728.39")
    page = client.get(url)
    assert f"Milestone approved: self-billed invoice {invoice.number} submitted for $12,345.67." in text(page)
    assert "Approve milestone" not in text(page)


def test_review_refusals_show_inline_and_change_nothing(flow):
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 1)
    submission = flow.submit(milestone)
    url = f"/submissions/{submission.pk}/review/"

    # A revision request needs a note.
    pm = client_for(flow.pm)
    no_note = pm.post(url, {"decision": "revision_requested", "note": ""})
    assert no_note.status_code == 422
    assert "submission_invalid" in text(no_note)
    assert "Nothing was changed." in text(no_note)

    # The contractor may not review: no actions on the page (sent to their milestone page) and a POST is refused.
    contractor = client_for(flow.contractor)
    shown = contractor.get(url)
    assert shown.status_code == 302
    assert shown["Location"] == f"/portal/milestones/{milestone.pk}/"
    refused = contractor.post(url, {"decision": "approved"})
    assert refused.status_code == 403
    assert "Contractors do not review their own deliverables" in text(refused)

    # A reviewer linked to the contractor.
    pm2 = flow.world.people["pm2"]
    ProjectRoleFactory(project=flow.world.project, user=pm2, role=ProjectRole.VENDOR, vendor=flow.vendor)
    linked = client_for(pm2).post(url, {"decision": "approved"})
    assert linked.status_code == 403
    assert "approval_vendor_conflict" in text(linked)

    submission.refresh_from_db()
    milestone.refresh_from_db()
    assert submission.approval_status == SubmissionStatus.SUBMITTED
    assert (submission.reviewer, submission.invoice) == (None, None)
    assert milestone.status == MilestoneStatus.SUBMITTED
    assert not Invoice.objects.filter(contract=accepted.contract).exists()


def test_the_approver_cannot_be_the_submitter(flow):
    pm2 = flow.world.people["pm2"]
    ProjectRoleFactory(project=flow.world.project, user=pm2, role=ProjectRole.VENDOR, vendor=flow.vendor)
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 1)
    client = client_for(pm2)
    assert client.post(f"/portal/milestones/{milestone.pk}/", {"note": "Done by me"}).status_code == 302
    submission = Submission.objects.get(milestone=milestone)
    refused = client.post(f"/submissions/{submission.pk}/review/", {"decision": "approved"})
    assert refused.status_code == 403
    assert "approval_submitter_cannot_approve" in text(refused)
    submission.refresh_from_db()
    assert submission.approval_status == SubmissionStatus.SUBMITTED


# --------------------------------------------------------------------------------------------------------------
# The company: drafting, sending, withdrawing
# --------------------------------------------------------------------------------------------------------------


def test_the_pm_drafts_and_sends_a_work_request_from_the_form(flow):
    client = client_for(flow.pm)
    form = client.get(f"{board_url(flow)}new/")
    assert form.status_code == 200
    assert "Willow Creek Restoration" in text(form)
    assert "1.1 Planting" in text(form)
    assert '<option value="{}"'.format(flow.world.lines["1"].pk) not in form.content.decode()  # not a leaf

    response = client.post(
        f"{board_url(flow)}new/",
        draft_post(flow, ("Plant plot B", "1234.56", "1.1"), ("Report", "99.99", "1.2"), intent="send"),
    )
    assert response.status_code == 302
    work_request = WorkRequest.objects.get(title="Riparian planting, plot B")
    assert work_request.status == WorkRequestStatus.SENT
    assert work_request.terms_label == "Net 7"
    assert str(work_request.retention_percent) == "5.00"
    assert [(m.title, m.amount.format()) for m in work_request.milestones.order_by("position")] == [
        ("Plant plot B", "$1,234.56"),
        ("Report", "$99.99"),
    ]
    board = client.get(response["Location"])
    assert f"{work_request.number} sent to Willow Creek Restoration. Terms SHA-256 {work_request.terms_sha256}." in (
        text(board)
    )
    assert "$1,334.55 Sent" in text(board)


@pytest.mark.parametrize(
    ("rows", "fields", "status", "code", "marked"),
    [
        ((("Plant", "12.5x", "1.1"),), {}, 422, "validation_error", 'id="m-0-amount"'),
        ((("Plant", "100.00", "1"),), {}, 409, "budget_line_not_leaf", 'id="m-0-budget_line"'),
        ((("Plant", "100.00", "1.1"), ("", "-5.00", "1.2")), {}, 422, "work_request_invalid", 'id="m-1-amount"'),
        ((), {}, 422, "work_request_invalid", ""),
        (
            (("Plant", "100.00", "1.1"),),
            {"retention_percent": "150"},
            422,
            "work_request_invalid",
            'id="retention_percent"',
        ),
        ((("Plant", "100.00", "1.1"),), {"title": ""}, 422, "work_request_invalid", 'id="title"'),
    ],
)
def test_form_errors_show_inline_and_nothing_is_written(flow, rows, fields, status, code, marked):
    before = (WorkRequest.objects.count(), Milestone.objects.count(), AuditEvent.objects.count())
    response = client_for(flow.pm).post(f"{board_url(flow)}new/", draft_post(flow, *rows, intent="send", **fields))
    assert response.status_code == status
    assert code in text(response)
    assert "Nothing was changed." in text(response)
    html = response.content.decode()
    if marked:
        assert re.search(r'class="[^"]*is-invalid[^"]*" ' + re.escape(marked), html), marked
    # What was typed is kept.
    for _title, amount, _ in rows:
        if amount:
            assert f'value="{amount}"' in html
    assert (WorkRequest.objects.count(), Milestone.objects.count(), AuditEvent.objects.count()) == before


def test_add_and_remove_milestone_rows_write_nothing(flow):
    client = client_for(flow.pm)
    data = draft_post(flow, ("Keep", "1.00", "1.1"), ("Drop", "2.00", "1.2"))
    added = client.post(f"{board_url(flow)}new/", data | {"add": "1"})
    assert added.status_code == 200
    assert 'name="rows" value="3"' in added.content.decode()
    removed = client.post(f"{board_url(flow)}new/", data | {"remove": "1"})
    html = removed.content.decode()
    assert 'name="rows" value="1"' in html
    assert 'value="Keep"' in html
    assert 'value="Drop"' not in html
    assert not WorkRequest.objects.exists()


def test_the_pm_edits_a_draft_and_sends_it_and_a_sent_request_is_not_edited(flow):
    draft = flow.draft()
    client = client_for(flow.pm)
    url = f"/work-requests/{draft.pk}/edit/"
    form = client.get(url)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="rows" value="3"' in html
    assert 'value="12345.67"' in html
    assert f"Edit {draft.number}" in text(form)
    data = draft_post(flow, ("Site preparation", "12000.00", "1.1"), title="Plot A, revised", intent="send")
    data["vendor"] = str(flow.other_vendor.pk)  # ignored: a draft keeps its contractor
    refused = client.post(url, data | {"m-0-amount": "0"})
    assert refused.status_code == 422
    draft.refresh_from_db()
    assert (draft.title, draft.status, draft.milestones.count()) == ("Riparian planting, plot A", "draft", 3)
    saved = client.post(url, data)
    assert saved.status_code == 302
    draft.refresh_from_db()
    assert (draft.title, draft.status, draft.vendor) == ("Plot A, revised", WorkRequestStatus.SENT, flow.vendor)
    assert [m.amount.format() for m in draft.milestones.all()] == ["$12,000.00"]
    assert client.get(url)["Location"] == f"/projects/{flow.world.project.pk}/milestones/#wr-{draft.pk}"
    assert client_for(flow.world.people["fin"]).get(url).status_code == 403
    assert client_for(flow.contractor).get(url).status_code == 404


def test_send_and_withdraw_from_the_board(flow):
    draft = flow.draft()
    client = client_for(flow.pm)
    assert client.post(f"/work-requests/{draft.pk}/send/").status_code == 302
    draft.refresh_from_db()
    assert draft.status == WorkRequestStatus.SENT
    again = client.post(f"/work-requests/{draft.pk}/withdraw/", {"reason": ""}, follow=True)
    draft.refresh_from_db()
    assert draft.status == WorkRequestStatus.WITHDRAWN
    assert f"{draft.number} withdrawn" in text(again)
    # Withdrawn is final: sending again is refused with the domain's code, nothing changes.
    refused = client.post(f"/work-requests/{draft.pk}/send/", follow=True)
    assert "work_request_state_invalid" in text(refused)
    draft.refresh_from_db()
    assert draft.status == WorkRequestStatus.WITHDRAWN
    # The contractor cannot send or withdraw.
    assert client_for(flow.contractor).post(f"/work-requests/{draft.pk}/send/").status_code == 404


# --------------------------------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------------------------------


def test_the_inbox_lists_own_notifications_marks_them_read_and_badges_the_unread(flow):
    sent = flow.sent()
    client = client_for(flow.contractor)
    page = client.get("/notifications/")
    assert page.status_code == 200
    mine = Notification.objects.get(recipient=flow.contractor)
    assert mine.title in text(page)
    assert re.search(r'id="inbox-unread"[^>]*>\s*1\s*<', page.content.decode())
    assert not Notification.objects.filter(recipient=flow.other_contractor).exists()
    # Someone else's message is not theirs to mark.
    assert client_for(flow.other_contractor).post(f"/notifications/{mine.pk}/read/").status_code == 404
    opened = client.post(f"/notifications/{mine.pk}/read/", {"open": "1"})
    assert opened.status_code == 302
    assert opened["Location"] == f"/work-requests/{sent.pk}/"
    assert client.get(opened["Location"])["Location"] == f"/portal/work-requests/{sent.pk}/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert 'id="inbox-unread"' not in client.get("/notifications/").content.decode()
    assert "Nothing unread" in text(client.get("/notifications/?unread=1"))


def test_a_pdf_upload_of_the_wrong_type_is_refused_inline(flow):
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 1)
    bogus = SimpleUploadedFile(
        "notes.pdf",
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04",
        content_type="application/pdf",
    )
    refused = client_for(flow.contractor).post(f"/portal/milestones/{milestone.pk}/", {"note": "x", "files": [bogus]})
    assert refused.status_code == 415
    assert "file_type_not_allowed" in text(refused)
    assert not Submission.objects.filter(milestone=milestone).exists()
