"""``/api/v1/vendors``: every endpoint for every role, the onboarding flow, uploads and downloads."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from payor.accounts.models import User
from payor.audit.models import AuditEvent
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import (
    MembershipFactory,
    ProjectRoleFactory,
    UserFactory,
    VendorFactory,
)
from payor.vendors.models import DocumentKind, DocumentStatus, Vendor, VendorDocument, VendorUser
from payor.vendors.tests.conftest import on_file, pdf_bytes, png_bytes, state

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PM, FIN, TRE, DAO = (
    ProjectRole.PROJECT_MANAGER,
    ProjectRole.FINANCE_REVIEWER,
    ProjectRole.TREASURER,
    ProjectRole.DAO_MULTISIG,
)
AUD, BEN, PRO, VEN = ProjectRole.AUDITOR, ProjectRole.BENEFICIARY, ProjectRole.PROCUREMENT, ProjectRole.VENDOR

# Who is who in the RBAC matrix: project roles on a project of the vendor's organization, system roles, and people
# with no business seeing the vendor.
ACTORS = [
    "VENDOR",  # linked to the vendor, with a VENDOR role for it
    "VENDOR_OF_ANOTHER",  # a VENDOR role for another vendor of the organization
    *(role.value for role in ProjectRole if role != VEN),
    *(role.value for role in SystemRole),
    "MEMBER",  # a member of the organization without a role
    "PROCUREMENT_ELSEWHERE",  # PROCUREMENT on another organization's project
    "NOBODY",
]
SEES_THE_VENDOR = {"VENDOR", "PROJECT_MANAGER", "FINANCE_REVIEWER", "TREASURER", "DAO_MULTISIG", "AUDITOR"} | {
    "PROCUREMENT",
    "PLATFORM_ADMIN",
    "SYSTEM_AUDITOR",
}
MANAGERS = {"PROCUREMENT", "PLATFORM_ADMIN"}
ALLOWED = {
    "get": SEES_THE_VENDOR,
    "patch": MANAGERS,
    "kyc": {"FINANCE_REVIEWER"},
    "upload": MANAGERS | {"VENDOR"},
    # A W-9's content is the data room's (seed 000: finance/procurement only): platform admins don't read it.
    "download": {"VENDOR", "FINANCE_REVIEWER", "TREASURER", "AUDITOR", "PROCUREMENT"} | {"SYSTEM_AUDITOR"},
    "verify": {"FINANCE_REVIEWER"},
    "link": MANAGERS,
    "unlink": MANAGERS,
    "documents": SEES_THE_VENDOR,
}
SUCCESS = {"get": 200, "patch": 200, "kyc": 200, "upload": 201, "download": 200, "verify": 200}
SUCCESS |= {"link": 201, "unlink": 200, "documents": 200}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def post(client: Client, path: str, body: dict, **headers):
    return client.post(path, data=body, content_type="application/json", headers=headers)


def patch(client: Client, path: str, body: dict):
    return client.patch(path, data=body, content_type="application/json")


def multipart(
    client: Client,
    path: str,
    *,
    kind: str,
    content: bytes,
    name: str = "w9.pdf",
    headers: dict[str, str] | None = None,
    **fields: str,
):
    data = {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="application/pdf"), **fields}
    return client.post(path, data=data, headers=headers or {})


@dataclass
class World:
    vendor: Vendor
    pending: VendorDocument  # a W-9 awaiting review, uploaded by procurement
    verified: VendorDocument  # a verified COI on file
    extra_user: User  # linked to the vendor: the one unlinked in the matrix


@pytest.fixture
def world(org, project, vendor, procurement) -> World:
    pending = on_file(vendor, DocumentKind.W9, status=DocumentStatus.PENDING, uploaded_by=procurement)
    verified = on_file(vendor, DocumentKind.COI, valid_until=dt.date(2099, 12, 31))
    extra = UserFactory(email="extra@riverbank.example.test")
    VendorUser.objects.create(vendor=vendor, user=extra)
    return World(vendor=vendor, pending=pending, verified=verified, extra_user=extra)


@pytest.fixture
def actor(world, org, project, other_project, person, system_person):
    def _actor(name: str) -> User:
        if name == "VENDOR":
            return person(VEN, vendor=world.vendor)
        if name == "VENDOR_OF_ANOTHER":
            return person(VEN)
        if name in ProjectRole.values:
            return person(ProjectRole(name))
        if name in SystemRole.values:
            return system_person(SystemRole(name))
        if name == "MEMBER":
            user = UserFactory()
            MembershipFactory(organization=org, user=user)
            return user
        if name == "PROCUREMENT_ELSEWHERE":
            return person(PRO, on=other_project)
        return UserFactory()

    return _actor


def call(client: Client, endpoint: str, world: World):
    base = f"/api/v1/vendors/{world.vendor.pk}"
    match endpoint:
        case "get":
            return client.get(base)
        case "documents":
            return client.get(f"{base}/documents")
        case "patch":
            return patch(client, base, {"address": {"city": "Portland"}})
        case "kyc":
            return post(client, f"{base}/kyc", {"status": "passed"})
        case "upload":
            return multipart(client, f"{base}/documents", kind="other", content=pdf_bytes("lien release"))
        case "download":
            return client.get(f"{base}/documents/{world.verified.pk}/download")
        case "verify":
            return post(client, f"{base}/documents/{world.pending.pk}/verify", {})
        case "link":
            return post(client, f"{base}/users", {"email": "new.contractor@example.test"})
        case "unlink":
            return client.delete(f"{base}/users?user_id={world.extra_user.pk}")
    raise AssertionError(endpoint)


@pytest.mark.parametrize("endpoint", list(ALLOWED))
@pytest.mark.parametrize("who", ACTORS)
def test_rbac_matrix(world, actor, client_for, media, endpoint, who):
    UserFactory(email="new.contractor@example.test")
    client = client_for(actor(who))
    before = state(media)
    response = call(client, endpoint, world)
    if who in ALLOWED[endpoint]:
        assert response.status_code == SUCCESS[endpoint], response.content
        if endpoint in ("get", "documents"):
            assert state(media) == before
    elif who in SEES_THE_VENDOR:
        problem(response, 403, "permission_denied")
        assert state(media) == before
    else:
        body = problem(response, 404, "vendor_not_found")
        assert state(media) == before
        # Exactly what a vendor that does not exist answers: nothing leaked.
        missing = client.get(f"/api/v1/vendors/{uuid.uuid4()}")
        assert {k: v for k, v in body.items() if k not in ("instance", "request_id")} == {
            k: v for k, v in missing.json().items() if k not in ("instance", "request_id")
        }


@pytest.mark.parametrize("who", ACTORS)
def test_rbac_list(world, actor, client_for, who):
    response = client_for(actor(who)).get("/api/v1/vendors")
    assert response.status_code == 200, response.content
    ids = [item["id"] for item in response.json()["results"]]
    assert (str(world.vendor.pk) in ids) == (who in SEES_THE_VENDOR)


@pytest.mark.parametrize("who", ACTORS)
def test_rbac_onboarding(world, org, actor, client_for, media, who):
    client = client_for(actor(who))
    before = state(media)
    response = post(client, "/api/v1/vendors", onboarding(org))
    if who in MANAGERS:
        assert response.status_code == 201, response.content
    elif who in SEES_THE_VENDOR - {"VENDOR"} or who == "MEMBER":
        problem(response, 403, "permission_denied")
        assert state(media) == before
    else:
        problem(response, 404, "organization_not_found")
        assert state(media) == before


def test_anonymous_requests_are_401(world):
    anonymous = Client()
    base = f"/api/v1/vendors/{world.vendor.pk}"
    for response in (
        anonymous.get("/api/v1/vendors"),
        anonymous.get(base),
        post(anonymous, "/api/v1/vendors", {}),
        anonymous.get(f"{base}/documents/{world.verified.pk}/download"),
        anonymous.delete(f"{base}/users?email=a@b.test"),
    ):
        problem(response, 401, "not_authenticated")


# -- the onboarding flow ----------------------------------------------------------------------


def onboarding(org, **changes) -> dict:
    return {
        "organization_id": str(org.pk),
        "name": "Alder Nursery",
        "legal_name": "Alder Nursery LLC",
        "kind": "company",
        "email": "ap@alder.example.test",
        "address": {"line1": "1 Seed Way", "city": "Salem", "region": "OR", "postal_code": "97301", "country": "US"},
        "tax_status": "w9",
        "bank_method": "ach",
        "metadata": {"erp_id": "V-42"},
        **changes,
    }


def test_onboarding_to_compliant(org, project, procurement, reviewer, person, client_for):
    as_procurement, as_reviewer = client_for(procurement), client_for(reviewer)
    created = post(as_procurement, "/api/v1/vendors", onboarding(org))
    assert created.status_code == 201, created.content
    out = created.json()
    vendor_id = out["id"]
    assert out["organization"] == {"id": str(org.pk), "name": org.name}
    assert out["address"] == {
        "line1": "1 Seed Way",
        "line2": "",
        "city": "Salem",
        "region": "OR",
        "postal_code": "97301",
        "country": "US",
        "country_name": "United States",
    }
    assert (out["kyc_status"], out["kyc"]["status"], out["coi_expiry"], out["documents"], out["users"]) == (
        "pending",
        "pending",
        None,
        [],
        [],
    )
    assert out["compliance"]["ok"] is False
    assert out["compliance"]["failed"] == ["vendor_kyc_not_passed", "vendor_tax_form_missing", "vendor_coi_missing"]
    assert out["created_by"]["id"] == str(procurement.pk)

    # The contractor's account is linked and granted the VENDOR role on the project.
    contractor = UserFactory(email="owner@alder.example.test")
    linked = post(as_procurement, f"/api/v1/vendors/{vendor_id}/users", {"email": "OWNER@alder.example.test"})
    assert linked.status_code == 201, linked.content
    assert linked.json()["user"]["id"] == str(contractor.pk)
    assign = post(
        client_for(procurement),
        f"/api/v1/projects/{project.pk}/roles/assign",
        {"user_id": str(contractor.pk), "role": "VENDOR", "vendor_id": vendor_id},
    )
    assert assign.status_code == 201, assign.content

    # The contractor uploads the W-9 and the certificate of insurance.
    as_contractor = client_for(contractor)
    w9 = multipart(as_contractor, f"/api/v1/vendors/{vendor_id}/documents", kind="w9", content=pdf_bytes())
    assert w9.status_code == 201, w9.content
    coi = multipart(
        as_contractor,
        f"/api/v1/vendors/{vendor_id}/documents",
        kind="coi",
        content=png_bytes(),
        name="coi.png",
        valid_until="2099-03-31",
    )
    assert coi.status_code == 201, coi.content
    assert (coi.json()["content_type"], coi.json()["status"], coi.json()["valid_until"]) == (
        "image/png",
        "pending",
        "2099-03-31",
    )

    # The finance reviewer verifies both and passes KYC.
    for document in (w9.json(), coi.json()):
        verified = post(as_reviewer, f"/api/v1/vendors/{vendor_id}/documents/{document['id']}/verify", {})
        assert verified.status_code == 200, verified.content
        assert (verified.json()["status"], verified.json()["current"]) == ("verified", True)
    kyc = post(as_reviewer, f"/api/v1/vendors/{vendor_id}/kyc", {"status": "passed", "note": "TIN match"})
    assert kyc.status_code == 200, kyc.content
    assert kyc.json()["kyc"]["note"] == "TIN match"

    detail = as_procurement.get(f"/api/v1/vendors/{vendor_id}").json()
    assert detail["compliance"]["ok"] is True
    assert detail["coi_expiry"] == "2099-03-31"
    assert [item["key"] for item in detail["compliance"]["items"]] == ["kyc", "tax_form", "coi"]

    # The contractor sees its own record, without the internal notes and metadata.
    own = as_contractor.get(f"/api/v1/vendors/{vendor_id}").json()
    assert (own["kyc"]["note"], own["metadata"], own["compliance"]["ok"]) == (None, None, True)
    assert [user["email"] for user in own["users"]] == ["owner@alder.example.test"]

    # On a date after the cover ends, the checklist says so.
    later = as_procurement.get(f"/api/v1/vendors/{vendor_id}?on=2099-04-01").json()
    assert later["compliance"]["failed"] == ["vendor_coi_expired"]


def test_onboarding_refusals(org, procurement, client_for, media):
    client = client_for(procurement)
    post(client, "/api/v1/vendors", onboarding(org))
    cases = [
        (onboarding(org, name="ALDER nursery"), 409, "vendor_name_taken"),
        ({**onboarding(org), "address": {"country": "ZZ"}}, 422, "vendor_field_invalid"),
        (onboarding(org, name="B", tax_status="w8ben"), 422, "vendor_tax_status_kind_mismatch"),
        (onboarding(org, name="C", metadata={"rate": 0.5}), 422, "vendor_field_invalid"),
        (onboarding(org, name="D", kind="trust"), 422, "validation_error"),
        (onboarding(org, name=""), 422, "validation_error"),
        ({"name": "E"}, 422, "validation_error"),
        (onboarding(org, organization_id=str(uuid.uuid4())), 404, "organization_not_found"),
    ]
    for body, status, code in cases:
        before = state(media)
        problem(post(client, "/api/v1/vendors", body), status, code)
        assert state(media) == before


def test_onboarding_is_idempotent_with_a_key(org, procurement, client_for):
    client = client_for(procurement)
    first = post(client, "/api/v1/vendors", onboarding(org), **{"Idempotency-Key": "onboard-alder"})
    again = post(client, "/api/v1/vendors", onboarding(org), **{"Idempotency-Key": "onboard-alder"})
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert again.json()["id"] == first.json()["id"]
    assert Vendor.objects.filter(name="Alder Nursery").count() == 1


def test_patch_changes_only_what_is_sent(world, procurement, client_for):
    client = client_for(procurement)
    response = patch(client, f"/api/v1/vendors/{world.vendor.pk}", {"address": {"line2": "Suite 5"}, "vat_id": None})
    assert response.status_code == 200, response.content
    world.vendor.refresh_from_db()
    assert (world.vendor.address_line2, world.vendor.city, world.vendor.vat_id) == ("Suite 5", "Eugene", "")
    problem(patch(client, f"/api/v1/vendors/{world.vendor.pk}", {"name": None}), 422, "vendor_field_invalid")
    problem(patch(client, f"/api/v1/vendors/{world.vendor.pk}", {"kyc_status": "passed"}), 422, "validation_error")


def test_the_list_filters_and_pages(org, procurement, client_for):
    for name in ("Alder", "Birch", "Cedar"):
        VendorFactory(organization=org, name=name)
    client = client_for(procurement)
    first = client.get("/api/v1/vendors?page_size=2").json()
    assert [item["name"] for item in first["results"]] == ["Cedar", "Birch"]
    second = client.get(first["next"]).json()
    assert [item["name"] for item in second["results"]] == ["Alder"]
    assert [i["name"] for i in client.get("/api/v1/vendors?q=irc").json()["results"]] == ["Birch"]
    assert client.get(f"/api/v1/vendors?organization_id={uuid.uuid4()}").json()["results"] == []
    assert client.get("/api/v1/vendors?kyc_status=passed").json()["results"] == []
    problem(client.get("/api/v1/vendors?kyc_status=maybe"), 422, "validation_error")
    problem(client.get("/api/v1/vendors?cursor=garbage"), 422, "validation_error")


# -- uploads and downloads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 422, "file_empty"),
        (b"<html>phish</html>", 415, "file_type_not_allowed"),
        (pdf_bytes() + b"0" * 4096, 413, "file_too_large"),
    ],
)
def test_bad_uploads_are_problems_and_store_nothing(
    world, procurement, client_for, media, settings, content, status, code
):
    settings.PAYOR_UPLOAD_MAX_BYTES = 2048
    client = client_for(procurement)
    before = state(media)
    response = multipart(client, f"/api/v1/vendors/{world.vendor.pk}/documents", kind="w9", content=content)
    body = problem(response, status, code)
    assert state(media) == before
    if code == "file_too_large":
        assert body["max_bytes"] == 2048


def test_upload_form_errors(world, procurement, client_for, media):
    client = client_for(procurement)
    path = f"/api/v1/vendors/{world.vendor.pk}/documents"
    before = state(media)
    problem(multipart(client, path, kind="w10", content=pdf_bytes()), 422, "validation_error")
    problem(client.post(path, data={"kind": "w9"}), 422, "validation_error")
    problem(multipart(client, path, kind="coi", content=pdf_bytes()), 422, "vendor_document_valid_until_required")
    problem(
        multipart(client, path, kind="coi", content=pdf_bytes(), valid_until="2001-01-01"),
        422,
        "vendor_document_valid_until_invalid",
    )
    assert state(media) == before


def test_an_upload_with_an_idempotency_key_stores_once(world, procurement, client_for, media):
    client = client_for(procurement)
    path = f"/api/v1/vendors/{world.vendor.pk}/documents"
    content = pdf_bytes("once")
    first = multipart(client, path, kind="other", content=content, headers={"Idempotency-Key": "doc-1"})
    again = multipart(client, path, kind="other", content=content, headers={"Idempotency-Key": "doc-1"})
    assert (first.status_code, again.status_code) == (201, 201), again.content
    assert again.json()["id"] == first.json()["id"]
    assert VendorDocument.objects.filter(vendor=world.vendor, kind="other").count() == 1


def test_download_sends_the_file_as_an_attachment(world, reviewer, client_for):
    client = client_for(reviewer)
    count = AuditEvent.objects.count()
    response = client.get(f"/api/v1/vendors/{world.vendor.pk}/documents/{world.verified.pk}/download")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert content == pdf_bytes("coi")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="coi.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    event = AuditEvent.objects.order_by("-seq").first()
    assert AuditEvent.objects.count() == count + 1
    assert (event.action, event.actor_id, event.subject_id) == (
        "vendor.document_downloaded",
        reviewer.pk,
        str(world.verified.pk),
    )


def test_documents_of_another_vendor_are_not_found_through_this_one(world, org, reviewer, client_for):
    theirs = on_file(VendorFactory(organization=org), DocumentKind.W9)
    client = client_for(reviewer)
    base = f"/api/v1/vendors/{world.vendor.pk}/documents/{theirs.pk}"
    problem(client.get(f"{base}/download"), 404, "vendor_document_not_found")
    problem(post(client, f"{base}/verify", {}), 404, "vendor_document_not_found")


def test_a_tampered_file_is_a_409_not_a_500(world, reviewer, client_for, media):
    (media / world.verified.file.name).write_bytes(b"%PDF-1.7 forged")
    response = client_for(reviewer).get(f"/api/v1/vendors/{world.vendor.pk}/documents/{world.verified.pk}/download")
    problem(response, 409, "vendor_document_integrity_failed")


def test_document_list_pages_newest_first(world, reviewer, client_for):
    response = client_for(reviewer).get(f"/api/v1/vendors/{world.vendor.pk}/documents?page_size=1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["id"] for item in body["results"]] == [str(world.verified.pk)]
    assert body["results"][0]["download_url"] == (
        f"/api/v1/vendors/{world.vendor.pk}/documents/{world.verified.pk}/download"
    )
    assert [item["id"] for item in response.client.get(body["next"]).json()["results"]] == [str(world.pending.pk)]


# -- reviews, KYC and users ---------------------------------------------------------------------


def test_review_problems(world, reviewer, client_for, media):
    client = client_for(reviewer)
    base = f"/api/v1/vendors/{world.vendor.pk}"
    before = state(media)
    problem(
        post(client, f"{base}/documents/{world.pending.pk}/verify", {"decision": "rejected"}),
        422,
        "vendor_document_note_required",
    )
    problem(
        post(client, f"{base}/documents/{world.pending.pk}/verify", {"decision": "pending"}), 422, "validation_error"
    )
    problem(post(client, f"{base}/kyc", {"status": "failed"}), 422, "vendor_kyc_note_required")
    problem(post(client, f"{base}/kyc", {"status": "approved"}), 422, "validation_error")
    assert state(media) == before
    rejected = post(client, f"{base}/documents/{world.pending.pk}/verify", {"decision": "rejected", "note": "Unsigned"})
    assert rejected.status_code == 200, rejected.content
    assert (rejected.json()["status"], rejected.json()["rejected_by"]["id"]) == ("rejected", str(reviewer.pk))
    problem(post(client, f"{base}/documents/{world.pending.pk}/verify", {}), 409, "vendor_document_already_reviewed")


def test_a_vendor_user_with_a_reviewer_role_cannot_review_its_own_vendor(world, person, client_for, media):
    insider = person(FIN)
    VendorUser.objects.create(vendor=world.vendor, user=insider)
    client = client_for(insider)
    before = state(media)
    base = f"/api/v1/vendors/{world.vendor.pk}"
    problem(post(client, f"{base}/kyc", {"status": "passed"}), 403, "vendor_conflict_of_interest")
    problem(post(client, f"{base}/documents/{world.pending.pk}/verify", {}), 403, "vendor_conflict_of_interest")
    assert state(media) == before


def test_users_link_and_unlink(world, project, procurement, client_for, media):
    client = client_for(procurement)
    base = f"/api/v1/vendors/{world.vendor.pk}/users"
    ProjectRoleFactory(project=project, user=world.extra_user, role=VEN, vendor=world.vendor)
    again = post(client, base, {"user_id": str(world.extra_user.pk)})
    assert again.status_code == 200, again.content  # already linked
    unlinked = client.delete(f"{base}?email=EXTRA@riverbank.example.test")
    assert unlinked.status_code == 200, unlinked.content
    assert unlinked.json()["user_id"] == str(world.extra_user.pk)
    assert len(unlinked.json()["revoked_role_ids"]) == 1
    before = state(media)
    problem(client.delete(f"{base}?user_id={world.extra_user.pk}"), 409, "vendor_user_not_linked")
    problem(client.delete(base), 422, "validation_error")
    problem(client.delete(f"{base}?user_id={uuid.uuid4()}"), 404, "user_not_found")
    problem(post(client, base, {"email": "ghost@example.test"}), 404, "user_not_found")
    problem(post(client, base, {"user_id": str(procurement.pk)}), 403, "vendor_conflict_of_interest")
    problem(post(client, base, {}), 422, "validation_error")
    assert state(media) == before


def test_a_vendor_role_needs_a_linked_vendor_of_the_organization(
    world, project, other_project, procurement, client_for
):
    client = client_for(procurement)
    outsider = UserFactory()
    path = f"/api/v1/projects/{project.pk}/roles/assign"
    body = {"user_id": str(outsider.pk), "role": "VENDOR"}
    problem(post(client, path, {**body, "vendor_id": str(world.vendor.pk)}), 409, "vendor_user_not_linked")
    elsewhere = VendorFactory(organization=other_project.organization)
    problem(post(client, path, {**body, "vendor_id": str(elsewhere.pk)}), 404, "vendor_not_found")
