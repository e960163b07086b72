"""Granting, revoking and re-limiting roles: who may, what is refused, and what the audit log says."""

from __future__ import annotations

import uuid

import pytest

from payor.accounts.models import User
from payor.audit.models import AuditEvent
from payor.core.money import Money
from payor.projects.models import Project
from payor.rbac import services
from payor.rbac.errors import (
    ApprovalLimitCurrencyMismatch,
    ApprovalLimitInvalid,
    ApprovalLimitNotApplicable,
    RoleAlreadyAssigned,
    RoleBootstrapRefused,
    RoleEscalationRefused,
    RoleNotAssigned,
    RoleSelfEditRefused,
    SystemRoleAdminOnly,
    VendorIdNotApplicable,
    VendorIdRequired,
)
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import (
    GRANTABLE,
    Perm,
    approval_limit,
    has_permission,
    is_platform_admin,
    projects_for,
    roles_of,
)
from payor.rbac.roles import APPROVAL_LIMIT_ROLES, ProjectRole, SystemRole
from payor.rbac.tests.conftest import linked_vendor, make_assignment, state, usd
from payor.testing.factories import ProjectFactory, UserFactory, VendorFactory
from payor.vendors.errors import VendorNotFound, VendorUserNotLinked
from payor.vendors.models import VendorUser

pytestmark = pytest.mark.django_db

PM = ProjectRole.PROJECT_MANAGER
FIN = ProjectRole.FINANCE_REVIEWER
TRE = ProjectRole.TREASURER
DAO = ProjectRole.DAO_MULTISIG
VENDOR = ProjectRole.VENDOR
PAIRS = [(granter, target) for granter in ProjectRole for target in ProjectRole]
PAIR_IDS = [f"{granter.value}-grants-{target.value}" for granter, target in PAIRS]


def extra_for(role: ProjectRole, project: Project, user: User) -> dict[str, object]:
    """What a grant of ``role`` to ``user`` needs besides the role: for VENDOR, a vendor ``user`` is linked to."""
    return {"vendor_id": linked_vendor(project, user).pk} if role == VENDOR else {}


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def snapshot(assignment: ProjectRoleAssignment, **changes: object) -> dict[str, object]:
    limit = assignment.approval_limit
    data: dict[str, object] = {
        "user_id": str(assignment.user_id),
        "role": assignment.role,
        "approval_limit": None if limit is None else {"amount": limit.amount_str(), "currency": limit.code},
        "vendor_id": None if assignment.vendor_id is None else str(assignment.vendor_id),
    }
    return {**data, **changes}


# -- escalation: every role tries to grant and revoke every role -----------------


@pytest.mark.parametrize(("granter", "target_role"), PAIRS, ids=PAIR_IDS)
def test_grant_is_allowed_exactly_per_grantable(holder, project, granter, target_role):
    actor = holder(granter)
    target = UserFactory()
    before = state()
    if target_role in GRANTABLE[granter]:
        assignment, created = services.role_assign(
            actor=actor, project=project, user=target, role=target_role, **extra_for(target_role, project, target)
        )
        assert created
        assert roles_of(target, project) == {target_role}
        assert assignment.granted_by == actor
        assert AuditEvent.objects.count() == before[2] + 1
        assert last_event().action == "role.assigned"
    else:
        extra = extra_for(target_role, project, target)
        with pytest.raises(RoleEscalationRefused) as refused:
            services.role_assign(actor=actor, project=project, user=target, role=target_role, **extra)
        assert refused.value.code == "role_escalation_refused"
        assert refused.value.status == 403
        assert state() == before
        assert roles_of(target, project) == frozenset()


@pytest.mark.parametrize(("granter", "target_role"), PAIRS, ids=PAIR_IDS)
def test_revoke_is_allowed_exactly_per_grantable(holder, project, granter, target_role):
    actor = holder(granter)
    target = holder(target_role)
    before = state()
    if target_role in GRANTABLE[granter]:
        services.role_revoke(actor=actor, project=project, user=target, role=target_role)
        assert roles_of(target, project) == frozenset()
        assert AuditEvent.objects.count() == before[2] + 1
        assert last_event().action == "role.revoked"
    else:
        with pytest.raises(RoleEscalationRefused):
            services.role_revoke(actor=actor, project=project, user=target, role=target_role)
        assert state() == before
        assert roles_of(target, project) == {target_role}


@pytest.mark.parametrize("target_role", list(ProjectRole))
@pytest.mark.parametrize("granter", [DAO, PM])
def test_limits_are_changed_only_per_grantable(holder, project, granter, target_role):
    actor, target = holder(granter), holder(target_role)
    before = state()
    if target_role not in GRANTABLE[granter]:
        with pytest.raises(RoleEscalationRefused):
            services.role_set_limit(
                actor=actor, project=project, user=target, role=target_role, approval_limit=usd("10.00")
            )
    elif target_role not in APPROVAL_LIMIT_ROLES:
        with pytest.raises(ApprovalLimitNotApplicable):
            services.role_set_limit(
                actor=actor, project=project, user=target, role=target_role, approval_limit=usd("10.00")
            )
    else:
        services.role_set_limit(
            actor=actor, project=project, user=target, role=target_role, approval_limit=usd("10.00")
        )
        assert AuditEvent.objects.count() == before[2] + 1
        assert approval_limit(target, project, target_role) == usd("10.00")
        return
    assert state() == before


def test_a_role_on_another_project_grants_nothing_here(holder, project, other_project):
    pm_elsewhere = holder(PM, on=other_project)
    target = UserFactory()
    vendor = linked_vendor(project, target)
    before = state()
    with pytest.raises(RoleEscalationRefused):
        services.role_assign(actor=pm_elsewhere, project=project, user=target, role=VENDOR, vendor_id=vendor.pk)
    assert state() == before


def test_a_revoked_role_grants_nothing(holder, project):
    pm = holder(PM)
    ProjectRoleAssignment.objects.filter(user=pm).update(revoked_at=project.created_at)
    target = UserFactory()
    with pytest.raises(RoleEscalationRefused):
        services.role_assign(
            actor=pm, project=project, user=target, role=VENDOR, vendor_id=linked_vendor(project, target).pk
        )


@pytest.mark.parametrize("role", list(SystemRole))
def test_system_roles_grant_no_project_roles_except_admin(system_holder, project, role):
    actor = system_holder(role)
    before = state()
    if role == SystemRole.PLATFORM_ADMIN:
        for target_role in ProjectRole:
            target = UserFactory()
            services.role_assign(
                actor=actor, project=project, user=target, role=target_role, **extra_for(target_role, project, target)
            )
        assert AuditEvent.objects.count() == before[2] + len(ProjectRole)
    else:
        for target_role in ProjectRole:
            target = UserFactory()
            extra = extra_for(target_role, project, target)
            with pytest.raises(RoleEscalationRefused):
                services.role_assign(actor=actor, project=project, user=target, role=target_role, **extra)
        assert state() == before


# -- self-edits ---------------------------------------------------------------


@pytest.mark.parametrize("role", list(ProjectRole))
def test_nobody_grants_themselves_a_role(holder, admin, project, role):
    dao = holder(DAO)
    for actor in (dao, admin):
        extra = extra_for(role, project, actor)
        before = state()
        with pytest.raises(RoleSelfEditRefused) as refused:
            services.role_assign(actor=actor, project=project, user=actor, role=role, **extra)
        assert refused.value.code == "role_self_edit_refused"
        assert refused.value.status == 403
        assert state() == before


def test_nobody_revokes_or_relimits_their_own_role(holder, admin, project):
    pm = holder(PM, limit=usd("100.00"))
    make_assignment(project, admin, TRE, limit=usd("100.00"))
    for actor, role in ((pm, PM), (admin, TRE)):
        before = state()
        with pytest.raises(RoleSelfEditRefused):
            services.role_revoke(actor=actor, project=project, user=actor, role=role)
        with pytest.raises(RoleSelfEditRefused):
            services.role_set_limit(
                actor=actor, project=project, user=actor, role=role, approval_limit=usd("1000000.00")
            )
        with pytest.raises(RoleSelfEditRefused):
            services.role_set_limit(actor=actor, project=project, user=actor, role=role, approval_limit=None)
        assert state() == before


def test_nobody_edits_their_own_system_roles(admin, system_holder):
    other_admin = system_holder(SystemRole.PLATFORM_ADMIN)
    for actor in (admin, other_admin):
        before = state()
        with pytest.raises(RoleSelfEditRefused):
            services.system_role_assign(actor=actor, user=actor, role=SystemRole.SYSTEM_AUDITOR)
        with pytest.raises(RoleSelfEditRefused):
            services.system_role_revoke(actor=actor, user=actor, role=SystemRole.PLATFORM_ADMIN)
        assert state() == before
    assert is_platform_admin(other_admin)


# -- system roles ---------------------------------------------------------------


@pytest.mark.parametrize("actor_role", [*ProjectRole, SystemRole.SYSTEM_AUDITOR, SystemRole.TREASURY_MANAGER])
def test_only_platform_admins_grant_system_roles(holder, system_holder, actor_role):
    actor = holder(actor_role) if isinstance(actor_role, ProjectRole) else system_holder(actor_role)
    target = UserFactory()
    for role in SystemRole:
        before = state()
        with pytest.raises(SystemRoleAdminOnly) as refused:
            services.system_role_assign(actor=actor, user=target, role=role)
        assert refused.value.code == "system_role_admin_only"
        assert refused.value.status == 403
        assert state() == before
    victim = system_holder(SystemRole.SYSTEM_AUDITOR)
    before = state()
    with pytest.raises(SystemRoleAdminOnly):
        services.system_role_revoke(actor=actor, user=victim, role=SystemRole.SYSTEM_AUDITOR)
    assert state() == before


def test_platform_admin_grants_and_revokes_system_roles_with_audit(admin, project):
    target = UserFactory()
    count = AuditEvent.objects.count()
    assignment, created = services.system_role_assign(actor=admin, user=target, role=SystemRole.SYSTEM_AUDITOR)
    assert created
    assert has_permission(target, Perm.AUDIT_READ, project=project)
    assert AuditEvent.objects.count() == count + 1
    event = last_event()
    assert (event.action, event.actor_id, event.subject_type, event.subject_id, event.project_id) == (
        "system_role.assigned",
        admin.pk,
        "rbac.systemroleassignment",
        str(assignment.pk),
        None,
    )
    assert event.before is None
    assert event.after == {"user_id": str(target.pk), "role": "SYSTEM_AUDITOR"}

    before = state()
    again, created = services.system_role_assign(actor=admin, user=target, role=SystemRole.SYSTEM_AUDITOR)
    assert (again, created) == (assignment, False)
    assert state() == before

    revoked = services.system_role_revoke(actor=admin, user=target, role=SystemRole.SYSTEM_AUDITOR)
    assert revoked.revoked_by == admin
    assert revoked.revoked_at is not None
    assert not has_permission(target, Perm.AUDIT_READ, project=project)
    assert list(projects_for(target)) == []
    event = last_event()
    assert AuditEvent.objects.count() == count + 2
    assert (event.action, event.subject_id) == ("system_role.revoked", str(assignment.pk))
    assert event.before == {"user_id": str(target.pk), "role": "SYSTEM_AUDITOR"}
    assert event.after is None

    before = state()
    with pytest.raises(RoleNotAssigned):
        services.system_role_revoke(actor=admin, user=target, role=SystemRole.SYSTEM_AUDITOR)
    assert state() == before


def test_a_platform_admin_by_role_row_administers_too(admin, project):
    deputy, target = UserFactory(), UserFactory()
    services.system_role_assign(actor=admin, user=deputy, role=SystemRole.PLATFORM_ADMIN)
    services.system_role_assign(actor=deputy, user=target, role=SystemRole.TREASURY_MANAGER)
    services.role_assign(actor=deputy, project=project, user=target, role=DAO)
    assert roles_of(target, project) == {DAO}
    # ...until another admin takes the role away.
    services.system_role_revoke(actor=admin, user=deputy, role=SystemRole.PLATFORM_ADMIN)
    before = state()
    with pytest.raises(SystemRoleAdminOnly):
        services.system_role_revoke(actor=deputy, user=target, role=SystemRole.TREASURY_MANAGER)
    with pytest.raises(RoleEscalationRefused):
        services.role_revoke(actor=deputy, project=project, user=target, role=DAO)
    assert state() == before


# -- the audit trail of project roles ----------------------------------------------


def test_assign_records_who_whom_what_and_after(admin, project):
    target = UserFactory()
    count = AuditEvent.objects.count()
    assignment, created = services.role_assign(
        actor=admin, project=project, user=target, role=FIN, approval_limit=usd("5000.00")
    )
    assert created
    assignment.refresh_from_db()
    assert (assignment.project, assignment.user, assignment.role) == (project, target, FIN)
    assert assignment.approval_limit == usd("5000.00")
    assert assignment.granted_by == admin
    assert assignment.revoked_at is None
    assert AuditEvent.objects.count() == count + 1
    event = last_event()
    assert event.action == "role.assigned"
    assert event.actor_id == admin.pk
    assert event.actor_label == admin.email
    assert event.subject_type == "rbac.projectroleassignment"
    assert event.subject_id == str(assignment.pk)
    assert event.project_id == project.pk
    assert event.before is None
    assert event.after == {
        "user_id": str(target.pk),
        "role": "FINANCE_REVIEWER",
        "approval_limit": {"amount": "5000.00", "currency": "USD"},
        "vendor_id": None,
    }


def test_vendor_assignment_records_the_vendor(holder, project):
    pm = holder(PM)
    target = UserFactory()
    vendor_id = linked_vendor(project, target).pk
    assignment, _ = services.role_assign(actor=pm, project=project, user=target, role=VENDOR, vendor_id=vendor_id)
    assert last_event().after == snapshot(assignment)
    assert last_event().after["vendor_id"] == str(vendor_id)


def test_revoke_records_before_and_keeps_the_row(admin, project):
    target = UserFactory()
    assignment = make_assignment(project, target, TRE, limit=usd("20000.00"))
    count = AuditEvent.objects.count()
    revoked = services.role_revoke(actor=admin, project=project, user=target, role=TRE)
    assert revoked.pk == assignment.pk
    revoked.refresh_from_db()
    assert revoked.revoked_by == admin
    assert revoked.revoked_at is not None
    assert roles_of(target, project) == frozenset()
    assert list(projects_for(target)) == []
    assert AuditEvent.objects.count() == count + 1
    event = last_event()
    assert (event.action, event.actor_id, event.subject_id, event.project_id) == (
        "role.revoked",
        admin.pk,
        str(assignment.pk),
        project.pk,
    )
    assert event.before == {
        "user_id": str(target.pk),
        "role": "TREASURER",
        "approval_limit": {"amount": "20000.00", "currency": "USD"},
        "vendor_id": None,
    }
    assert event.after is None


def test_regrant_after_revoke_is_a_new_assignment(admin, project):
    target = UserFactory()
    first, _ = services.role_assign(actor=admin, project=project, user=target, role=PM)
    services.role_revoke(actor=admin, project=project, user=target, role=PM)
    second, created = services.role_assign(actor=admin, project=project, user=target, role=PM)
    assert created
    assert second.pk != first.pk
    assert ProjectRoleAssignment.objects.filter(project=project, user=target).count() == 2
    assert roles_of(target, project) == {PM}


def test_set_limit_records_before_and_after(admin, project):
    target = UserFactory()
    assignment = make_assignment(project, target, PM, limit=usd("1000.00"))
    count = AuditEvent.objects.count()
    changed = services.role_set_limit(actor=admin, project=project, user=target, role=PM, approval_limit=usd("2500.50"))
    changed.refresh_from_db()
    assert changed.approval_limit == usd("2500.50")
    event = last_event()
    assert AuditEvent.objects.count() == count + 1
    assert (event.action, event.subject_id, event.project_id) == ("role.limit_changed", str(assignment.pk), project.pk)
    base = {"user_id": str(target.pk), "role": "PROJECT_MANAGER", "vendor_id": None}
    assert event.before == {**base, "approval_limit": {"amount": "1000.00", "currency": "USD"}}
    assert event.after == {**base, "approval_limit": {"amount": "2500.50", "currency": "USD"}}

    # Removing the limit removes the approval authority.
    services.role_set_limit(actor=admin, project=project, user=target, role=PM, approval_limit=None)
    assert last_event().after == {**base, "approval_limit": None}
    changed.refresh_from_db()
    assert changed.approval_limit is None

    # The same limit again: nothing to record.
    before = state()
    services.role_set_limit(actor=admin, project=project, user=target, role=PM, approval_limit=None)
    assert state() == before


def test_set_limit_on_a_role_not_held_is_404(admin, project):
    before = state()
    with pytest.raises(RoleNotAssigned) as refused:
        services.role_set_limit(actor=admin, project=project, user=UserFactory(), role=PM, approval_limit=usd("1.00"))
    assert (refused.value.code, refused.value.status) == ("role_not_assigned", 404)
    assert state() == before


def test_revoke_a_role_not_held_is_404(admin, holder, project):
    target = holder(FIN)
    before = state()
    with pytest.raises(RoleNotAssigned):
        services.role_revoke(actor=admin, project=project, user=target, role=TRE)
    services.role_revoke(actor=admin, project=project, user=target, role=FIN)
    before = state()
    with pytest.raises(RoleNotAssigned):
        services.role_revoke(actor=admin, project=project, user=target, role=FIN)  # already revoked
    assert state() == before


# -- re-granting: idempotent when identical, 409 when it differs ------------------------


def test_identical_regrant_is_a_no_op(admin, project):
    target = UserFactory()
    first, created = services.role_assign(
        actor=admin, project=project, user=target, role=TRE, approval_limit=usd("7.00")
    )
    assert created
    before = state()
    again, created = services.role_assign(
        actor=admin, project=project, user=target, role=TRE, approval_limit=usd("7.00")
    )
    assert (again.pk, created) == (first.pk, False)
    assert state() == before


@pytest.mark.parametrize(
    "changes",
    [{"approval_limit": Money.parse("8.00", "USD")}, {"approval_limit": None}],
)
def test_regrant_with_another_limit_is_409(admin, project, changes):
    target = UserFactory()
    services.role_assign(actor=admin, project=project, user=target, role=TRE, approval_limit=usd("7.00"))
    before = state()
    with pytest.raises(RoleAlreadyAssigned) as refused:
        services.role_assign(actor=admin, project=project, user=target, role=TRE, **changes)
    assert (refused.value.code, refused.value.status) == ("role_already_assigned", 409)
    assert state() == before


def test_regrant_vendor_for_another_vendor_is_409(admin, project):
    target = UserFactory()
    first, second = linked_vendor(project, target), linked_vendor(project, target)
    services.role_assign(actor=admin, project=project, user=target, role=VENDOR, vendor_id=first.pk)
    before = state()
    with pytest.raises(RoleAlreadyAssigned):
        services.role_assign(actor=admin, project=project, user=target, role=VENDOR, vendor_id=second.pk)
    assert state() == before


# -- request validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        (
            {"role": FIN, "approval_limit": Money.parse("10.00", "EUR")},
            ApprovalLimitCurrencyMismatch,
            "approval_limit_currency_mismatch",
        ),
        (
            {"role": FIN, "approval_limit": Money.parse("10.000000", "USDC")},
            ApprovalLimitCurrencyMismatch,
            "approval_limit_currency_mismatch",
        ),
        ({"role": FIN, "approval_limit": Money.parse("-0.01", "USD")}, ApprovalLimitInvalid, "approval_limit_invalid"),
        (
            {"role": ProjectRole.AUDITOR, "approval_limit": Money.parse("1.00", "USD")},
            ApprovalLimitNotApplicable,
            "approval_limit_not_applicable",
        ),
        (
            {"role": VENDOR, "approval_limit": Money.parse("1.00", "USD"), "vendor_id": "LINKED"},
            ApprovalLimitNotApplicable,
            "approval_limit_not_applicable",
        ),
        ({"role": VENDOR}, VendorIdRequired, "vendor_id_required"),
        ({"role": PM, "vendor_id": "LINKED"}, VendorIdNotApplicable, "vendor_id_not_applicable"),
    ],
)
def test_invalid_grants_are_422_and_change_nothing(admin, project, kwargs, error, code):
    target = UserFactory()
    if kwargs.get("vendor_id") == "LINKED":
        kwargs = {**kwargs, "vendor_id": linked_vendor(project, target).pk}
    before = state()
    with pytest.raises(error) as refused:
        services.role_assign(actor=admin, project=project, user=target, **kwargs)
    assert (refused.value.code, refused.value.status) == (code, 422)
    assert state() == before


@pytest.mark.parametrize(
    ("limit", "error"),
    [(Money.parse("10.00", "EUR"), ApprovalLimitCurrencyMismatch), (Money.parse("-5.00", "USD"), ApprovalLimitInvalid)],
)
def test_invalid_limit_changes_are_422_and_change_nothing(admin, holder, project, limit, error):
    target = holder(TRE, limit=usd("1.00"))
    before = state()
    with pytest.raises(error):
        services.role_set_limit(actor=admin, project=project, user=target, role=TRE, approval_limit=limit)
    assert state() == before


def test_zero_limit_is_allowed_and_approves_nothing_positive(admin, project):
    from payor.rbac.permissions import can_approve_amount

    target = UserFactory()
    services.role_assign(actor=admin, project=project, user=target, role=PM, approval_limit=usd("0.00"))
    assert not can_approve_amount(target, project, PM, usd("0.01"))


def test_limits_follow_the_project_currency(admin):
    jpy = ProjectFactory(currency="JPY")
    target = UserFactory()
    assignment, _ = services.role_assign(
        actor=admin, project=jpy, user=target, role=PM, approval_limit=Money.parse("1500000", "JPY")
    )
    assignment.refresh_from_db()
    assert assignment.approval_limit == Money.parse("1500000", "JPY")
    assert last_event().after["approval_limit"] == {"amount": "1500000", "currency": "JPY"}


def test_errors_are_checked_before_state(holder, project):
    # A PM asking for a finance role with a bad limit learns only that they may not grant it.
    pm = holder(PM)
    with pytest.raises(RoleEscalationRefused):
        services.role_assign(
            actor=pm, project=project, user=UserFactory(), role=FIN, approval_limit=Money.parse("1.00", "EUR")
        )


# -- bootstrap: the creator of a new project ---------------------------------------------


def test_bootstrap_makes_the_creator_pm_once(project):
    creator, intruder = UserFactory(), UserFactory()
    count = AuditEvent.objects.count()
    assignment = services.role_bootstrap(project=project, user=creator)
    assert roles_of(creator, project) == {PM}
    assert assignment.approval_limit is None
    assert AuditEvent.objects.count() == count + 1
    event = last_event()
    assert (event.action, event.actor_id, event.project_id) == ("role.assigned", creator.pk, project.pk)
    assert event.after == {**snapshot(assignment), "bootstrap": True}
    before = state()
    for user in (intruder, creator):
        with pytest.raises(RoleBootstrapRefused) as refused:
            services.role_bootstrap(project=project, user=user)
        assert (refused.value.code, refused.value.status) == ("role_bootstrap_refused", 409)
    assert state() == before


def test_bootstrap_is_refused_once_any_role_was_ever_granted(admin, project):
    target = UserFactory()
    services.role_assign(actor=admin, project=project, user=target, role=ProjectRole.AUDITOR)
    services.role_revoke(actor=admin, project=project, user=target, role=ProjectRole.AUDITOR)
    with pytest.raises(RoleBootstrapRefused):
        services.role_bootstrap(project=project, user=UserFactory())


def test_the_database_refuses_two_active_copies_of_one_role(project):
    from django.db import IntegrityError, transaction

    target = UserFactory()
    make_assignment(project, target, PM)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_assignment(project, target, PM)


@pytest.mark.parametrize(
    ("role", "limit", "vendor"),
    [(ProjectRole.AUDITOR, "1.00", False), (VENDOR, None, False), (PM, None, True), (PM, "-1.00", False)],
)
def test_the_database_checks_the_row_shape(project, role, limit, vendor):
    from django.db import IntegrityError, transaction

    user = UserFactory()
    assignment = ProjectRoleAssignment(
        project=project, user=user, role=role, currency="USD", vendor=linked_vendor(project, user) if vendor else None
    )
    assignment.approval_limit = None if limit is None else usd(limit)
    with pytest.raises(IntegrityError), transaction.atomic():
        assignment.save()


# -- VENDOR grants name a real vendor the user acts for ---------------------------------------


def test_a_vendor_grant_names_a_vendor_of_the_projects_organization(admin, project):
    target = UserFactory()
    elsewhere = VendorFactory()  # another organization's vendor, even with the user linked to it
    VendorUser.objects.create(vendor=elsewhere, user=target)
    for vendor_id in (elsewhere.pk, uuid.uuid4()):
        before = state()
        with pytest.raises(VendorNotFound) as refused:
            services.role_assign(actor=admin, project=project, user=target, role=VENDOR, vendor_id=vendor_id)
        assert (refused.value.code, refused.value.status) == ("vendor_not_found", 404)
        assert state() == before


def test_a_vendor_grant_needs_the_user_linked_to_the_vendor(admin, project):
    target = UserFactory()
    vendor = VendorFactory(organization=project.organization)
    VendorUser.objects.create(vendor=vendor, user=UserFactory())  # someone else acts for it
    before = state()
    with pytest.raises(VendorUserNotLinked) as refused:
        services.role_assign(actor=admin, project=project, user=target, role=VENDOR, vendor_id=vendor.pk)
    assert (refused.value.code, refused.value.status) == ("vendor_user_not_linked", 409)
    assert state() == before
    VendorUser.objects.create(vendor=vendor, user=target)
    assignment, created = services.role_assign(
        actor=admin, project=project, user=target, role=VENDOR, vendor_id=vendor.pk
    )
    assert created
    assert assignment.vendor == vendor


def test_the_database_refuses_a_role_naming_no_vendor(project):
    from django.db import IntegrityError, connection, transaction

    assignment = ProjectRoleAssignment(
        project=project, user=UserFactory(), role=VENDOR, currency="USD", vendor_id=uuid.uuid4()
    )
    with transaction.atomic():
        assignment.save()  # the foreign key is checked at commit (deferred): ask for it now
        with pytest.raises(IntegrityError), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_vendor_roles_revoke_needs_the_callers_transaction(admin, project):
    target = UserFactory()
    vendor = linked_vendor(project, target)
    with pytest.raises(RuntimeError):
        services.vendor_roles_revoke(actor=admin, vendor=vendor, user=target)
