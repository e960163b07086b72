"""``projects_with_permission(viewer, perm)``: exactly the projects where ``has_permission`` says yes, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.permissions import ROLE_PERMISSIONS, SEGREGATED, Perm, has_permission, projects_with_permission
from payor.rbac.roles import ProjectRole, SystemRole
from payor.rbac.tests.conftest import make_assignment
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def ids(projects) -> set:
    return {project.pk for project in projects}


@pytest.mark.parametrize("role", list(ProjectRole))
def test_a_project_role_gives_its_permissions_on_its_project_only(holder, project, other_project, role):
    user = holder(role)
    for perm in Perm:
        expected = {project.pk} if perm in ROLE_PERMISSIONS[role] else set()
        assert ids(projects_with_permission(user, perm)) == expected, perm
        assert has_permission(user, perm, project=project) is (perm in ROLE_PERMISSIONS[role])
        assert has_permission(user, perm, project=other_project) is False


@pytest.mark.parametrize("role", list(SystemRole))
def test_a_system_role_gives_its_permissions_on_every_project(system_holder, project, other_project, role):
    user = system_holder(role)
    for perm in Perm:
        expected = {p.pk for p in (project, other_project) if has_permission(user, perm, project=p)}
        assert ids(projects_with_permission(user, perm)) == expected, perm
        assert expected in (set(), {project.pk, other_project.pk})  # all or nothing for a system role


def test_it_agrees_with_has_permission_for_mixed_holders(holder, project, other_project, system_holder):
    """The property itself, over a few users holding several roles on several projects."""
    third = ProjectFactory(currency="USD")
    mixed = holder(ProjectRole.PROJECT_MANAGER)
    make_assignment(other_project, mixed, ProjectRole.AUDITOR)
    make_assignment(third, mixed, ProjectRole.VENDOR)
    treasury = system_holder(SystemRole.TREASURY_MANAGER)
    make_assignment(project, treasury, ProjectRole.FINANCE_REVIEWER)
    admin = UserFactory(is_superuser=True)
    make_assignment(third, admin, ProjectRole.TREASURER)
    for user in (mixed, treasury, admin):
        for perm in Perm:
            expected = {p.pk for p in (project, other_project, third) if has_permission(user, perm, project=p)}
            assert ids(projects_with_permission(user, perm)) == expected, (user, perm)


def test_superusers_hold_admin_permissions_everywhere_but_segregated_ones_only_through_a_role(project, other_project):
    admin = UserFactory(is_superuser=True)
    assert ids(projects_with_permission(admin, Perm.AUDIT_READ)) == {project.pk, other_project.pk}
    for perm in SEGREGATED:
        assert ids(projects_with_permission(admin, perm)) == set(), perm
    make_assignment(project, admin, ProjectRole.DAO_MULTISIG)
    assert ids(projects_with_permission(admin, Perm.APPROVAL_MATRIX_UPDATE)) == {project.pk}


def test_revoked_roles_inactive_and_anonymous_users_get_nothing(holder, system_holder, project):
    auditor = holder(ProjectRole.AUDITOR)
    system = system_holder(SystemRole.SYSTEM_AUDITOR)
    inactive = holder(ProjectRole.AUDITOR)
    inactive.is_active = False
    inactive.save()
    ProjectRoleAssignment.objects.filter(user=auditor).update(revoked_at=timezone.now())
    SystemRoleAssignment.objects.filter(user=system).update(revoked_at=timezone.now())
    for viewer in (auditor, system, inactive, AnonymousUser(), None):
        assert list(projects_with_permission(viewer, Perm.AUDIT_READ)) == []


def test_each_project_once_whatever_the_number_of_roles(holder, project, system_holder):
    user = holder(ProjectRole.AUDITOR, ProjectRole.FINANCE_REVIEWER, ProjectRole.TREASURER)
    SystemRoleAssignment.objects.create(user=user, role=SystemRole.SYSTEM_AUDITOR)
    assert projects_with_permission(user, "audit.read").count() == 1
    assert [p.pk for p in projects_with_permission(user, Perm.AUDIT_READ)] == [project.pk]


def test_lazy_and_one_query(holder, project):
    user = holder(ProjectRole.AUDITOR)
    with CaptureQueriesContext(connection) as queries:
        projects = projects_with_permission(user, Perm.AUDIT_READ)
    assert len(queries) == 0
    with CaptureQueriesContext(connection) as queries:
        assert list(projects) == [project]
    assert len(queries) == 1


def test_an_unknown_permission_is_a_programming_error(holder):
    with pytest.raises(ValueError, match=r"audit\.write"):
        projects_with_permission(holder(ProjectRole.AUDITOR), "audit.write")
