"""The milestone flow's API: every step end to end, who sees what (a contractor never sees another's work
requests, milestones, submissions or files: 404), who may do what, and 4xx problems that write nothing."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.audit.models import AuditEvent
from payor.contracts.models import Contract, Submission, WorkRequest
from payor.contracts.tests.conftest import CHAIN
from payor.invoices.models import Invoice
from payor.notifications.models import Notification
from payor.testing.milestones import PDF

pytestmark = [pytest.mark.django_db, pytest.mark.database_facing]

PROBLEM = "application/problem+json"


def client_for(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def post(client: Client, url: str, body: dict | None = None, **headers: str):
    return client.post(url, data=body or {}, content_type="application/json", headers=headers)


def money(amount: str) -> dict:
    return {"amount": amount, "currency": "USD"}


def body(flow, **fields) -> dict:
    lines = flow.world.lines
    return {
        "vendor_id": str(flow.vendor.pk),
        "title": "Riparian planting, plot A",
        "scope": "Prepare and plant plot A",
        "retention_percent": "10",
        "payment_terms": {"kind": "net_days", "net_days": 7},
        "milestones": [
            {
                "title": "Site preparation",
                "amount": money("1000.00"),
                "due_date": "2026-12-01",
                "acceptance_criteria": "Cleared and marked",
                "budget_line_id": str(lines["1.1"].pk),
            },
            {"title": "Monitoring", "amount": money("555.55"), "budget_line_id": str(lines["1.2"].pk)},
        ],
        **fields,
    }


def test_every_step_through_the_api(flow):
    pm, crew = client_for(flow.pm), client_for(flow.contractor)
    project = flow.world.project

    created = post(pm, f"/api/v1/projects/{project.pk}/work-requests", body(flow))
    assert created.status_code == 201, created.content
    wr = created.json()
    assert (wr["number"], wr["status"], wr["total"]["amount"], wr["terms_sha256"]) == (
        "WR-0001",
        "draft",
        "1555.55",
        None,
    )
    assert wr["payment_terms"]["label"] == "Net 7"
    assert [m["status"] for m in wr["milestones"]] == ["pending", "pending"]
    # A draft is the company's: the contractor does not see it.
    problem(crew.get(f"/api/v1/work-requests/{wr['id']}"), 404, "work_request_not_found")
    assert crew.get("/api/v1/work-requests").json()["results"] == []

    edited = pm.put(
        f"/api/v1/work-requests/{wr['id']}",
        data={k: v for k, v in body(flow, title="Plot A, revised").items() if k != "vendor_id"},
        content_type="application/json",
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["title"] == "Plot A, revised"

    sent = post(pm, f"/api/v1/work-requests/{wr['id']}/send").json()
    assert sent["status"] == "sent"
    assert hashlib.sha256(sent["terms_canonical"].encode()).hexdigest() == sent["terms_sha256"]
    assert sent["terms"]["total"] == {"minor": 155555, "currency": "USD"}

    inbox = crew.get("/api/v1/work-requests?status=sent").json()["results"]
    assert [item["id"] for item in inbox] == [wr["id"]]
    seen = crew.get(f"/api/v1/work-requests/{wr['id']}").json()
    assert seen["created_by"] is None  # the company's people are not shown to the contractor
    assert seen["sent_by"] is None
    typed = crew.get(f"/api/v1/work-requests/{wr['id']}/typed-data?chain_id={CHAIN}").json()
    assert typed["message"]["termsSha256"] == "0x" + sent["terms_sha256"]

    notes = crew.get("/api/v1/me/notifications").json()["results"]
    assert [n["kind"] for n in notes] == ["work_request.sent"]
    read = post(crew, f"/api/v1/me/notifications/{notes[0]['id']}/read")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert crew.get("/api/v1/me/notifications?unread=true").json()["results"] == []
    problem(post(pm, f"/api/v1/me/notifications/{notes[0]['id']}/read"), 404, "notification_not_found")

    problem(
        post(crew, f"/api/v1/work-requests/{wr['id']}/accept", {"terms_sha256": "a" * 64}),
        409,
        "work_request_terms_mismatch",
    )
    accepted = post(
        crew,
        f"/api/v1/work-requests/{wr['id']}/accept",
        {"terms_sha256": sent["terms_sha256"]},
        **{"Idempotency-Key": "accept-1"},
    )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["contract"]["status"] == "executed"
    replay = post(
        crew,
        f"/api/v1/work-requests/{wr['id']}/accept",
        {"terms_sha256": sent["terms_sha256"]},
        **{"Idempotency-Key": "accept-1"},
    )
    assert replay.json() == accepted.json()
    assert Contract.objects.count() == 1

    milestone_id = sent["milestones"][0]["id"]
    submitted = crew.post(
        f"/api/v1/milestones/{milestone_id}/submissions",
        data={"note": "Cleared", "files": [SimpleUploadedFile("site.pdf", PDF, content_type="text/plain")]},
    )
    assert submitted.status_code == 201, submitted.content
    detail = submitted.json()
    assert detail["status"] == "submitted"
    [submission] = detail["submissions"]
    assert (submission["attempt"], submission["approval_status"], submission["note"]) == (1, "submitted", "Cleared")
    [file] = submission["files"]
    assert (file["original_filename"], file["content_type"], file["sha256"]) == (
        "site.pdf",
        "application/pdf",
        hashlib.sha256(PDF).hexdigest(),
    )

    # The contractor cannot review; the PM approves.
    problem(
        post(crew, f"/api/v1/submissions/{submission['id']}/review", {"decision": "approved"}),
        403,
        "permission_denied",
    )
    problem(post(pm, f"/api/v1/submissions/{submission['id']}/review", {"decision": "yes"}), 422, "validation_error")
    reviewed = post(pm, f"/api/v1/submissions/{submission['id']}/review", {"decision": "approved"})
    assert reviewed.status_code == 200, reviewed.content
    approved = reviewed.json()
    assert approved["status"] == "approved"
    assert approved["submissions"][0]["approver_id"] == str(flow.pm.pk)
    assert approved["invoice"]["total"]["amount"] == "1000.00"
    assert approved["invoice"]["retention"]["amount"] == "100.00"
    assert approved["invoice"]["status"] == "submitted"
    assert approved["payment"] == {
        "invoice_status": "submitted",
        "disbursement_status": None,
        "amount": None,
        "scheduled_on": None,
        "executed_on": None,
        "rail_reference": "",
    }
    seen = crew.get(f"/api/v1/milestones/{milestone_id}").json()
    assert seen["submissions"][0]["approval_status"] == "approved"
    assert seen["submissions"][0]["approved_at"] is not None
    assert seen["submissions"][0]["approver_id"] is None  # not shown to the contractor
    invoice = Invoice.objects.get()
    assert crew.get(f"/api/v1/invoices/{invoice.pk}").json()["kind"] == "self_billed"

    download = crew.get(file["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert AuditEvent.objects.filter(action="submission.file_downloaded").count() == 1


def test_a_contractor_sees_nothing_of_another_contractors_flow(flow):
    accepted = flow.accepted()
    milestone = accepted.milestones.get(position=1)
    submission = flow.submit(milestone)
    file = submission.files.get()
    other = client_for(flow.other_contractor)
    for url in (
        f"/api/v1/work-requests/{accepted.pk}",
        f"/api/v1/work-requests/{accepted.pk}/typed-data?chain_id={CHAIN}",
        f"/api/v1/milestones/{milestone.pk}",
        f"/api/v1/submissions/{submission.pk}/files/{file.pk}",
    ):
        response = other.get(url)
        assert response.status_code == 404, (url, response.content)
        assert response["Content-Type"] == PROBLEM
    assert other.get("/api/v1/work-requests").json()["results"] == []
    assert other.get(f"/api/v1/projects/{flow.world.project.pk}/work-requests").json()["results"] == []
    before = (WorkRequest.objects.get(pk=accepted.pk).status, Submission.objects.get().approval_status)
    problem(post(other, f"/api/v1/work-requests/{accepted.pk}/decline"), 404, "work_request_not_found")
    problem(
        post(other, f"/api/v1/submissions/{submission.pk}/review", {"decision": "approved"}),
        404,
        "submission_not_found",
    )
    problem(
        other.post(f"/api/v1/milestones/{milestone.pk}/submissions", data={"note": "mine"}),
        404,
        "milestone_not_found",
    )
    assert (WorkRequest.objects.get(pk=accepted.pk).status, Submission.objects.get().approval_status) == before
    assert not Notification.objects.filter(recipient=flow.other_contractor).exists()
    # The company's read-only roles read it; the beneficiary does not.
    fin = client_for(flow.world.people["fin"])
    assert fin.get(f"/api/v1/work-requests/{accepted.pk}").status_code == 200
    assert [i["id"] for i in fin.get("/api/v1/work-requests").json()["results"]] == [str(accepted.pk)]


def test_bad_input_is_a_problem_and_writes_nothing(flow):
    pm = client_for(flow.pm)
    url = f"/api/v1/projects/{flow.world.project.pk}/work-requests"
    count = WorkRequest.objects.count()
    problem(post(pm, url, body(flow, milestones=[])), 422, "validation_error")
    problem(post(pm, url, body(flow, retention_percent=10)), 422, "validation_error")
    bad_money = body(flow)
    bad_money["milestones"][0]["amount"] = {"amount": "12.345", "currency": "USD"}
    problem(post(pm, url, bad_money), 422, "money_invalid")
    problem(post(pm, url, body(flow, vendor_id=str(flow.world.project.pk))), 422, "work_request_contractor_invalid")
    problem(post(client_for(flow.contractor), url, body(flow)), 403, "permission_denied")
    problem(post(pm, url, body(flow, unknown="x")), 422, "validation_error")
    assert WorkRequest.objects.count() == count


def test_a_refused_upload_stores_nothing(media, flow):
    accepted = flow.accepted()
    milestone = accepted.milestones.get(position=1)
    crew = client_for(flow.contractor)
    url = f"/api/v1/milestones/{milestone.pk}/submissions"
    exe = SimpleUploadedFile("report.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    problem(crew.post(url, data={"note": "x", "files": [exe]}), 415, "file_type_not_allowed")
    problem(crew.post(url, data={"note": ""}), 422, "submission_invalid")
    assert Submission.objects.count() == 0
    assert not (media / "submissions").exists() or not any((media / "submissions").rglob("*.pdf"))
    # After a submission, a second one while it is open is refused and its file removed again.
    first = crew.post(url, data={"note": "one", "files": [SimpleUploadedFile("a.pdf", PDF)]})
    assert first.status_code == 201, first.content
    problem(
        crew.post(url, data={"note": "two", "files": [SimpleUploadedFile("b.pdf", PDF)]}),
        409,
        "milestone_state_invalid",
    )
    assert len([p for p in (media / "submissions").rglob("*") if p.is_file()]) == 1


def test_decline_withdraw_and_a_signed_acceptance_through_the_api(flow):
    from django.utils import timezone
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from payor.accounts.models import Wallet

    pm, crew = client_for(flow.pm), client_for(flow.contractor)
    draft = flow.draft()
    problem(pm.get(f"/api/v1/work-requests/{draft.pk}/typed-data?chain_id={CHAIN}"), 409, "work_request_state_invalid")

    declined = flow.sent()
    response = post(crew, f"/api/v1/work-requests/{declined.pk}/decline", {"reason": "Fully booked in spring"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["end_reason"]) == ("declined", "Fully booked in spring")
    assert Notification.objects.filter(kind="work_request.declined", recipient=flow.pm).count() == 1

    withdrawn = flow.sent()
    problem(post(crew, f"/api/v1/work-requests/{withdrawn.pk}/withdraw"), 403, "permission_denied")
    response = post(pm, f"/api/v1/work-requests/{withdrawn.pk}/withdraw", {"reason": "Budget moved"})
    assert response.json()["status"] == "withdrawn"
    problem(
        post(crew, f"/api/v1/work-requests/{withdrawn.pk}/accept", {"terms_sha256": withdrawn.terms_sha256}),
        409,
        "work_request_state_invalid",
    )

    key = Account.create()
    Wallet.objects.create(user=flow.contractor, address=key.address, chain_id=CHAIN, linked_at=timezone.now())
    signed = flow.sent()
    typed = crew.get(f"/api/v1/work-requests/{signed.pk}/typed-data?chain_id={CHAIN}").json()
    signature = "0x" + key.sign_message(encode_typed_data(full_message=typed)).signature.hex()
    response = post(
        crew,
        f"/api/v1/work-requests/{signed.pk}/accept",
        {"terms_sha256": signed.terms_sha256, "signature": signature, "chain_id": CHAIN},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["signer_address"], body["chain_id"]) == ("accepted", key.address, CHAIN)
    assert body["accepted_by"]["id"] == str(flow.contractor.pk)
