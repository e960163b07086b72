"""``/api/v1/disbursements`` and ``/api/v1/vendors/{id}/stripe-account`` over HTTP with bearer tokens: the
seed-004 view of a payment (status, references, attempts with their errors, the transaction record), who sees
what, onboarding through the local Stripe server."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.payments.models import ConnectedAccount
from payor.payments.rail_services import disbursement_submit
from payor.payments.services import disbursement_schedule
from payor.payments.tests.conftest import approved, deliver, onboarded, run_jobs
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def client_for(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    return body


def paid(billing, server, client):
    onboarded(billing, server, client)
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    assert disbursement_submit(disbursement_id=disbursement.pk) == "executed"
    disbursement.refresh_from_db()
    return invoice, disbursement


def test_disbursement_detail_shows_status_references_attempts_and_the_transaction(billing, stripe_server, client):
    invoice, disbursement = paid(billing, stripe_server, client)
    account = ConnectedAccount.objects.get(vendor=billing.vendor)
    stripe_server.control("/_control/payouts", {"account": account.account_id, "amount": 88200, "status": "paid"})
    assert deliver(client, stripe_server.events("payout.paid")[0]).status_code == 200
    run_jobs("payments.webhook.process")

    response = client_for(billing.people["fin"]).get(f"/api/v1/disbursements/{disbursement.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    transfer = stripe_server.transfers()[0]
    project = billing.world.project
    assert {k: body[k] for k in ("status", "method", "rail_reference", "failure_reason", "executed_by")} == {
        "status": "executed",
        "method": "stripe_connect",
        "rail_reference": transfer["id"],
        "failure_reason": "",
        "executed_by": "system",
    }
    assert body["scheduled_by"] == "tre@example.test"
    assert body["amount"] == {"amount": "882.00", "currency": "USD", "minor": 88200}
    assert body["invoice_number"] == invoice.number
    [attempt] = body["attempts"]
    assert {k: attempt[k] for k in ("number", "idempotency_key", "rail", "status", "provider_reference", "tries")} == {
        "number": 1,
        "idempotency_key": f"disb-{disbursement.pk}-1",
        "rail": "stripe_connect",
        "status": "succeeded",
        "provider_reference": transfer["id"],
        "tries": 1,
    }
    assert [(p["status"], p["amount"]["amount"]) for p in body["payouts"]] == [("paid", "882.00")]
    tx = body["transaction"]
    assert tx["amount"]["amount"] == "882.00"
    assert tx["contractor"] == {"id": str(billing.vendor.pk), "name": "Willow Creek Restoration"}
    assert tx["company"] == {"id": str(project.organization_id), "name": project.organization.name}
    assert tx["project"] == {"id": str(project.pk), "name": project.name}
    assert tx["milestone"] is None
    assert tx["approved_at"] is not None
    assert tx["transaction_id"] == transfer["id"]


def test_a_failed_payment_shows_its_reason_and_the_attempts_error(billing, stripe_server, client):
    onboarded(billing, stripe_server, client)
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    stripe_server.faults(next="balance_insufficient", path="/v1/transfers")
    assert disbursement_submit(disbursement_id=disbursement.pk) == "failed"

    body = client_for(billing.people["tre"]).get(f"/api/v1/disbursements/{disbursement.pk}").json()

    assert body["status"] == "failed"
    assert body["failure_reason"].startswith("balance_insufficient: ")
    assert [(a["status"], a["error_code"]) for a in body["attempts"]] == [("failed_terminal", "balance_insufficient")]


def test_list_filters_and_scoping(billing, stripe_server, client):
    invoice, disbursement = paid(billing, stripe_server, client)
    fin = client_for(billing.people["fin"])
    project = billing.world.project

    rows = fin.get(f"/api/v1/disbursements?project_id={project.pk}").json()["results"]
    assert [r["id"] for r in rows] == [str(disbursement.pk)]
    assert fin.get(f"/api/v1/disbursements?invoice_id={invoice.pk}&status=executed").json()["results"][0]["id"] == str(
        disbursement.pk
    )
    assert fin.get("/api/v1/disbursements?status=failed").json()["results"] == []
    assert fin.get("/api/v1/disbursements?status=bogus").status_code == 422

    # The vendor's own user sees it; another vendor's user sees nothing (404); a stranger gets 404 on the project.
    vendor_client = client_for(billing.vendor_user)
    assert vendor_client.get(f"/api/v1/disbursements/{disbursement.pk}").status_code == 200
    other = UserFactory(email="other@vendor.test")
    ProjectRoleFactory(
        project=project, user=other, role=ProjectRole.VENDOR, vendor=VendorFactory(organization=project.organization)
    )
    other_client = client_for(other)
    problem(other_client.get(f"/api/v1/disbursements/{disbursement.pk}"), 404, "disbursement_not_found")
    assert other_client.get("/api/v1/disbursements").json()["results"] == []
    stranger = client_for(UserFactory(email="stranger@example.test"))
    problem(stranger.get(f"/api/v1/disbursements/{disbursement.pk}"), 404, "disbursement_not_found")
    problem(stranger.get(f"/api/v1/disbursements?project_id={project.pk}"), 404, "project_not_found")


def test_vendor_user_onboards_through_the_api(billing, stripe_server, client):
    api = client_for(billing.vendor_user)
    url = f"/api/v1/vendors/{billing.vendor.pk}/stripe-account"
    problem(api.get(url), 404, "stripe_account_not_found")

    payload = {"return_url": "https://payor.test/done", "refresh_url": "https://payor.test/again"}
    first = api.post(url, payload, content_type="application/json")
    again = api.post(url, payload, content_type="application/json")

    assert first.status_code == 201, first.content
    body = first.json()
    assert body["account_id"].startswith("acct_")
    assert again.json()["account_id"] == body["account_id"]  # one account per vendor
    assert len(stripe_server.state()["accounts"]) == 1
    assert body["onboarding_url"] == f"{stripe_server.url}/_onboarding/{body['account_id']}"
    assert (body["transfers_capability"], body["details_submitted"]) == ("inactive", False)

    stripe_server.control(f"/_control/accounts/{body['account_id']}/complete")
    assert deliver(client, stripe_server.events("account.updated")[-1]).status_code == 200
    run_jobs("payments.webhook.process")
    after = api.get(url).json()
    assert (after["transfers_capability"], after["details_submitted"], after["payouts_enabled"]) == (
        "active",
        True,
        True,
    )


def test_onboarding_refusals(billing, stripe_server):
    url = f"/api/v1/vendors/{billing.vendor.pk}/stripe-account"
    payload = {"return_url": "https://payor.test/done", "refresh_url": "https://payor.test/again"}
    stranger = client_for(UserFactory(email="stranger@example.test"))
    problem(stranger.post(url, payload, content_type="application/json"), 404, "vendor_not_found")
    api = client_for(billing.vendor_user)
    response = api.post(url, {"return_url": "javascript:alert(1)", "refresh_url": "x"}, content_type="application/json")
    assert response.status_code == 422
    stripe_server.faults(next="500", path="/v1/accounts")
    problem(api.post(url, payload, content_type="application/json"), 502, "stripe_unavailable")
    assert ConnectedAccount.objects.count() == 0
