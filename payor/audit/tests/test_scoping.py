"""Who reads which audit events: ``audit.read`` per project role, platform-wide for system roles, nothing else."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payor.audit.selectors import AuditFilter, audit_events, audit_scope
from payor.audit.services import audit_record
from payor.audit.tests.conftest import AUDIT_PROJECT_ROLES, AUDIT_SYSTEM_ROLES, grant, reader
from payor.core.errors import PermissionDenied
from payor.rbac.errors import ProjectNotFound
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.permissions import ROLE_PERMISSIONS, SYSTEM_PERMISSIONS, Perm
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def seqs(events) -> list[int]:
    return list(events.values_list("seq", flat=True))


def test_the_reader_roles_are_those_of_the_permission_map():
    """The tests below hard-code seed 004's readers; the map must agree (it is not changed here)."""
    assert {role for role, perms in ROLE_PERMISSIONS.items() if Perm.AUDIT_READ in perms} == AUDIT_PROJECT_ROLES
    assert {role for role, perms in SYSTEM_PERMISSIONS.items() if Perm.AUDIT_READ in perms} == AUDIT_SYSTEM_ROLES


@pytest.mark.parametrize("role", sorted(AUDIT_PROJECT_ROLES))
def test_a_project_reader_sees_exactly_that_projects_events(world, role):
    user = reader(role, on=world.a)
    assert seqs(audit_events(viewer=user)) == [1, 3, 5]
    assert seqs(audit_events(viewer=user, filters=AuditFilter(project_id=world.a.pk))) == [1, 3, 5]
    scope = audit_scope(viewer=user)
    assert (scope.everything, list(scope.projects)) == (False, [world.a])


@pytest.mark.parametrize("role", sorted(set(ProjectRole) - AUDIT_PROJECT_ROLES))
def test_other_project_roles_are_refused_not_shown_an_empty_log(world, role):
    user = reader(role, on=world.a)
    with pytest.raises(PermissionDenied) as info:
        audit_events(viewer=user)
    assert info.value.extra == {"permission": "audit.read"}
    with pytest.raises(PermissionDenied):
        audit_events(viewer=user, filters=AuditFilter(project_id=world.a.pk))


@pytest.mark.parametrize("role", sorted(AUDIT_SYSTEM_ROLES))
def test_platform_readers_see_every_event_including_those_without_a_project(world, role):
    user = reader(role)
    assert seqs(audit_events(viewer=user)) == [1, 2, 3, 4, 5, 6]
    assert seqs(audit_events(viewer=user, filters=AuditFilter(project_id=world.b.pk))) == [2, 6]
    assert audit_scope(viewer=user).everything is True


def test_treasury_managers_see_projects_but_not_their_audit_trail(world):
    user = reader(SystemRole.TREASURY_MANAGER)
    with pytest.raises(PermissionDenied):
        audit_events(viewer=user)


def test_superusers_read_everything_organization_members_and_anonymous_nothing(world):
    assert seqs(audit_events(viewer=world.admin)) == [1, 2, 3, 4, 5, 6]
    member = reader()
    MembershipFactory(user=member, organization=world.a.organization)  # membership alone is no longer a reason
    for viewer in (member, AnonymousUser(), None):
        with pytest.raises(PermissionDenied):
            audit_events(viewer=viewer)


def test_inactive_users_and_revoked_roles_read_nothing(world):
    auditor = reader(ProjectRole.AUDITOR, on=world.a)
    system = reader(SystemRole.SYSTEM_AUDITOR)
    inactive = reader(ProjectRole.AUDITOR, on=world.a, is_active=False)
    with pytest.raises(PermissionDenied):
        audit_events(viewer=inactive)
    ProjectRoleAssignment.objects.filter(user=auditor).update(revoked_at=timezone.now())
    SystemRoleAssignment.objects.filter(user=system).update(revoked_at=timezone.now())
    for viewer in (auditor, system):
        with pytest.raises(PermissionDenied):
            audit_events(viewer=viewer)


def test_readers_of_several_projects_see_their_union_and_never_another_project(world):
    user = reader(ProjectRole.AUDITOR, on=world.a)
    grant(user, ProjectRole.DAO_MULTISIG, world.b)
    third = ProjectFactory()
    audit_record(
        actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id="3", project_id=third.pk
    )
    grant(user, ProjectRole.VENDOR, third)  # sees the third project, but not its audit trail
    assert seqs(audit_events(viewer=user)) == [1, 2, 3, 5, 6]
    with pytest.raises(PermissionDenied):
        audit_events(viewer=user, filters=AuditFilter(project_id=third.pk))


def test_a_project_filter_outside_the_scope_is_404_whether_or_not_it_exists(world):
    user = reader(ProjectRole.AUDITOR, on=world.a)
    for project_id in (world.b.pk, uuid.uuid4()):
        with pytest.raises(ProjectNotFound):
            audit_events(viewer=user, filters=AuditFilter(project_id=project_id))
    with pytest.raises(ProjectNotFound):
        audit_events(viewer=world.admin, filters=AuditFilter(project_id=uuid.uuid4()))


def test_filters_never_widen_the_scope(world):
    user = reader(ProjectRole.TREASURER, on=world.a)
    for filters in [
        AuditFilter(action="invoice.approved"),
        AuditFilter(action="system_role.*"),
        AuditFilter(subject_id="subject-2"),
        AuditFilter(actor_id=world.admin.pk),
        AuditFilter(actor="ROOT@example.test"),
        AuditFilter(after_seq=0),
    ]:
        assert set(seqs(audit_events(viewer=user, filters=filters))) <= {1, 3, 5}, filters
        assert audit_events(viewer=user, filters=filters).count() <= 3


def test_the_scope_costs_two_queries_and_the_events_one_more(world):
    user = reader(ProjectRole.AUDITOR, on=world.a)
    with CaptureQueriesContext(connection) as queries:
        events = audit_events(viewer=user)
    assert len(queries) == 2  # has audit.read platform-wide? on some project?
    with CaptureQueriesContext(connection) as queries:
        assert seqs(events) == [1, 3, 5]
    assert len(queries) == 1  # the scope is a subquery of the events query
    with CaptureQueriesContext(connection) as queries:
        audit_events(viewer=world.admin)
    assert len(queries) == 0
