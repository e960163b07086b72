"""Races over real parallel database connections (one connection per thread)."""

from __future__ import annotations

import pytest

from payor.audit.models import AuditEvent
from payor.rbac import services
from payor.rbac.errors import RoleAlreadyAssigned, RoleNotAssigned
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.rbac.tests.conftest import usd
from payor.testing.concurrency import race
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(db):
    return UserFactory(is_superuser=True)


def test_two_identical_grants_at_once_make_one_assignment(admin):
    project, target = ProjectFactory(), UserFactory()
    count = AuditEvent.objects.count()

    def grant() -> object:
        return services.role_assign(
            actor=admin, project=project, user=target, role=ProjectRole.TREASURER, approval_limit=usd("100.00")
        )

    results = race([grant, grant])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(created for _, created in results) == [False, True]  # type: ignore[misc]
    assert len({assignment.pk for assignment, _ in results}) == 1  # type: ignore[misc]
    assert ProjectRoleAssignment.objects.filter(project=project, user=target).count() == 1
    assert AuditEvent.objects.count() == count + 1


def test_many_conflicting_grants_at_once_make_one_assignment(admin):
    project, target = ProjectFactory(), UserFactory()
    count = AuditEvent.objects.count()
    workers = [
        (
            lambda amount=amount: services.role_assign(
                actor=admin, project=project, user=target, role=ProjectRole.PROJECT_MANAGER, approval_limit=usd(amount)
            )
        )
        for amount in ("1.00", "2.00", "3.00", "4.00", "5.00", "6.00", "7.00", "8.00")
    ]
    results = race(workers)
    granted = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, RoleAlreadyAssigned)]
    assert (len(granted), len(refused)) == (1, 7), results
    active = ProjectRoleAssignment.objects.get(project=project, user=target, revoked_at__isnull=True)
    assert active.pk == granted[0][0].pk
    assert AuditEvent.objects.count() == count + 1


def test_two_revocations_at_once_revoke_once(admin):
    project, target = ProjectFactory(), UserFactory()
    services.role_assign(actor=admin, project=project, user=target, role=ProjectRole.AUDITOR)
    count = AuditEvent.objects.count()

    def revoke() -> object:
        return services.role_revoke(actor=admin, project=project, user=target, role=ProjectRole.AUDITOR)

    results = race([revoke, revoke])
    assert len([r for r in results if isinstance(r, ProjectRoleAssignment)]) == 1, results
    assert len([r for r in results if isinstance(r, RoleNotAssigned)]) == 1, results
    assert AuditEvent.objects.count() == count + 1


def test_two_system_grants_at_once_make_one_assignment(admin):
    target = UserFactory()

    def grant() -> object:
        return services.system_role_assign(actor=admin, user=target, role=SystemRole.SYSTEM_AUDITOR)

    results = race([grant, grant])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert SystemRoleAssignment.objects.filter(user=target).count() == 1
