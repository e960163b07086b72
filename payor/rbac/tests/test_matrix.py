"""Every role by every permission, allowed and denied, against a table written out by hand.

The table is the specification: the first test pins the maps in ``permissions.py`` to it, the parametrized
tests check that ``has_permission`` (the one check every interface uses) answers exactly the table, through
the database, on the project, on another project and platform-wide.
"""

from __future__ import annotations

import pytest

from payor.core.errors import PermissionDenied
from payor.rbac.models import SystemRoleAssignment
from payor.rbac.permissions import (
    GRANTABLE,
    READ_ONLY,
    ROLE_PERMISSIONS,
    SEGREGATED,
    SYSTEM_PERMISSIONS,
    Perm,
    has_permission,
    permissions_of,
    require_permission,
)
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import UserFactory

pytestmark = pytest.mark.django_db

TABLE = """
perm                      VEN PM  FIN TRE DAO AUD BEN PRO | ADM SAU TMG
project.view               x   x   x   x   x   x   .   x  |  x   x   x
project.view_totals        .   x   x   x   x   x   x   .  |  x   x   x
project.update             .   x   .   .   .   .   .   .  |  x   .   .
budget.view                .   x   x   x   x   x   .   x  |  x   x   .
budget.manage              .   x   .   .   .   .   .   .  |  x   .   .
contract.view              .   x   x   x   x   x   .   x  |  x   x   .
contract.manage            .   x   .   .   .   .   .   .  |  x   .   .
change_order.approve       .   .   .   .   x   .   .   .  |  .   .   .
work_request.manage        .   x   .   .   .   .   .   .  |  x   .   .
work_request.respond       x   .   .   .   .   .   .   .  |  .   .   .
submission.review          .   x   .   .   .   .   .   .  |  .   .   .
invoice.submit             x   .   .   .   .   .   .   .  |  .   .   .
invoice.view_own           x   .   .   .   .   .   .   .  |  x   .   .
invoice.view_all           .   x   x   x   x   x   .   .  |  x   x   .
invoice.code               .   x   x   .   .   .   .   .  |  x   .   .
invoice.approve.pm         .   x   .   .   .   .   .   .  |  .   .   .
invoice.approve.finance    .   .   x   .   .   .   .   .  |  .   .   .
invoice.approve.treasurer  .   .   .   x   .   .   .   .  |  .   .   .
invoice.cosign.multisig    .   .   .   .   x   .   .   .  |  .   .   .
vendor.view                .   x   x   x   x   x   .   x  |  x   x   .
vendor.manage              .   .   .   .   .   .   .   x  |  x   .   .
vendor.compliance.review   .   .   x   .   .   .   .   .  |  .   .   .
payment_run.create         .   .   .   x   .   .   .   .  |  .   .   .
payment_run.approve        .   .   .   x   x   .   .   .  |  .   .   .
payment_run.execute        .   .   .   x   .   .   .   .  |  .   .   .
payment.view_own           x   .   .   .   .   .   .   .  |  x   .   .
payment.view_all           .   x   x   x   x   x   .   .  |  x   x   .
dataroom.read              .   .   x   x   .   x   .   x  |  .   x   .
audit.read                 .   .   x   x   x   x   .   .  |  x   x   .
ledger.view                .   x   x   x   x   x   .   .  |  x   x   .
roles.view                 .   x   x   x   x   x   .   x  |  x   x   .
roles.assign               .   x   .   .   x   .   .   x  |  x   .   .
approval_matrix.view       .   x   x   x   x   x   .   x  |  x   x   .
approval_matrix.update     .   .   .   .   x   .   .   .  |  .   .   .
treasury.configure         .   .   .   x   .   .   .   .  |  x   .   x
"""

COLUMNS = {
    "VEN": ProjectRole.VENDOR,
    "PM": ProjectRole.PROJECT_MANAGER,
    "FIN": ProjectRole.FINANCE_REVIEWER,
    "TRE": ProjectRole.TREASURER,
    "DAO": ProjectRole.DAO_MULTISIG,
    "AUD": ProjectRole.AUDITOR,
    "BEN": ProjectRole.BENEFICIARY,
    "PRO": ProjectRole.PROCUREMENT,
    "ADM": SystemRole.PLATFORM_ADMIN,
    "SAU": SystemRole.SYSTEM_AUDITOR,
    "TMG": SystemRole.TREASURY_MANAGER,
}


def _parse() -> dict[ProjectRole | SystemRole, frozenset[Perm]]:
    header, *rows = [line.replace("|", " ").split() for line in TABLE.strip().splitlines()]
    roles = [COLUMNS[name] for name in header[1:]]
    granted: dict[ProjectRole | SystemRole, set[Perm]] = {role: set() for role in roles}
    seen = []
    for perm_name, *marks in rows:
        assert len(marks) == len(roles), perm_name
        perm = Perm(perm_name)
        seen.append(perm)
        for role, mark in zip(roles, marks, strict=True):
            assert mark in "x.", (perm_name, mark)
            if mark == "x":
                granted[role].add(perm)
    assert sorted(seen) == sorted(Perm), "the table lists every permission exactly once"
    return {role: frozenset(perms) for role, perms in granted.items()}


EXPECTED = _parse()
PROJECT_CASES = [(role, perm) for role in ProjectRole for perm in Perm]
SYSTEM_CASES = [(role, perm) for role in SystemRole for perm in Perm]


def test_the_maps_are_exactly_the_table():
    assert set(ROLE_PERMISSIONS) == set(ProjectRole)
    assert set(SYSTEM_PERMISSIONS) == set(SystemRole)
    for role in ProjectRole:
        assert ROLE_PERMISSIONS[role] == EXPECTED[role], role
    for role in SystemRole:
        assert SYSTEM_PERMISSIONS[role] == EXPECTED[role], role


def test_map_invariants():
    # Read-only roles write nothing.
    assert EXPECTED[ProjectRole.AUDITOR] == READ_ONLY == EXPECTED[SystemRole.SYSTEM_AUDITOR]
    assert all(perm.value.endswith((".view", ".view_all", ".view_totals", ".read")) for perm in READ_ONLY)
    # A beneficiary sees project totals only.
    assert EXPECTED[ProjectRole.BENEFICIARY] == {Perm.PROJECT_VIEW_TOTALS}
    # A vendor sees only its own records.
    assert not {perm for perm in EXPECTED[ProjectRole.VENDOR] if perm.value.endswith("view_all")}
    # Money decisions belong to project roles only; only the DAO multisig changes the approval matrix.
    for role in SystemRole:
        assert not SYSTEM_PERMISSIONS[role] & SEGREGATED, role
    assert [role for role in ProjectRole if Perm.APPROVAL_MATRIX_UPDATE in ROLE_PERMISSIONS[role]] == [
        ProjectRole.DAO_MULTISIG
    ]
    # roles.assign is held exactly by the roles that can grant something.
    for role in ProjectRole:
        assert (Perm.ROLES_ASSIGN in ROLE_PERMISSIONS[role]) == bool(GRANTABLE[role]), role
    # Nobody grants a role at their own level or a signer seat.
    for role, grantable in GRANTABLE.items():
        assert role not in grantable, role
        assert ProjectRole.DAO_MULTISIG not in grantable, role


@pytest.mark.parametrize(("role", "perm"), PROJECT_CASES, ids=[f"{r.value}-{p.value}" for r, p in PROJECT_CASES])
def test_project_role_permission(holder, project, other_project, role, perm):
    user = holder(role)
    expected = perm in EXPECTED[role]
    assert has_permission(user, perm, project=project) is expected
    assert has_permission(user, perm.value, project=project.pk) is expected  # plain names and ids work too
    # Cross-project: a role on one project gives nothing on another, nor platform-wide.
    assert has_permission(user, perm, project=other_project) is False
    assert has_permission(user, perm) is False
    if expected:
        require_permission(user, perm, project=project)
    else:
        with pytest.raises(PermissionDenied) as refused:
            require_permission(user, perm, project=project)
        assert refused.value.code == "permission_denied"
        assert refused.value.status == 403
        assert refused.value.extra == {"permission": perm.value}
        assert perm.value in refused.value.detail


@pytest.mark.parametrize(("role", "perm"), SYSTEM_CASES, ids=[f"{r.value}-{p.value}" for r, p in SYSTEM_CASES])
def test_system_role_permission_applies_on_every_project(system_holder, project, other_project, role, perm):
    user = system_holder(role)
    expected = perm in EXPECTED[role]
    assert has_permission(user, perm, project=project) is expected
    assert has_permission(user, perm, project=other_project) is expected
    assert has_permission(user, perm) is expected


@pytest.mark.parametrize("perm", list(Perm), ids=[p.value for p in Perm])
def test_superuser_is_a_platform_admin(admin, project, perm):
    expected = perm in EXPECTED[SystemRole.PLATFORM_ADMIN]
    assert has_permission(admin, perm, project=project) is expected
    assert has_permission(admin, perm) is expected


def test_permissions_are_the_union_of_the_roles_held(holder, project):
    user = holder(ProjectRole.VENDOR, ProjectRole.BENEFICIARY)
    assert permissions_of(user, project=project) == EXPECTED[ProjectRole.VENDOR] | {Perm.PROJECT_VIEW_TOTALS}
    SystemRoleAssignment.objects.create(user=user, role=SystemRole.TREASURY_MANAGER)
    assert has_permission(user, Perm.TREASURY_CONFIGURE, project=project)
    assert permissions_of(user) == EXPECTED[SystemRole.TREASURY_MANAGER]


def test_a_superuser_with_a_project_role_gets_its_money_decisions(admin, project):
    from payor.rbac.tests.conftest import make_assignment

    assert not has_permission(admin, Perm.PAYMENT_RUN_EXECUTE, project=project)
    make_assignment(project, admin, ProjectRole.TREASURER)
    assert has_permission(admin, Perm.PAYMENT_RUN_EXECUTE, project=project)


def test_revoked_inactive_and_anonymous_users_have_nothing(holder, project, admin):
    from django.contrib.auth.models import AnonymousUser
    from django.utils import timezone

    from payor.rbac.models import ProjectRoleAssignment

    revoked = holder(ProjectRole.AUDITOR)
    ProjectRoleAssignment.objects.filter(user=revoked).update(revoked_at=timezone.now())
    inactive = holder(ProjectRole.AUDITOR)
    inactive.is_active = False
    inactive.save()
    admin.is_active = False
    admin.save()
    for user in (revoked, inactive, admin, AnonymousUser(), None):
        assert permissions_of(user, project=project) == frozenset()
        assert not has_permission(user, Perm.PROJECT_VIEW, project=project)
        with pytest.raises(PermissionDenied):
            require_permission(user, Perm.PROJECT_VIEW, project=project)


def test_unknown_permission_name_is_a_programming_error(holder, project):
    with pytest.raises(ValueError, match=r"invoice\.approve\.anything"):
        has_permission(holder(ProjectRole.AUDITOR), "invoice.approve.anything", project=project)


def test_one_query_per_check(holder, project, django_assert_num_queries):
    user = holder(ProjectRole.TREASURER)
    with django_assert_num_queries(1):
        assert has_permission(user, Perm.PAYMENT_RUN_EXECUTE, project=project)
    other = UserFactory()
    with django_assert_num_queries(1):
        assert not has_permission(other, Perm.PROJECT_VIEW, project=project)
