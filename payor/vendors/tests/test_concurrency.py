"""Races over real parallel database connections (one connection per thread)."""

from __future__ import annotations

import datetime as dt

import pytest

from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.rbac.roles import ProjectRole
from payor.testing.concurrency import race
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors import services
from payor.vendors.errors import VendorDocumentSuperseded
from payor.vendors.models import DocumentStatus, KycStatus, Vendor, VendorDocument, VendorUser
from payor.vendors.tests.conftest import pdf_bytes, stored_files, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.database_facing]


@pytest.fixture
def setting(db):
    project = ProjectFactory()
    vendor = VendorFactory(organization=project.organization)

    def holder(*roles: ProjectRole):
        user = UserFactory()
        for role in roles:
            ProjectRoleFactory(project=project, user=user, role=role)
        return user

    return vendor, holder


def fresh(vendor: Vendor) -> Vendor:
    return Vendor.objects.select_related("organization").get(pk=vendor.pk)


def test_two_uploads_at_once_store_two_documents(setting, media):
    vendor, holder = setting
    procurement = holder(ProjectRole.PROCUREMENT)
    count = AuditEvent.objects.count()

    def send(text: str):
        return lambda: services.vendor_document_upload(
            actor=procurement, vendor=fresh(vendor), kind="w9", file=upload(pdf_bytes(text))
        )

    results = race([send("first"), send("second")])
    assert all(isinstance(r, VendorDocument) for r in results), results
    documents = list(VendorDocument.objects.filter(vendor=vendor))
    assert len(documents) == 2
    assert sorted((media / d.file.name).read_bytes() for d in documents) == sorted(
        [pdf_bytes("first"), pdf_bytes("second")]
    )
    assert len(stored_files(media)) == 2
    assert AuditEvent.objects.count() == count + 2
    assert audit_verify().ok


def test_two_kyc_decisions_at_once_leave_the_last_one(setting, media):
    vendor, holder = setting
    alice, bob = holder(ProjectRole.FINANCE_REVIEWER), holder(ProjectRole.FINANCE_REVIEWER)
    count = AuditEvent.objects.count()
    results = race(
        [
            lambda: services.vendor_kyc_set(actor=alice, vendor=fresh(vendor), status="passed"),
            lambda: services.vendor_kyc_set(actor=bob, vendor=fresh(vendor), status="failed", note="Mismatched TIN"),
        ]
    )
    assert all(isinstance(r, Vendor) for r in results), results
    events = list(AuditEvent.objects.filter(seq__gt=count).order_by("seq"))
    assert [e.action for e in events] == ["vendor.kyc_changed", "vendor.kyc_changed"]
    # Serialized by the vendor lock: the second decision saw the first one's result as its "before".
    assert events[1].before == {"kyc_status": events[0].after["kyc_status"]}
    vendor.refresh_from_db()
    assert vendor.kyc_status == events[1].after["kyc_status"]
    assert vendor.kyc_reviewed_by_id == events[1].actor_id


def test_a_bank_change_racing_a_kyc_pass_never_leaves_a_stale_pass(setting, media):
    vendor, holder = setting
    procurement, reviewer = holder(ProjectRole.PROCUREMENT), holder(ProjectRole.FINANCE_REVIEWER)
    for round_ in range(5):
        Vendor.objects.filter(pk=vendor.pk).update(kyc_status=KycStatus.PENDING)
        method = "wire" if round_ % 2 == 0 else "ach"
        results = race(
            [
                lambda method=method: services.vendor_update(
                    actor=procurement, vendor=fresh(vendor), changes={"bank_method": method}
                ),
                lambda: services.vendor_kyc_set(actor=reviewer, vendor=fresh(vendor), status="passed"),
            ]
        )
        assert all(isinstance(r, Vendor) for r in results), results
        vendor.refresh_from_db()
        # Either the change came first (and the pass, after it, stands) or it came last (and reset the pass).
        if vendor.kyc_status == KycStatus.PASSED:
            assert vendor.kyc_reviewed_at > vendor.identity_changed_at
        else:
            assert vendor.identity_changed_at > vendor.kyc_reviewed_at


def test_two_cois_verified_at_once_leave_one_current(setting, media, monkeypatch):
    vendor, holder = setting
    procurement = holder(ProjectRole.PROCUREMENT)
    alice, bob = holder(ProjectRole.FINANCE_REVIEWER), holder(ProjectRole.FINANCE_REVIEWER)
    older = services.vendor_document_upload(
        actor=procurement, vendor=vendor, kind="coi", file=upload(pdf_bytes("a")), valid_until=dt.date(2099, 6, 30)
    )
    newer = services.vendor_document_upload(
        actor=procurement, vendor=vendor, kind="coi", file=upload(pdf_bytes("b")), valid_until=dt.date(2099, 12, 31)
    )

    def verify(actor, document):
        return lambda: services.vendor_document_verify(
            actor=actor, document=VendorDocument.objects.select_related("vendor").get(pk=document.pk)
        )

    results = race([verify(alice, older), verify(bob, newer)])
    assert all(isinstance(r, VendorDocument | VendorDocumentSuperseded) for r in results), results
    current = VendorDocument.objects.filter(
        vendor=vendor, kind="coi", status=DocumentStatus.VERIFIED, superseded_by__isnull=True
    )
    assert list(current) == [newer]
    vendor.refresh_from_db()
    assert vendor.coi_expiry == dt.date(2099, 12, 31)


def test_two_identical_links_at_once_make_one(setting, media):
    vendor, holder = setting
    procurement = holder(ProjectRole.PROCUREMENT)
    contractor = UserFactory()
    count = AuditEvent.objects.count()

    def link():
        return services.vendor_user_link(actor=procurement, vendor=fresh(vendor), user=contractor)

    results = race([link, link])
    assert sorted(created for _, created in results) == [False, True], results  # type: ignore[misc]
    assert VendorUser.objects.filter(vendor=vendor, user=contractor).count() == 1
    assert AuditEvent.objects.count() == count + 1
