"""Vendor services: every happy path, every refusal with its code, and nothing changed on a refusal."""

from __future__ import annotations

import datetime as dt

import pytest

from payor import audit
from payor.audit.models import AuditEvent
from payor.core.errors import PermissionDenied
from payor.core.files import FileEmpty, FileTooLarge, FileTypeNotAllowed
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.rbac.services import role_assign
from payor.testing.factories import OrganizationFactory, UserFactory, VendorFactory
from payor.vendors import services
from payor.vendors.errors import (
    VendorConflictOfInterest,
    VendorDocumentAlreadyReviewed,
    VendorDocumentIntegrityFailed,
    VendorDocumentNoteRequired,
    VendorDocumentSelfReview,
    VendorDocumentSuperseded,
    VendorDocumentValidUntilInvalid,
    VendorDocumentValidUntilRequired,
    VendorFieldInvalid,
    VendorKycNoteRequired,
    VendorKycSegregation,
    VendorNameTaken,
    VendorNotFound,
    VendorTaxStatusKindMismatch,
    VendorUserNotLinked,
)
from payor.vendors.models import DocumentKind, DocumentStatus, KycStatus, Vendor, VendorDocument, VendorUser
from payor.vendors.tests.conftest import TODAY, jpeg_bytes, on_file, pdf_bytes, png_bytes, state, stored_files, upload

pytestmark = pytest.mark.django_db

ONBOARDING = {
    "name": "  Riverbank Restoration ",
    "legal_name": "Riverbank Restoration LLC",
    "kind": "company",
    "email": "AP@Riverbank.example.test",
    "address_line1": "100 River Road",
    "city": "Eugene",
    "region": "OR",
    "postal_code": "97401",
    "country": "us",
    "vat_id": "",
    "tax_status": "w9",
    "bank_method": "ach",
    "metadata": {"erp_id": "V-1001"},
}


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


# -- vendor_create --------------------------------------------------------------------------


def test_procurement_onboards_a_vendor(org, procurement):
    count = AuditEvent.objects.count()
    vendor = services.vendor_create(actor=procurement, organization=org, **ONBOARDING)
    vendor.refresh_from_db()
    assert (vendor.name, vendor.email, vendor.country, vendor.kyc_status) == (
        "Riverbank Restoration",
        "ap@riverbank.example.test",
        "US",
        KycStatus.PENDING,
    )
    assert (vendor.created_by, vendor.identity_changed_by) == (procurement, procurement)
    assert vendor.identity_changed_at is not None
    assert AuditEvent.objects.count() == count + 1
    event = last_event()
    assert (event.action, event.subject_type, event.subject_id, event.actor_id, event.project_id) == (
        "vendor.created",
        "vendors.vendor",
        str(vendor.pk),
        procurement.pk,
        None,
    )
    assert event.after["bank_method"] == "ach"
    assert event.after["metadata"] == {"erp_id": "V-1001"}


def test_a_platform_admin_onboards_into_an_organization_without_projects(system_person):
    admin = system_person(SystemRole.PLATFORM_ADMIN)
    empty = OrganizationFactory()
    vendor = services.vendor_create(actor=admin, organization=empty, **ONBOARDING)
    assert vendor.organization == empty


def test_vat_ids_are_normalized(org, procurement):
    vendor = services.vendor_create(
        actor=procurement,
        organization=org,
        **{**ONBOARDING, "country": "DE", "tax_status": "w8bene", "vat_id": "de 123.456-789"},
    )
    assert vendor.vat_id == "DE123456789"


@pytest.mark.parametrize(
    "role", [r for r in ProjectRole if r != ProjectRole.PROCUREMENT], ids=lambda r: r.value if r else "none"
)
def test_only_vendor_managers_onboard(org, person, media, role):
    actor = person(role)
    before = state(media)
    with pytest.raises(PermissionDenied) as refused:
        services.vendor_create(actor=actor, organization=org, **ONBOARDING)
    assert (refused.value.code, refused.value.status) == ("permission_denied", 403)
    assert refused.value.extra["permission"] == "vendor.manage"
    assert state(media) == before


def test_procurement_of_another_organization_cannot_onboard_here(org, person, other_project, media):
    actor = person(ProjectRole.PROCUREMENT, on=other_project)
    before = state(media)
    with pytest.raises(PermissionDenied):
        services.vendor_create(actor=actor, organization=org, **ONBOARDING)
    assert state(media) == before


def test_names_are_unique_per_organization_whatever_the_case(org, procurement, other_project, person, media):
    services.vendor_create(actor=procurement, organization=org, **ONBOARDING)
    before = state(media)
    with pytest.raises(VendorNameTaken) as refused:
        services.vendor_create(actor=procurement, organization=org, **{**ONBOARDING, "name": "RIVERBANK restoration"})
    assert (refused.value.code, refused.value.status) == ("vendor_name_taken", 409)
    assert state(media) == before
    # Another organization's vendor master is another namespace.
    elsewhere = person(ProjectRole.PROCUREMENT, on=other_project)
    services.vendor_create(actor=elsewhere, organization=other_project.organization, **ONBOARDING)


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"name": "   "}, VendorFieldInvalid, "name"),
        ({"name": "Tab\tname"}, VendorFieldInvalid, "name"),
        ({"legal_name": "x" * 201}, VendorFieldInvalid, "legal_name"),
        ({"legal_name": "Nul\x00Inc"}, VendorFieldInvalid, "legal_name"),
        ({"kind": "trust"}, VendorFieldInvalid, "kind"),
        ({"country": "XK"}, VendorFieldInvalid, "country"),
        ({"country": "USA"}, VendorFieldInvalid, "country"),
        ({"email": "not-an-email"}, VendorFieldInvalid, "email"),
        ({"vat_id": "DE?"}, VendorFieldInvalid, "vat_id"),
        ({"tax_status": "w7"}, VendorFieldInvalid, "tax_status"),
        ({"bank_method": "cheque"}, VendorFieldInvalid, "bank_method"),
        ({"metadata": {"rate": 1.5}}, VendorFieldInvalid, "metadata"),
        ({"metadata": ["not", "an", "object"]}, VendorFieldInvalid, "metadata"),
        ({"metadata": {"blob": "x" * 20_000}}, VendorFieldInvalid, "metadata"),
        ({"tax_status": "w8ben"}, VendorTaxStatusKindMismatch, None),
        ({"kind": "individual", "tax_status": "w8bene"}, VendorTaxStatusKindMismatch, None),
    ],
)
def test_invalid_vendors_are_422_and_change_nothing(org, procurement, media, changes, error, field):
    before = state(media)
    with pytest.raises(error) as refused:
        services.vendor_create(actor=procurement, organization=org, **{**ONBOARDING, **changes})
    assert refused.value.status == 422
    assert refused.value.extra.get("field") == field
    assert state(media) == before


# -- vendor_update --------------------------------------------------------------------------


def test_update_audits_only_what_changed(vendor, procurement):
    count = AuditEvent.objects.count()
    updated = services.vendor_update(
        actor=procurement, vendor=vendor, changes={"city": "Portland", "postal_code": "97201", "name": vendor.name}
    )
    assert (updated.city, updated.postal_code) == ("Portland", "97201")
    event = last_event()
    assert AuditEvent.objects.count() == count + 1
    assert (event.action, event.before, event.after) == (
        "vendor.updated",
        {"city": "Eugene", "postal_code": "97401"},
        {"city": "Portland", "postal_code": "97201"},
    )
    assert updated.identity_changed_by is None  # an address is not identity or payment details


def test_an_update_that_changes_nothing_is_a_no_op(vendor, procurement, media):
    before = state(media)
    services.vendor_update(actor=procurement, vendor=vendor, changes={"city": " Eugene ", "country": "us"})
    assert state(media) == before


def test_a_bank_change_sends_a_passed_kyc_back_to_pending(vendor, procurement):
    Vendor.objects.filter(pk=vendor.pk).update(kyc_status=KycStatus.PASSED, kyc_reviewed_at=vendor.created_at)
    vendor.refresh_from_db()
    updated = services.vendor_update(actor=procurement, vendor=vendor, changes={"bank_method": "wire"})
    updated.refresh_from_db()
    assert (updated.bank_method, updated.kyc_status, updated.identity_changed_by) == (
        "wire",
        KycStatus.PENDING,
        procurement,
    )
    assert last_event().before == {"bank_method": "ach", "kyc_status": "passed"}
    assert last_event().after == {"bank_method": "wire", "kyc_status": "pending"}


def test_update_refusals_change_nothing(vendor, person, procurement, vendor_user, media, other_project):
    VendorFactory(organization=vendor.organization, name="Taken Name")
    cases = [
        (person(ProjectRole.PROJECT_MANAGER), {"city": "X"}, PermissionDenied, "permission_denied"),
        (person(ProjectRole.PROCUREMENT, on=other_project), {"city": "X"}, VendorNotFound, "vendor_not_found"),
        (UserFactory(), {"city": "X"}, VendorNotFound, "vendor_not_found"),
        (vendor_user, {"city": "X"}, PermissionDenied, "permission_denied"),
        (procurement, {"name": "taken name"}, VendorNameTaken, "vendor_name_taken"),
        (procurement, {"tax_status": "w8ben"}, VendorTaxStatusKindMismatch, "vendor_tax_status_kind_mismatch"),
        (procurement, {"country": "ZZ"}, VendorFieldInvalid, "vendor_field_invalid"),
    ]
    for actor, changes, error, code in cases:
        before = state(media)
        with pytest.raises(error) as refused:
            services.vendor_update(actor=actor, vendor=vendor, changes=changes)
        assert refused.value.code == code
        assert state(media) == before


def test_a_vendor_manager_who_acts_for_the_vendor_cannot_edit_it(vendor, procurement, media):
    VendorUser.objects.create(vendor=vendor, user=procurement)
    before = state(media)
    with pytest.raises(VendorConflictOfInterest) as refused:
        services.vendor_update(actor=procurement, vendor=vendor, changes={"bank_method": "usdc"})
    assert (refused.value.code, refused.value.status) == ("vendor_conflict_of_interest", 403)
    assert state(media) == before


def test_update_rejects_fields_that_are_not_updatable(vendor, procurement):
    for field in ("kyc_status", "coi_expiry", "organization"):
        with pytest.raises(TypeError):
            services.vendor_update(actor=procurement, vendor=vendor, changes={field: "x"})


# -- vendor_kyc_set ---------------------------------------------------------------------------


def test_a_finance_reviewer_passes_kyc(vendor, reviewer):
    updated = services.vendor_kyc_set(actor=reviewer, vendor=vendor, status="passed", note="TIN matched")
    updated.refresh_from_db()
    assert (updated.kyc_status, updated.kyc_reviewed_by, updated.kyc_note) == ("passed", reviewer, "TIN matched")
    assert (last_event().action, last_event().before, last_event().after) == (
        "vendor.kyc_changed",
        {"kyc_status": "pending"},
        {"kyc_status": "passed", "note": "TIN matched"},
    )
    count = AuditEvent.objects.count()
    services.vendor_kyc_set(actor=reviewer, vendor=updated, status="passed")  # already passed: no-op
    assert AuditEvent.objects.count() == count


def test_failing_kyc_needs_a_note(vendor, reviewer, media):
    before = state(media)
    with pytest.raises(VendorKycNoteRequired) as refused:
        services.vendor_kyc_set(actor=reviewer, vendor=vendor, status="failed", note="  ")
    assert (refused.value.code, refused.value.status) == ("vendor_kyc_note_required", 422)
    assert state(media) == before
    services.vendor_kyc_set(actor=reviewer, vendor=vendor, status="failed", note="Sanctions list match")
    vendor.refresh_from_db()
    assert vendor.kyc_status == "failed"


def test_whoever_set_the_bank_details_cannot_pass_kyc(vendor, person, media):
    both = person(ProjectRole.PROCUREMENT, ProjectRole.FINANCE_REVIEWER)
    services.vendor_update(actor=both, vendor=vendor, changes={"bank_method": "sepa"})
    before = state(media)
    with pytest.raises(VendorKycSegregation) as refused:
        services.vendor_kyc_set(actor=both, vendor=vendor, status="passed")
    assert (refused.value.code, refused.value.status) == ("vendor_kyc_segregation", 403)
    assert state(media) == before
    # Failing it is allowed (stopping payment is never the fraud), and another reviewer may pass it.
    services.vendor_kyc_set(actor=both, vendor=vendor, status="failed", note="bank letter unsigned")
    services.vendor_kyc_set(actor=person(ProjectRole.FINANCE_REVIEWER), vendor=vendor, status="passed")


def test_the_creator_cannot_pass_kyc_either(org, person):
    both = person(ProjectRole.PROCUREMENT, ProjectRole.FINANCE_REVIEWER)
    vendor = services.vendor_create(actor=both, organization=org, **ONBOARDING)
    with pytest.raises(VendorKycSegregation):
        services.vendor_kyc_set(actor=both, vendor=vendor, status="passed")


def test_kyc_refusals_change_nothing(vendor, person, system_person, procurement, media, other_project):
    linked_reviewer = person(ProjectRole.FINANCE_REVIEWER)
    VendorUser.objects.create(vendor=vendor, user=linked_reviewer)
    cases = [
        (procurement, PermissionDenied, "permission_denied"),
        (person(ProjectRole.TREASURER), PermissionDenied, "permission_denied"),
        (system_person(SystemRole.PLATFORM_ADMIN), PermissionDenied, "permission_denied"),  # segregated permission
        (person(ProjectRole.FINANCE_REVIEWER, on=other_project), VendorNotFound, "vendor_not_found"),
        (linked_reviewer, VendorConflictOfInterest, "vendor_conflict_of_interest"),
    ]
    for actor, error, code in cases:
        before = state(media)
        with pytest.raises(error) as refused:
            services.vendor_kyc_set(actor=actor, vendor=vendor, status="passed")
        assert refused.value.code == code
        assert state(media) == before


def test_the_vendors_own_user_never_decides_its_kyc(vendor, vendor_user, media):
    before = state(media)
    with pytest.raises(PermissionDenied):
        services.vendor_kyc_set(actor=vendor_user, vendor=vendor, status="passed")
    assert state(media) == before


# -- linking users ----------------------------------------------------------------------------


def test_link_then_link_again_is_a_no_op(vendor, procurement):
    contractor = UserFactory()
    count = AuditEvent.objects.count()
    link, created = services.vendor_user_link(actor=procurement, vendor=vendor, user=contractor)
    assert created
    assert (link.vendor, link.user, link.created_by) == (vendor, contractor, procurement)
    assert (last_event().action, last_event().after["user_id"]) == ("vendor.user_linked", str(contractor.pk))
    again, created = services.vendor_user_link(actor=procurement, vendor=vendor, user=contractor)
    assert (again.pk, created) == (link.pk, False)
    assert AuditEvent.objects.count() == count + 1


def test_a_user_may_act_for_several_vendors(org, vendor, procurement):
    contractor = UserFactory()
    other = VendorFactory(organization=org)
    services.vendor_user_link(actor=procurement, vendor=vendor, user=contractor)
    services.vendor_user_link(actor=procurement, vendor=other, user=contractor)
    assert set(contractor.vendors.all()) == {vendor, other}


def test_nobody_links_themselves(vendor, procurement, media):
    before = state(media)
    with pytest.raises(VendorConflictOfInterest):
        services.vendor_user_link(actor=procurement, vendor=vendor, user=procurement)
    assert state(media) == before


def test_unlinking_revokes_the_users_vendor_roles(vendor, project, procurement, system_person):
    contractor = UserFactory()
    admin = system_person(SystemRole.PLATFORM_ADMIN)
    services.vendor_user_link(actor=procurement, vendor=vendor, user=contractor)
    assignment, _ = role_assign(
        actor=admin, project=project, user=contractor, role=ProjectRole.VENDOR, vendor_id=vendor.pk
    )
    count = AuditEvent.objects.count()
    revoked = services.vendor_user_unlink(actor=procurement, vendor=vendor, user=contractor)
    assert revoked == [assignment.pk]
    assignment.refresh_from_db()
    assert (assignment.revoked_by, assignment.revoked_at is not None) == (procurement, True)
    assert not VendorUser.objects.filter(vendor=vendor, user=contractor).exists()
    events = list(AuditEvent.objects.filter(seq__gt=count).order_by("seq"))
    assert [(e.action, e.project_id) for e in events] == [("role.revoked", project.pk), ("vendor.user_unlinked", None)]
    assert events[1].after == {"revoked_role_ids": [str(assignment.pk)]}


def test_unlinking_someone_not_linked_is_409(vendor, procurement, media):
    before = state(media)
    with pytest.raises(VendorUserNotLinked) as refused:
        services.vendor_user_unlink(actor=procurement, vendor=vendor, user=UserFactory())
    assert (refused.value.code, refused.value.status) == ("vendor_user_not_linked", 409)
    assert state(media) == before


def test_link_refusals_change_nothing(vendor, person, vendor_user, media):
    for actor, error in [
        (person(ProjectRole.PROJECT_MANAGER), PermissionDenied),
        (vendor_user, PermissionDenied),
        (UserFactory(), VendorNotFound),
    ]:
        before = state(media)
        with pytest.raises(error):
            services.vendor_user_link(actor=actor, vendor=vendor, user=UserFactory())
        with pytest.raises(error):
            services.vendor_user_unlink(actor=actor, vendor=vendor, user=vendor_user)
        assert state(media) == before


# -- uploads ----------------------------------------------------------------------------------


def test_a_vendor_user_uploads_its_w9(vendor, vendor_user, media):
    content = pdf_bytes("signed W-9")
    count = AuditEvent.objects.count()
    document = services.vendor_document_upload(
        actor=vendor_user, vendor=vendor, kind="w9", file=upload(content, "../../W-9 2026.PDF"), filename=None
    )
    document.refresh_from_db()
    assert document.file.name == f"vendors/{vendor.pk}/{document.pk}.pdf"
    assert (media / document.file.name).read_bytes() == content
    assert (document.kind, document.status, document.original_filename, document.content_type, document.size) == (
        "w9",
        "pending",
        "W-9 2026.pdf",
        "application/pdf",
        len(content),
    )
    assert document.uploaded_by == vendor_user
    assert AuditEvent.objects.count() == count + 1
    assert last_event().action == "vendor.document_uploaded"
    assert last_event().after["sha256"] == document.sha256


def test_uploads_are_never_overwritten(vendor, procurement, media):
    first = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes("1")))
    second = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes("2")))
    assert first.file.name != second.file.name
    assert (media / first.file.name).read_bytes() == pdf_bytes("1")
    assert (media / second.file.name).read_bytes() == pdf_bytes("2")


def test_the_type_comes_from_the_bytes(vendor, procurement):
    png = services.vendor_document_upload(
        actor=procurement, vendor=vendor, kind="other", file=upload(png_bytes(), "scan.pdf", "application/pdf")
    )
    jpeg = services.vendor_document_upload(
        actor=procurement, vendor=vendor, kind="other", file=upload(jpeg_bytes(), "photo", "text/plain")
    )
    assert (png.content_type, png.original_filename, png.file.name.endswith(".png")) == (
        "image/png",
        "scan.pdf.png",
        True,
    )
    assert (jpeg.content_type, jpeg.original_filename) == ("image/jpeg", "photo.jpg")


@pytest.mark.parametrize(
    ("content", "name", "error", "code", "status"),
    [
        (b"", "empty.pdf", FileEmpty, "file_empty", 422),
        (b"<html><script>alert(1)</script></html>", "w9.pdf", FileTypeNotAllowed, "file_type_not_allowed", 415),
        (b"MZ\x90\x00" + b"\x00" * 100, "w9.pdf", FileTypeNotAllowed, "file_type_not_allowed", 415),
        (b"name,amount\nA,1\n", "w9.csv", FileTypeNotAllowed, "file_type_not_allowed", 415),
        (pdf_bytes() + b"x" * 2048, "big.pdf", FileTooLarge, "file_too_large", 413),
    ],
)
def test_bad_uploads_store_nothing(vendor, procurement, media, settings, content, name, error, code, status):
    settings.PAYOR_UPLOAD_MAX_BYTES = 1024
    before = state(media)
    with pytest.raises(error) as refused:
        services.vendor_document_upload(
            actor=procurement, vendor=vendor, kind="w9", file=upload(content, name, "application/pdf")
        )
    assert (refused.value.code, refused.value.status) == (code, status)
    assert state(media) == before
    assert stored_files(media) == []


def test_a_coi_needs_a_current_expiry(vendor, procurement, media, today):
    for valid_until, error in [
        (None, VendorDocumentValidUntilRequired),
        (TODAY - dt.timedelta(days=1), VendorDocumentValidUntilInvalid),
    ]:
        before = state(media)
        with pytest.raises(error) as refused:
            services.vendor_document_upload(
                actor=procurement, vendor=vendor, kind="coi", file=upload(pdf_bytes()), valid_until=valid_until
            )
        assert refused.value.status == 422
        assert state(media) == before
    document = services.vendor_document_upload(
        actor=procurement, vendor=vendor, kind="coi", file=upload(pdf_bytes()), valid_until=TODAY
    )
    assert document.valid_until == TODAY


def test_upload_refusals_by_role(vendor, person, system_person, other_project, media):
    cases = [
        (person(ProjectRole.FINANCE_REVIEWER), PermissionDenied),
        (person(ProjectRole.PROJECT_MANAGER), PermissionDenied),
        (system_person(SystemRole.SYSTEM_AUDITOR), PermissionDenied),
        (person(ProjectRole.VENDOR), VendorNotFound),  # acts for another vendor
        (person(ProjectRole.PROCUREMENT, on=other_project), VendorNotFound),
        (UserFactory(), VendorNotFound),
    ]
    for actor, error in cases:
        before = state(media)
        with pytest.raises(error):
            services.vendor_document_upload(actor=actor, vendor=vendor, kind="w9", file=upload(pdf_bytes()))
        assert state(media) == before


def test_a_failure_after_storing_deletes_the_file(vendor, procurement, media, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("audit chain unavailable")

    monkeypatch.setattr(audit, "record", broken)
    before = state(media)
    with pytest.raises(RuntimeError):
        services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes()))
    assert state(media) == before


# -- reviews ----------------------------------------------------------------------------------


def test_verifying_a_w9_makes_it_current_and_supersedes_the_old_one(vendor, procurement, reviewer):
    old = on_file(vendor, DocumentKind.W9)
    new = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes("new")))
    verified = services.vendor_document_verify(actor=reviewer, document=new, note="TIN matches")
    old.refresh_from_db()
    assert (verified.status, verified.verified_by, verified.is_current) == ("verified", reviewer, True)
    assert (old.superseded_by, old.is_current) == (new, False)
    assert old.superseded_at == verified.verified_at
    event = last_event()
    assert (event.action, event.before, event.after) == (
        "vendor.document_verified",
        {"status": "pending", "valid_until": None},
        {"status": "verified", "valid_until": None, "note": "TIN matches", "superseded_ids": [str(old.pk)]},
    )


def test_verifying_a_coi_sets_the_vendors_coi_expiry(vendor, procurement, reviewer, today):
    coi = services.vendor_document_upload(
        actor=procurement, vendor=vendor, kind="coi", file=upload(pdf_bytes()), valid_until=TODAY
    )
    # The reviewer reads the certificate: cover actually runs to the end of the year.
    services.vendor_document_verify(actor=reviewer, document=coi, valid_until=dt.date(2026, 12, 31))
    vendor.refresh_from_db()
    coi.refresh_from_db()
    assert (coi.valid_until, vendor.coi_expiry) == (dt.date(2026, 12, 31), dt.date(2026, 12, 31))
    assert last_event().after["vendor_coi_expiry"] == "2026-12-31"


def test_other_documents_do_not_supersede_each_other(vendor, procurement, reviewer):
    first = on_file(vendor, DocumentKind.OTHER)
    second = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="other", file=upload(pdf_bytes()))
    services.vendor_document_verify(actor=reviewer, document=second)
    first.refresh_from_db()
    assert first.is_current


def test_rejecting_needs_a_note_and_keeps_the_document(vendor, procurement, reviewer, media):
    document = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes()))
    before = state(media)
    with pytest.raises(VendorDocumentNoteRequired):
        services.vendor_document_verify(actor=reviewer, document=document, decision="rejected")
    assert state(media) == before
    rejected = services.vendor_document_verify(actor=reviewer, document=document, decision="rejected", note="Unsigned")
    assert (rejected.status, rejected.rejected_by, rejected.review_note) == ("rejected", reviewer, "Unsigned")
    assert last_event().action == "vendor.document_rejected"
    assert (media / document.file.name).exists()


def test_review_state_conflicts(vendor, procurement, reviewer, media):
    older = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes("a")))
    newer = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes("b")))
    services.vendor_document_verify(actor=reviewer, document=newer)
    count = AuditEvent.objects.count()
    services.vendor_document_verify(actor=reviewer, document=newer)  # same decision again: no-op
    assert AuditEvent.objects.count() == count
    before = state(media)
    with pytest.raises(VendorDocumentAlreadyReviewed) as refused:
        services.vendor_document_verify(actor=reviewer, document=newer, decision="rejected", note="changed my mind")
    assert (refused.value.code, refused.value.status) == ("vendor_document_already_reviewed", 409)
    with pytest.raises(VendorDocumentSuperseded) as refused:
        services.vendor_document_verify(actor=reviewer, document=older)
    assert (refused.value.code, refused.value.status) == ("vendor_document_superseded", 409)
    assert state(media) == before


def test_review_refusals_change_nothing(vendor, person, procurement, reviewer, system_person, media):
    linked_reviewer = person(ProjectRole.FINANCE_REVIEWER)
    VendorUser.objects.create(vendor=vendor, user=linked_reviewer)
    both = person(ProjectRole.PROCUREMENT, ProjectRole.FINANCE_REVIEWER)
    mine = services.vendor_document_upload(actor=both, vendor=vendor, kind="w9", file=upload(pdf_bytes("x")))
    theirs = services.vendor_document_upload(actor=procurement, vendor=vendor, kind="w9", file=upload(pdf_bytes("y")))
    cases = [
        (both, mine, VendorDocumentSelfReview, "vendor_document_self_review"),
        (linked_reviewer, theirs, VendorConflictOfInterest, "vendor_conflict_of_interest"),
        (procurement, theirs, PermissionDenied, "permission_denied"),
        (system_person(SystemRole.PLATFORM_ADMIN), theirs, PermissionDenied, "permission_denied"),
        (UserFactory(), theirs, VendorNotFound, "vendor_not_found"),
    ]
    for actor, document, error, code in cases:
        before = state(media)
        with pytest.raises(error) as refused:
            services.vendor_document_verify(actor=actor, document=document)
        assert refused.value.code == code
        assert state(media) == before


def test_a_coi_is_verified_only_with_a_current_expiry(vendor, reviewer, media, today):
    coi = on_file(vendor, DocumentKind.COI, status=DocumentStatus.PENDING)
    before = state(media)
    with pytest.raises(VendorDocumentValidUntilRequired):
        services.vendor_document_verify(actor=reviewer, document=coi)
    with pytest.raises(VendorDocumentValidUntilInvalid):
        services.vendor_document_verify(actor=reviewer, document=coi, valid_until=TODAY - dt.timedelta(days=1))
    assert state(media) == before


# -- downloads --------------------------------------------------------------------------------


def test_download_is_checked_and_audited(vendor, reviewer):
    content = pdf_bytes("the form")
    document = on_file(vendor, DocumentKind.W9, content=content)
    count = AuditEvent.objects.count()
    with services.vendor_document_download(actor=reviewer, document=document) as handle:
        assert handle.read() == content
    assert AuditEvent.objects.count() == count + 1
    assert (last_event().action, last_event().actor_id) == ("vendor.document_downloaded", reviewer.pk)


def test_a_tampered_file_is_refused(vendor, reviewer, media):
    document = on_file(vendor, DocumentKind.W9)
    (media / document.file.name).write_bytes(pdf_bytes("forged"))
    before = state(media)
    with pytest.raises(VendorDocumentIntegrityFailed) as refused:
        services.vendor_document_download(actor=reviewer, document=document)
    assert (refused.value.code, refused.value.status) == ("vendor_document_integrity_failed", 409)
    (media / document.file.name).unlink()
    with pytest.raises(VendorDocumentIntegrityFailed):
        services.vendor_document_download(actor=reviewer, document=document)
    assert AuditEvent.objects.count() == before[4]


def test_a_project_manager_sees_that_a_w9_is_on_file_but_not_the_form(vendor, person, media):
    document = on_file(vendor, DocumentKind.W9)
    pm = person(ProjectRole.PROJECT_MANAGER)
    before = state(media)
    with pytest.raises(PermissionDenied) as refused:
        services.vendor_document_download(actor=pm, document=document)
    assert refused.value.extra["permission"] == "dataroom.read"
    assert state(media) == before


def test_documents_are_kept_forever(vendor):
    document = on_file(vendor, DocumentKind.W9)
    assert VendorDocument.objects.filter(pk=document.pk).exists()
    with pytest.raises(Exception, match="protected"):
        vendor.delete()
    assert ProjectRoleAssignment.objects.count() == 0
