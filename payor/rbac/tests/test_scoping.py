"""Object-level scoping: which projects a viewer sees, which vendors a vendor user acts for, approval limits."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from payor.core.money import Money
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.permissions import (
    approval_limit,
    can_approve_amount,
    is_platform_admin,
    project_visible,
    projects_for,
    roles_of,
    system_roles_of,
    vendor_ids_for,
)
from payor.rbac.roles import ProjectRole, SystemRole
from payor.rbac.tests.conftest import make_assignment, usd
from payor.testing.factories import MembershipFactory, ProjectFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

PM = ProjectRole.PROJECT_MANAGER
FIN = ProjectRole.FINANCE_REVIEWER


def test_a_user_without_roles_sees_nothing_even_in_their_own_organization(project):
    member = UserFactory()
    MembershipFactory(organization=project.organization, user=member)
    assert list(projects_for(member)) == []
    assert project_visible(member, project) is False
    assert roles_of(member, project) == frozenset()


@pytest.mark.parametrize("role", list(ProjectRole))
def test_any_role_makes_exactly_that_project_visible(holder, project, other_project, role):
    user = holder(role)
    assert list(projects_for(user)) == [project]
    assert project_visible(user, project) is True
    assert project_visible(user, project.pk) is True
    assert project_visible(user, other_project) is False
    assert roles_of(user, project) == {role}
    assert roles_of(user, other_project) == frozenset()


def test_projects_for_lists_each_project_once_whatever_the_number_of_roles(holder, project, other_project):
    user = holder(PM, FIN, ProjectRole.AUDITOR)
    make_assignment(other_project, user, ProjectRole.BENEFICIARY)
    ProjectFactory()  # not theirs
    assert sorted(p.pk for p in projects_for(user)) == sorted([project.pk, other_project.pk])
    assert projects_for(user).count() == 2


def test_revoked_roles_hide_the_project_again(holder, project):
    user = holder(PM)
    ProjectRoleAssignment.objects.filter(user=user).update(revoked_at=timezone.now())
    assert list(projects_for(user)) == []
    assert project_visible(user, project) is False
    assert roles_of(user, project) == frozenset()


@pytest.mark.parametrize("role", list(SystemRole))
def test_system_roles_see_every_project(system_holder, project, other_project, role):
    user = system_holder(role)
    assert set(projects_for(user)) == {project, other_project}
    assert project_visible(user, other_project) is True
    assert system_roles_of(user) == {role}
    assert roles_of(user, project) == frozenset()  # system roles are not project roles


def test_revoked_system_role_sees_nothing(system_holder, project):
    user = system_holder(SystemRole.SYSTEM_AUDITOR)
    SystemRoleAssignment.objects.filter(user=user).update(revoked_at=timezone.now())
    assert list(projects_for(user)) == []
    assert project_visible(user, project) is False


def test_superusers_see_everything_and_are_platform_admins(admin, project, other_project):
    assert set(projects_for(admin)) == {project, other_project}
    assert project_visible(admin, project)
    assert is_platform_admin(admin)
    assert system_roles_of(admin) == {SystemRole.PLATFORM_ADMIN}


def test_platform_admin_role(system_holder, holder):
    assert is_platform_admin(system_holder(SystemRole.PLATFORM_ADMIN))
    assert not is_platform_admin(system_holder(SystemRole.SYSTEM_AUDITOR))
    assert not is_platform_admin(holder(ProjectRole.DAO_MULTISIG))


def test_inactive_and_anonymous_viewers_see_nothing(holder, admin, project):
    user = holder(PM)
    user.is_active = False
    user.save()
    admin.is_active = False
    admin.save()
    for viewer in (user, admin, AnonymousUser(), None):
        assert list(projects_for(viewer)) == []
        assert project_visible(viewer, project) is False
        assert roles_of(viewer, project) == frozenset()
        assert not is_platform_admin(viewer)


def test_project_visible_with_a_malformed_id_is_false(holder):
    assert project_visible(holder(PM), "not-a-uuid") is False


def test_vendor_ids_for_gives_the_vendors_a_vendor_user_acts_for(project, other_project):
    vendor_a, vendor_b = (VendorFactory(organization=project.organization).pk for _ in range(2))
    vendor_c = VendorFactory(organization=other_project.organization).pk
    alice, bob = UserFactory(), UserFactory()
    make_assignment(project, alice, ProjectRole.VENDOR, vendor_id=vendor_a)
    make_assignment(project, bob, ProjectRole.VENDOR, vendor_id=vendor_b)
    make_assignment(other_project, alice, ProjectRole.VENDOR, vendor_id=vendor_c)
    assert vendor_ids_for(alice, project) == {vendor_a}
    assert vendor_ids_for(bob, project) == {vendor_b}
    assert vendor_ids_for(alice, other_project) == {vendor_c}
    # Cross-vendor: nobody else acts for a vendor, not even a PM or an admin.
    pm = UserFactory()
    make_assignment(project, pm, PM)
    assert vendor_ids_for(pm, project) == frozenset()
    ProjectRoleAssignment.objects.filter(user=bob).update(revoked_at=timezone.now())
    assert vendor_ids_for(bob, project) == frozenset()
    assert vendor_ids_for(AnonymousUser(), project) == frozenset()


# -- approval limits ---------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "allowed"),
    [
        (usd("10000.00"), True),  # at the limit
        (usd("9999.99"), True),  # below
        (usd("0.00"), True),
        (usd("10000.01"), False),  # above
        (Money.parse("100.00", "EUR"), False),  # other currency: never converted
        (Money.parse("1.000000", "USDC"), False),
        (usd("-1.00"), False),
    ],
)
def test_can_approve_amount(holder, project, amount, allowed):
    user = holder(FIN, limit=usd("10000.00"))
    assert can_approve_amount(user, project, FIN, amount) is allowed


def test_approval_needs_the_role_an_active_assignment_and_a_limit(holder, project, other_project):
    user = holder(PM, limit=usd("500.00"))
    assert approval_limit(user, project, PM) == usd("500.00")
    assert approval_limit(user, project, FIN) is None
    assert approval_limit(user, other_project, PM) is None
    assert not can_approve_amount(user, project, FIN, usd("1.00"))  # another role
    assert not can_approve_amount(user, other_project, PM, usd("1.00"))  # another project
    no_limit = holder(ProjectRole.TREASURER)
    assert approval_limit(no_limit, project, ProjectRole.TREASURER) is None
    assert not can_approve_amount(no_limit, project, ProjectRole.TREASURER, usd("0.01"))  # fail closed
    ProjectRoleAssignment.objects.filter(user=user).update(revoked_at=timezone.now())
    assert approval_limit(user, project, PM) is None
    assert not can_approve_amount(user, project, PM, usd("1.00"))
    user.is_active = False
    assert not can_approve_amount(user, project, PM, usd("1.00"))


def test_can_approve_amount_refuses_non_money(holder, project):
    with pytest.raises(TypeError):
        can_approve_amount(holder(PM, limit=usd("1.00")), project, PM, 100)
