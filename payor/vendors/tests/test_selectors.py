"""Who sees which vendors: vendor.view for the organization, or being one of the vendor's users."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from payor.projects.errors import OrganizationNotFound
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory, VendorFactory
from payor.vendors import selectors
from payor.vendors.access import vendor_permission_check
from payor.vendors.errors import VendorDocumentNotFound, VendorFieldInvalid, VendorNotFound
from payor.vendors.models import DocumentKind, VendorUser
from payor.vendors.tests.conftest import on_file

pytestmark = pytest.mark.django_db

SEES_THE_ORGANIZATIONS_VENDORS = {
    ProjectRole.PROJECT_MANAGER: True,
    ProjectRole.FINANCE_REVIEWER: True,
    ProjectRole.TREASURER: True,
    ProjectRole.DAO_MULTISIG: True,
    ProjectRole.AUDITOR: True,
    ProjectRole.PROCUREMENT: True,
    ProjectRole.BENEFICIARY: False,
    ProjectRole.VENDOR: False,
}


@pytest.fixture
def world(org, project, other_project, vendor):
    other_org_vendor = VendorFactory(organization=other_project.organization, name="Elsewhere Inc")
    second = VendorFactory(organization=org, name="Second Vendor")
    return vendor, second, other_org_vendor


@pytest.mark.parametrize("role", list(ProjectRole), ids=lambda r: r.value)
def test_project_roles(world, person, role):
    vendor, second, other_org_vendor = world
    viewer = person(role)
    visible = set(selectors.vendor_list(viewer=viewer))
    if SEES_THE_ORGANIZATIONS_VENDORS[role]:
        assert visible == {vendor, second}
        assert selectors.vendor_get(viewer=viewer, vendor_id=vendor.pk) == vendor
    elif role == ProjectRole.VENDOR:
        # The VENDOR role acts for a vendor the factory made for the project's organization: that one only.
        acting_for = ProjectRoleAssignment.objects.get(user=viewer).vendor
        assert visible == {acting_for}
    else:
        assert visible == set()
    with pytest.raises(VendorNotFound):
        selectors.vendor_get(viewer=viewer, vendor_id=other_org_vendor.pk)


@pytest.mark.parametrize(
    ("role", "sees_all"),
    [(SystemRole.PLATFORM_ADMIN, True), (SystemRole.SYSTEM_AUDITOR, True), (SystemRole.TREASURY_MANAGER, False)],
)
def test_system_roles(world, system_person, role, sees_all):
    viewer = system_person(role)
    assert set(selectors.vendor_list(viewer=viewer)) == (set(world) if sees_all else set())


def test_superusers_see_every_vendor(world):
    assert set(selectors.vendor_list(viewer=UserFactory(is_superuser=True))) == set(world)


def test_a_vendor_user_sees_only_the_vendors_they_act_for(world, vendor_user):
    vendor, second, other_org_vendor = world
    assert list(selectors.vendor_list(viewer=vendor_user)) == [vendor]
    for hidden in (second, other_org_vendor):
        with pytest.raises(VendorNotFound):
            selectors.vendor_get(viewer=vendor_user, vendor_id=hidden.pk)
    VendorUser.objects.create(vendor=other_org_vendor, user=vendor_user)  # acts for two vendors
    assert set(selectors.vendor_list(viewer=vendor_user)) == {vendor, other_org_vendor}


def test_nobody_and_anonymous_see_nothing(world):
    for viewer in (UserFactory(), AnonymousUser(), None, UserFactory(is_active=False, is_superuser=True)):
        assert list(selectors.vendor_list(viewer=viewer)) == []
        with pytest.raises(VendorNotFound):
            selectors.vendor_get(viewer=viewer, vendor_id=world[0].pk)


def test_an_organization_member_without_a_role_sees_no_vendors(org, world):
    member = UserFactory()
    MembershipFactory(organization=org, user=member)
    assert list(selectors.vendor_list(viewer=member)) == []


def test_revoked_roles_show_nothing(world, person):
    viewer = person(ProjectRole.AUDITOR)
    ProjectRoleAssignment.objects.filter(user=viewer).update(revoked_at=world[0].created_at)
    assert list(selectors.vendor_list(viewer=viewer)) == []


def test_malformed_and_unknown_ids_are_not_found(world, person):
    viewer = person(ProjectRole.AUDITOR)
    for vendor_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(VendorNotFound):
            selectors.vendor_get(viewer=viewer, vendor_id=vendor_id)


def test_filters(org, project, person):
    viewer = person(ProjectRole.PROCUREMENT)
    a = VendorFactory(organization=org, name="Alder Nursery", email="orders@alder.example.test", kyc_status="pending")
    b = VendorFactory(
        organization=org, name="Birch Survey", legal_name="Birch Survey GmbH", vat_id="DE811907980", country="DE"
    )
    b.kyc_status, b.kyc_reviewed_at = "passed", b.created_at
    b.save()
    elsewhere = person(ProjectRole.PROCUREMENT, on=project)
    assert list(selectors.vendor_list(viewer=viewer, kyc_status="passed")) == [b]
    assert list(selectors.vendor_list(viewer=viewer, q="alder")) == [a]
    assert list(selectors.vendor_list(viewer=viewer, q="gmbh")) == [b]
    assert list(selectors.vendor_list(viewer=viewer, q="de 811")) == [b]
    assert list(selectors.vendor_list(viewer=viewer, q="ORDERS@")) == [a]
    assert list(selectors.vendor_list(viewer=viewer, organization=org.pk)) == [b, a]  # newest first
    assert list(selectors.vendor_list(viewer=viewer, organization=OrganizationFactory())) == []
    assert list(selectors.vendor_list(viewer=viewer, organization="garbage")) == []
    assert list(selectors.vendor_list(viewer=elsewhere, q="   ")) == [b, a]
    with pytest.raises(VendorFieldInvalid):
        selectors.vendor_list(viewer=viewer, kyc_status="maybe")


def test_documents_are_listed_with_history_and_scoped_to_their_vendor(world, person):
    vendor, second, _ = world
    viewer = person(ProjectRole.AUDITOR)
    old = on_file(vendor, DocumentKind.W9)
    new = on_file(vendor, DocumentKind.W9, status="pending")
    theirs = on_file(second, DocumentKind.W9)
    assert list(selectors.vendor_documents(viewer=viewer, vendor=vendor)) == [new, old]
    assert list(selectors.vendor_documents(viewer=viewer, vendor=vendor, kind="coi")) == []
    assert selectors.vendor_document_get(viewer=viewer, vendor=vendor, document_id=old.pk) == old
    with pytest.raises(VendorDocumentNotFound):
        selectors.vendor_document_get(viewer=viewer, vendor=vendor, document_id=theirs.pk)
    with pytest.raises(VendorNotFound):
        selectors.vendor_documents(viewer=UserFactory(), vendor=vendor)


def test_the_organization_for_onboarding(org, other_project, person):
    procurement = person(ProjectRole.PROCUREMENT)
    assert selectors.vendor_organization_get(viewer=procurement, organization_id=org.pk) == org
    member = UserFactory()
    MembershipFactory(organization=org, user=member)
    assert selectors.vendor_organization_get(viewer=member, organization_id=str(org.pk)) == org
    for viewer, organization_id in [
        (procurement, other_project.organization.pk),
        (UserFactory(), org.pk),
        (procurement, "nope"),
        (AnonymousUser(), org.pk),
    ]:
        with pytest.raises(OrganizationNotFound):
            selectors.vendor_organization_get(viewer=viewer, organization_id=organization_id)


def test_the_permission_bridge_counts_any_project_of_the_organization(org, project, person):
    second_project = ProjectFactory(organization=org)
    reviewer = person(ProjectRole.FINANCE_REVIEWER, on=second_project)
    assert vendor_permission_check(reviewer, "vendor.compliance.review", organization=org)
    assert not vendor_permission_check(reviewer, "vendor.manage", organization=org)
    assert not vendor_permission_check(reviewer, "vendor.compliance.review", organization=OrganizationFactory())
