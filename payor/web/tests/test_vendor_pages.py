"""The Vendors screens through the test client: access per role (vendor users never), the compliance status,
documents (audited downloads, reviews), contracts and payment history, onboarding and KYC forms with inline errors
and nothing written. The world is the payments' ``billing`` fixture (a compliant vendor "Willow Creek Restoration"
with a linked VENDOR user and an executed 45,000.00 contract)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from payor.audit.models import AuditEvent
from payor.invoices.tests.conftest import media
from payor.payments.services import disbursement_execute, disbursement_schedule
from payor.payments.tests.conftest import (
    approved,
    billing,
    fast_password_hashing,
    world,
)
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.models import DocumentKind, DocumentStatus, KycStatus, Vendor, VendorDocument
from payor.vendors.services import vendor_document_upload
from payor.vendors.tests.conftest import pdf_bytes, upload

__all__ = ["billing", "fast_password_hashing", "media", "world"]  # fixtures

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def readers(billing):
    people = {}
    for name, role in (
        ("ben", ProjectRole.BENEFICIARY),
        ("proc", ProjectRole.PROCUREMENT),
        ("aud", ProjectRole.AUDITOR),
    ):
        people[name] = UserFactory(email=f"{name}@example.test")
        ProjectRoleFactory(project=billing.world.project, user=people[name], role=role)
    people["outsider"] = UserFactory(email="outsider@example.test")
    return people


def vendor_state():
    return (
        list(Vendor.objects.order_by("id").values_list("id", "name", "kyc_status", "kyc_note", "coi_expiry")),
        list(VendorDocument.objects.order_by("id").values_list("id", "status", "valid_until", "review_note")),
        AuditEvent.objects.count(),
    )


# --------------------------------------------------------------------------------------------------------------
# The list
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("fin", 200),
        ("pm", 200),
        ("tre", 200),
        ("aud", 200),
        ("proc", 200),
        ("ben", 403),
        ("vendor", 403),
        ("outsider", 403),
    ],
)
def test_vendor_list_per_role(billing, readers, who, status):
    user = billing.vendor_user if who == "vendor" else {**billing.people, **readers}[who]
    response = client_for(user).get("/vendors/")
    assert response.status_code == status
    if status == 200:
        html = text(response)
        assert "Willow Creek Restoration" in html
        assert "Compliant" in html
        assert "Through Dec 31, 2099" in html


def test_vendor_list_filters(billing):
    VendorFactory(organization=billing.world.project.organization, name="Cedar Nursery")  # KYC pending
    client = client_for(billing.people["fin"])

    def names(query: str) -> list[str]:
        html = text(client.get(f"/vendors/?{query}"))
        return re.findall(r'class="fw-medium">([^<]+)</a>', html)

    assert names("") == ["Cedar Nursery", "Willow Creek Restoration"]
    assert names("kyc=pending") == ["Cedar Nursery"]
    assert names("kyc=passed") == ["Willow Creek Restoration"]
    assert names("compliance=ok") == ["Willow Creek Restoration"]
    assert names("compliance=attention") == ["Cedar Nursery"]
    assert names("q=willow") == ["Willow Creek Restoration"]
    assert names("q=nothing-like-it") == []
    fragment = client.get("/vendors/?q=cedar", HTTP_HX_REQUEST="true")
    assert text(fragment).lstrip().startswith('<div id="vendor-rows"')


# --------------------------------------------------------------------------------------------------------------
# The detail
# --------------------------------------------------------------------------------------------------------------


def test_vendor_detail_with_checklist_contracts_and_payments(billing):
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    disbursement_execute(actor=billing.people["tre"], disbursement=disbursement, rail_reference="ACH-TRACE-42")
    page = client_for(billing.people["fin"]).get(f"/vendors/{billing.vendor.pk}/")
    assert page.status_code == 200
    html = text(page)
    assert "KYC passed" in html
    assert "W-9 on file" in html
    assert f'href="/contracts/{billing.contract.pk}/"' in html
    payments = html.split('data-testid="vendor-payments"')[1].split("</table>")[0]
    assert "$882.00" in payments
    assert "ACH-TRACE-42" in payments
    assert f'href="/invoices/{invoice.pk}/"' in payments
    assert re.search(r'data-testid="vendor-paid-total">\$882\.00<', html)


def test_vendor_users_never_reach_the_vendor_master(billing):
    other = VendorFactory(organization=billing.world.project.organization, name="Other Vendor")
    client = client_for(billing.vendor_user)
    assert client.get(f"/vendors/{billing.vendor.pk}/").status_code == 403  # their own: the portal is theirs
    assert client.get(f"/vendors/{other.pk}/").status_code == 404
    document = VendorDocument.objects.filter(vendor=billing.vendor).first()
    assert client.get(f"/vendors/{billing.vendor.pk}/documents/{document.pk}/").status_code == 403
    assert client.post(f"/vendors/{billing.vendor.pk}/kyc/", {"status": "passed"}).status_code == 403
    assert client.get("/vendors/new/").status_code == 403


def test_outsiders_get_a_404(billing, readers):
    assert client_for(readers["outsider"]).get(f"/vendors/{billing.vendor.pk}/").status_code == 404


# --------------------------------------------------------------------------------------------------------------
# Onboarding
# --------------------------------------------------------------------------------------------------------------


def onboard_data(billing, **fields):
    return {
        "organization": str(billing.world.project.organization.pk),
        "name": "Alder Surveys",
        "legal_name": "Alder Surveys LLC",
        "kind": "company",
        "tax_status": "w9",
        "country": "us",
        "bank_method": "ach",
        "email": "ap@alder.test",
        **fields,
    }


def test_procurement_onboards_a_vendor(billing, readers):
    client = client_for(readers["proc"])
    assert client.get("/vendors/new/").status_code == 200
    response = client.post("/vendors/new/", onboard_data(billing))
    vendor = Vendor.objects.get(name="Alder Surveys")
    assert response.status_code == 302
    assert response["Location"] == f"/vendors/{vendor.pk}/"
    assert (vendor.legal_name, vendor.country, vendor.kyc_status, vendor.created_by) == (
        "Alder Surveys LLC",
        "US",
        KycStatus.PENDING,
        readers["proc"],
    )
    html = text(client.get(response["Location"]))
    assert "Alder Surveys onboarded. KYC is pending" in html
    assert "No verified W-9 on file" in html


@pytest.mark.parametrize(
    ("fields", "status", "message", "field"),
    [
        ({"name": "willow creek restoration"}, 409, "already has a vendor named", "name"),
        ({"kind": "company", "tax_status": "w8ben"}, 422, "W-8BEN", "tax_status"),
        ({"country": "ZZ"}, 422, "country", None),
        ({"legal_name": ""}, 422, "This field is required.", "legal_name"),
        ({"email": "not-an-email"}, 422, "Enter a valid email address.", "email"),
    ],
)
def test_onboarding_refusals_are_inline_and_write_nothing(billing, readers, fields, status, message, field):
    before = vendor_state()
    response = client_for(readers["proc"]).post("/vendors/new/", onboard_data(billing, **fields))
    assert response.status_code == status
    html = text(response)
    assert message in html
    if field is not None:
        assert f'id="id_{field}_error"' in html
    assert vendor_state() == before


def test_only_vendor_managers_onboard(billing):
    before = vendor_state()
    client = client_for(billing.people["fin"])
    assert client.get("/vendors/new/").status_code == 403
    assert client.post("/vendors/new/", onboard_data(billing)).status_code == 403
    assert vendor_state() == before


# --------------------------------------------------------------------------------------------------------------
# KYC and documents
# --------------------------------------------------------------------------------------------------------------


def test_kyc_decision_needs_a_note_to_fail(billing):
    client = client_for(billing.people["fin"])
    before = vendor_state()
    response = client.post(f"/vendors/{billing.vendor.pk}/kyc/", {"status": "failed", "note": ""})
    assert response.status_code == 422
    assert "Say why the KYC failed" in text(response)
    assert vendor_state() == before
    response = client.post(f"/vendors/{billing.vendor.pk}/kyc/", {"status": "failed", "note": "Sanctions hit"})
    assert response.status_code == 302
    billing.vendor.refresh_from_db()
    assert (billing.vendor.kyc_status, billing.vendor.kyc_note) == (KycStatus.FAILED, "Sanctions hit")
    # A PM sees the vendor but decides nothing.
    assert (
        client_for(billing.people["pm"]).post(f"/vendors/{billing.vendor.pk}/kyc/", {"status": "passed"}).status_code
        == 403
    )


@pytest.fixture
def pending_coi(billing, media):
    return vendor_document_upload(
        actor=billing.vendor_user,
        vendor=billing.vendor,
        kind=DocumentKind.COI,
        file=upload(pdf_bytes("COI 2100"), name="coi-2100.pdf"),
        valid_until=dt.date(2100, 6, 30),
    )


def test_a_finance_reviewer_reviews_a_document_with_inline_errors(billing, pending_coi):
    client = client_for(billing.people["fin"])
    url = f"/vendors/{billing.vendor.pk}/documents/{pending_coi.pk}/review/"
    prefix = f"doc-{pending_coi.pk}"
    assert "Review this document" in text(client.get(f"/vendors/{billing.vendor.pk}/"))
    before = vendor_state()
    response = client.post(url, {f"{prefix}-decision": "rejected", f"{prefix}-note": ""})
    assert response.status_code == 422
    html = text(response)
    assert "Say why the document is rejected (note)" in html
    assert f"{prefix}-note_error" in html
    assert vendor_state() == before

    response = client.post(url, {f"{prefix}-decision": "verified", f"{prefix}-valid_until": "2100-06-30"})
    assert response.status_code == 302
    pending_coi.refresh_from_db()
    billing.vendor.refresh_from_db()
    assert (pending_coi.status, billing.vendor.coi_expiry) == (DocumentStatus.VERIFIED, dt.date(2100, 6, 30))


def test_document_downloads_are_audited_and_need_the_data_room(billing, pending_coi):
    url = f"/vendors/{billing.vendor.pk}/documents/{pending_coi.pk}/"
    downloads = AuditEvent.objects.filter(action="vendor.document_downloaded")
    assert downloads.count() == 0
    response = client_for(billing.people["fin"]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf_bytes("COI 2100")
    assert 'filename="coi-2100.pdf"' in response["Content-Disposition"]
    assert downloads.count() == 1
    # A PM sees that the document exists, not its content (no dataroom.read).
    assert client_for(billing.people["pm"]).get(url).status_code == 403
    assert "Download" not in text(client_for(billing.people["pm"]).get(f"/vendors/{billing.vendor.pk}/"))
    assert downloads.count() == 1
