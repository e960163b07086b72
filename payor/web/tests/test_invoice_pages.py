"""The Invoices Queue and Invoice Detail pages through the test client: who reaches what, exact figures, decisions
through the same services as the API (refusals inline with their code, nothing written), bulk approval that
respects every control, the audited inline attachment preview."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re

import pytest
from django.test import Client

from payor.approvals.models import ApprovalDecision
from payor.audit.models import AuditEvent
from payor.invoices.math import SovLineIn
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_attachment_add, invoice_create
from payor.invoices.tests.conftest import (
    CHAIN,
    FIN,
    PM,
    TREAS,
    big_contract,
    billing,
    contract_for,
    decide,
    fast_password_hashing,
    full_state,
    grant_to,
    media,
    usd,
    world,
)
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.tests.conftest import compliant, pdf_bytes, png_bytes
from payor.web import invoice_views

__all__ = ["billing", "fast_password_hashing", "media", "world"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


_ITEMS = itertools.count(1)


def submitted(billing, amount: str, *, contract=None, actor=None) -> Invoice:
    """A submitted invoice billing ``amount`` (a new SOV item of that scheduled value, all coded to 1.1)."""
    item = f"S{next(_ITEMS)}"
    return invoice_create(
        actor=actor or billing.vendor_user,
        contract=contract or billing.contract,
        data=billing.data(SovLineIn(item, "Planting", usd(amount), this_period=usd(amount)), coding={"1.1": amount}),
    )


def second_vendor(billing, user):
    """Another compliant vendor with an executed contract, for which ``user`` acts (a VENDOR role)."""
    world = billing.world
    vendor = compliant(
        VendorFactory(organization=world.project.organization, name="Alder Survey Co"), coi_until=dt.date(2099, 1, 1)
    )
    grant_to(world, user, ProjectRole.VENDOR, vendor=vendor)
    return vendor, contract_for(world, vendor)


def text(response) -> str:
    """The page's visible text, tags stripped and whitespace collapsed (for exact-figure assertions)."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --------------------------------------------------------------------------------------------------------------
# Queue
# --------------------------------------------------------------------------------------------------------------


def test_queue_filters_sorts_and_totals_the_filtered_set(billing):
    small = submitted(billing, "1000.00")
    large = submitted(billing, "12000.00")
    draft = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("2", "Fencing", usd("500.00"), this_period=usd("500.00")), coding={"1.2": "500.00"}
        ),
        submit=False,
    )
    fin = client_for(billing.people["fin"])

    page = fin.get("/invoices/")
    assert page.status_code == 200
    body = text(page)
    assert {small.number, large.number, draft.number} <= set(re.findall(r"INV-\d{4}", body))
    assert "3 invoices · $13,500.00" in body

    filtered = text(fin.get("/invoices/", {"status": "submitted", "sort": "-total"}))
    assert "2 invoices · $13,000.00" in filtered
    assert draft.number not in filtered
    assert filtered.index(large.number) < filtered.index(small.number)  # largest first

    ascending = text(fin.get("/invoices/", {"status": "submitted", "sort": "total"}))
    assert ascending.index(small.number) < ascending.index(large.number)

    by_vendor = text(
        fin.get("/invoices/", {"vendor": str(billing.vendor.pk), "project": str(billing.world.project.pk)})
    )
    assert "3 invoices · $13,500.00" in by_vendor

    # Nothing is due before approval: a due-date range leaves every invoice out.
    due = text(fin.get("/invoices/", {"due_from": "2026-01-01", "due_to": "2027-12-31"}))
    assert "No invoices match these filters" in due

    # HTMX asks for the rows only.
    fragment = fin.get("/invoices/", {"status": "draft"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert b'id="invoice-filters"' not in fragment.content
    assert "1 invoice · $500.00" in text(fragment)


def test_queue_refuses_bad_filters_inline(billing):
    fin = client_for(billing.people["fin"])
    response = fin.get("/invoices/", {"due_from": "someday"})
    assert response.status_code == 400
    assert "Due from: enter a date as YYYY-MM-DD" in text(response)
    assert "validation_error" in text(response)


def test_awaiting_me_lists_what_the_viewer_can_decide_now(billing):
    first = submitted(billing, "1000.00")
    second = submitted(billing, "2000.00")
    decide(billing, second, "pm", PM)  # the PM stage is done: finance is next on the second
    pm, fin = client_for(billing.people["pm"]), client_for(billing.people["fin"])

    mine = text(pm.get("/invoices/", {"awaiting": "1"}))
    assert first.number in mine
    assert second.number not in mine
    assert "1 invoice · $1,000.00" in mine

    theirs = text(fin.get("/invoices/", {"awaiting": "1"}))
    assert second.number in theirs
    assert first.number not in theirs
    # pm2 also holds PM, but the first's PM stage is open to them too; the second's stage is finance's.
    assert first.number in text(client_for(billing.people["pm2"]).get("/invoices/", {"awaiting": "1"}))


def test_a_vendor_user_is_sent_to_the_portal(billing):
    response = client_for(billing.vendor_user).get("/invoices/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"


def test_bulk_approval_runs_every_control_per_invoice(billing):
    """The PM also acts for a second vendor and submitted its invoice: approving it is refused (segregation of
    duties) and writes nothing for it, while the others are approved."""
    pm = billing.people["pm"]
    _, other_contract = second_vendor(billing, pm)
    one = submitted(billing, "1000.00")
    two = submitted(billing, "12000.00")
    own = submitted(billing, "800.00", contract=other_contract, actor=pm)
    client = client_for(pm)
    own_decisions = ApprovalDecision.objects.filter(target_id=own.pk).count()
    audit_before = AuditEvent.objects.filter(subject_id=str(own.pk)).count()

    response = client.post(
        "/invoices/bulk-approve/",
        {"invoice": [str(one.pk), str(own.pk), str(two.pk)], "next": "/invoices/?status=submitted"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/invoices/?status=submitted"

    for invoice in (one, two):
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.UNDER_REVIEW
        assert list(ApprovalDecision.objects.filter(target_id=invoice.pk).values_list("role", "decision")) == [
            ("PROJECT_MANAGER", "approved")
        ]
    own.refresh_from_db()
    assert own.status == InvoiceStatus.SUBMITTED
    assert ApprovalDecision.objects.filter(target_id=own.pk).count() == own_decisions == 0
    assert AuditEvent.objects.filter(subject_id=str(own.pk)).count() == audit_before

    page = client.get("/invoices/?status=submitted")
    body = text(page)
    assert "2 approved" in body
    assert "1 refused" in body
    assert f"{own.number} Refused" in body
    assert "approval_submitter_cannot_approve" in body
    # The result is shown once.
    assert "Bulk approval" not in text(client.get("/invoices/"))


def test_bulk_approval_leaves_dao_stages_to_a_wallet_signature(billing):
    contract = big_contract(billing)
    invoice = submitted(billing, "60000.00", contract=contract)
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        invoice = decide(billing, invoice, name, role)
    before = full_state(billing)
    client = client_for(billing.people["dao1"])
    client.post("/invoices/bulk-approve/", {"invoice": [str(invoice.pk)]})
    assert full_state(billing) == before
    body = text(client.get("/invoices/"))
    assert "1 need a signature" in body
    assert "approval_signature_required" in body


def test_bulk_approval_of_an_invoice_one_cannot_see_is_refused_as_not_found(billing):
    invoice = submitted(billing, "1000.00")
    elsewhere = UserFactory(email="fin@elsewhere.test")
    ProjectRoleFactory(user=elsewhere, role=FIN, limit=usd("1000000.00"))  # finance on another project
    client = client_for(elsewhere)
    client.post("/invoices/bulk-approve/", {"invoice": [str(invoice.pk), "not-a-uuid"]})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SUBMITTED
    assert not ApprovalDecision.objects.filter(target_id=invoice.pk).exists()
    body = text(client.get("/invoices/"))
    assert "0 approved" in body
    assert "2 refused" in body
    assert body.count("invoice_not_found") == 2


# --------------------------------------------------------------------------------------------------------------
# Detail
# --------------------------------------------------------------------------------------------------------------


def test_detail_shows_figures_coding_plan_funds_and_ledger(billing):
    invoice = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Site preparation", usd("10000.00"), this_period=usd("4000.00")),
            SovLineIn("2", "Planting", usd("20000.00"), this_period=usd("8000.00")),
            coding={"1.1": "9000.00", "1.2": "3000.00"},
            taxes="120.00",
        ),
    )
    body = text(client_for(billing.people["fin"]).get(f"/invoices/{invoice.pk}/"))
    assert f"Invoice {invoice.number}" in body
    assert "Submitted" in body
    assert "Subtotal $12,000.00" in body
    assert "Total $12,120.00" in body
    assert "Retention (10.00 %) $1,200.00" in body
    assert "Net payable $10,704.00" in body  # 12,120.00 - 1,200.00 - 216.00 (2 % of 10,800.00, early pay)
    assert "Early-pay discount $216.00" in body
    # SOV and coding.
    assert "1 Site preparation $10,000.00 $0.00 $4,000.00 40.00 %" in body
    assert "1.1 Planting $9,000.00 $90.00 $9,090.00" in body
    # Approval plan: band 2 (PM, finance, treasurer); the next stage lists who may sign.
    assert "Band 2" in body
    assert "Next — may sign: " in body
    # Funds: encumbered at submission; the line's commitment before and after this invoice.
    assert "Funds required $11,904.00" in body  # 12,120.00 - 216.00
    assert "Project available Before $105,000.00 After $105,000.00" in body  # no fees: available untouched
    assert "1.1 Planting $30,000.00 $20,910.00 − $9,090.00" in body
    assert "1.2 Monitoring $15,000.00 $11,970.00 − $3,030.00" in body
    # Ledger: ENCUMBER per line.
    assert "ENCUMBER committed encumbered 1.1 $9,090.00" in body
    assert "ENCUMBER committed encumbered 1.2 $3,030.00" in body


def test_the_vendor_sees_its_invoice_without_approvers_ledger_or_funds(billing, world):
    invoice = submitted(billing, "1000.00")
    decide(billing, invoice, "pm", PM, note="Quantities checked")
    own = client_for(billing.vendor_user).get(f"/invoices/{invoice.pk}/")
    assert own.status_code == 200
    body = text(own)
    assert "Quantities checked" in body
    assert "pm@example.test" not in body
    assert billing.people["pm"].display_name not in body
    assert "Ledger effects" not in body
    assert "Funds availability" not in body

    other_user = UserFactory(email="other@vendor.test")
    grant_to(world, other_user, ProjectRole.VENDOR)  # a VENDOR role for another vendor
    assert client_for(other_user).get(f"/invoices/{invoice.pk}/").status_code == 404
    assert client_for(other_user).post(f"/invoices/{invoice.pk}/action/", {"action": "withdraw"}).status_code == 404


def test_approving_in_turn_through_the_page(billing):
    invoice = submitted(billing, "12000.00")
    url = f"/invoices/{invoice.pk}/"
    for name, role, status in (
        ("pm", "PROJECT_MANAGER", "under_review"),
        ("fin", "FINANCE_REVIEWER", "under_review"),
        ("tre", "TREASURER", "approved"),
    ):
        client = client_for(billing.people[name])
        assert "Your stage" in text(client.get(url))
        response = client.post(f"{url}action/", {"action": "approved", "role": role})
        assert response.status_code == 302
        assert response["Location"] == url
        invoice.refresh_from_db()
        assert invoice.status == status
    body = text(client_for(billing.people["fin"]).get(url))
    assert "Approved" in body
    assert "RETAIN encumbered retention 1.1 $1,200.00" in body
    assert "ENCUMBER committed encumbered 1.1 $12,000.00" in body


def test_a_pm_approving_their_own_submission_sees_the_refusal(billing):
    pm = billing.people["pm"]
    _, other_contract = second_vendor(billing, pm)
    invoice = submitted(billing, "800.00", contract=other_contract, actor=pm)
    before = full_state(billing)
    response = client_for(pm).post(f"/invoices/{invoice.pk}/action/", {"action": "approved", "role": "PROJECT_MANAGER"})
    assert response.status_code == 403
    body = text(response)
    assert "approval_submitter_cannot_approve" in body
    assert "Nothing was changed." in body
    assert full_state(billing) == before


def test_reject_and_return_need_a_note(billing):
    invoice = submitted(billing, "1000.00")
    before = full_state(billing)
    client = client_for(billing.people["pm"])
    response = client.post(f"/invoices/{invoice.pk}/action/", {"action": "rejected", "role": "PROJECT_MANAGER"})
    assert response.status_code == 422
    assert "approval_note_required" in text(response)
    assert full_state(billing) == before

    response = client.post(
        f"/invoices/{invoice.pk}/action/",
        {"action": "returned", "role": "PROJECT_MANAGER", "note": "Attach the timecards"},
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.round, invoice.return_note) == ("draft", 2, "Attach the timecards")
    assert "Returned for revision: Attach the timecards" in text(
        client_for(billing.vendor_user).get(f"/invoices/{invoice.pk}/")
    )


def test_dao_signers_sign_the_typed_data_the_page_shows(billing):
    contract = big_contract(billing)
    invoice = submitted(billing, "60000.00", contract=contract)
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        invoice = decide(billing, invoice, name, role)
    url = f"/invoices/{invoice.pk}/"
    dao = client_for(billing.people["dao1"])
    page = text(dao.get(url))
    assert "Sign approval in wallet" in page
    assert '"primaryType": "ApprovalDecision"' in page.replace("&quot;", '"')
    assert f'"targetId": "{invoice.pk}"' in page.replace("&quot;", '"')

    before = full_state(billing)
    bad = dao.post(
        f"{url}action/",
        {"action": "approved", "role": "DAO_MULTISIG", "chain_id": str(CHAIN), "signature": "0x" + "ab" * 65},
    )
    assert bad.status_code in (403, 422)
    assert re.search(r"approval_signature_invalid|approval_signer_not_linked", text(bad))
    assert full_state(billing) == before

    for name in ("dao1", "dao2"):
        response = client_for(billing.people[name]).post(
            f"{url}action/",
            {
                "action": "approved",
                "role": "DAO_MULTISIG",
                "chain_id": str(CHAIN),
                "signature": billing.sign(name, invoice),
            },
        )
        assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.APPROVED
    signed = ApprovalDecision.objects.filter(target_id=invoice.pk, role="DAO_MULTISIG")
    assert {d.signer_address for d in signed} == {billing.world.keys[n].address for n in ("dao1", "dao2")}


def test_attachments_preview_inline_audited_and_framed_by_this_site_only(billing):
    invoice = submitted(billing, "1000.00")
    pdf = invoice_attachment_add(
        actor=billing.vendor_user, invoice=invoice, file=io.BytesIO(pdf_bytes()), filename="sov.pdf"
    )
    png = invoice_attachment_add(
        actor=billing.vendor_user, invoice=invoice, file=io.BytesIO(png_bytes()), filename="site.png"
    )
    client = client_for(billing.people["fin"])
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert f'src="/invoices/{invoice.pk}/attachments/{png.pk}/?inline=1"' in page
    assert f'<iframe src="/invoices/{invoice.pk}/attachments/{pdf.pk}/?inline=1"' in page

    downloads = AuditEvent.objects.filter(action="invoice.attachment_downloaded").count()
    inline = client.get(f"/invoices/{invoice.pk}/attachments/{pdf.pk}/?inline=1")
    assert inline.status_code == 200
    assert inline["Content-Disposition"].startswith("inline")
    assert inline["X-Frame-Options"] == "SAMEORIGIN"
    assert inline["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'self'"
    assert b"".join(inline.streaming_content) == pdf_bytes()
    download = client.get(f"/invoices/{invoice.pk}/attachments/{png.pk}/")
    assert download["Content-Disposition"].startswith("attachment")
    assert "sandbox" in download["Content-Security-Policy"]
    assert AuditEvent.objects.filter(action="invoice.attachment_downloaded").count() == downloads + 2

    stranger = UserFactory(email="stranger@example.test")
    assert client_for(stranger).get(f"/invoices/{invoice.pk}/attachments/{pdf.pk}/").status_code == 404


def test_pages_of_the_queue_keep_the_filters_and_the_totals_of_the_whole_set(billing, monkeypatch):
    monkeypatch.setattr(invoice_views, "PAGE_SIZE", 2)
    first, second, third = (submitted(billing, amount) for amount in ("100.00", "200.00", "300.00"))
    client = client_for(billing.people["fin"])
    one = text(client.get("/invoices/", {"status": "submitted", "sort": "total"}))
    assert first.number in one
    assert second.number in one
    assert third.number not in one
    assert "Page 1 of 2" in one
    assert "3 invoices · $600.00" in one
    html = client.get("/invoices/", {"status": "submitted", "sort": "total"}).content.decode()
    assert 'href="?status=submitted&amp;sort=total&amp;page=2"' in html
    two = text(client.get("/invoices/", {"status": "submitted", "sort": "total", "page": "2"}))
    assert third.number in two
    assert first.number not in two
    assert "3 invoices · $600.00" in two


def test_start_review_then_the_vendor_withdraws_to_revise(billing):
    invoice = submitted(billing, "1000.00")
    pm = client_for(billing.people["pm"])
    assert "Start review" in text(pm.get(f"/invoices/{invoice.pk}/"))
    started = pm.post(f"/invoices/{invoice.pk}/action/", {"action": "review", "role": "PROJECT_MANAGER"})
    assert started.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    assert AuditEvent.objects.filter(action="invoice.review_started", subject_id=str(invoice.pk)).count() == 1
    # Finance is not next: starting review as finance is refused inline.
    refused = client_for(billing.people["fin"]).post(
        f"/invoices/{invoice.pk}/action/", {"action": "review", "role": "FINANCE_REVIEWER"}
    )
    assert refused.status_code == 403
    assert "approval_not_allowed" in text(refused)

    vendor = client_for(billing.vendor_user)
    assert "Withdraw to revise" in text(vendor.get(f"/invoices/{invoice.pk}/"))
    response = vendor.post(f"/invoices/{invoice.pk}/action/", {"action": "withdraw", "note": "Wrong period"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.round) == (InvoiceStatus.DRAFT, 2)
    page = text(vendor.get(f"/invoices/{invoice.pk}/"))
    assert "withdrawn: it is a draft again" in page
    assert "Submit for approval" in page
    assert "Edit draft" in page
