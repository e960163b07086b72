"""Granting and revoking roles: lock, check, write, audit — one transaction each.

Rules, each with its own code (:mod:`payor.rbac.errors`), checked in this order:

1. Nobody changes their own roles (``role_self_edit_refused``), not even a
   platform admin, not even to give a role up.
2. Project roles: the actor may grant, revoke or change the limit of a role only
   if one of their active roles on the project lists it in
   :data:`~payor.rbac.permissions.GRANTABLE`, or they are a platform admin
   (``role_escalation_refused``). System roles: platform admins only
   (``system_role_admin_only``).
3. The request itself: limits in the project currency
   (``approval_limit_currency_mismatch``), not negative
   (``approval_limit_invalid``), only on approver roles
   (``approval_limit_not_applicable``); a vendor id exactly on VENDOR roles
   (``vendor_id_required`` / ``vendor_id_not_applicable``), naming a vendor of
   the project's organization (``vendor_not_found``, 404, also for a vendor of
   another organization) to which the user is linked (``vendor_user_not_linked``,
   409: link the user with ``vendors.services.vendor_user_link`` first).
4. The state: granting a role the user already holds with the same limit and
   vendor changes nothing and returns the existing assignment (``created`` False,
   no audit event); with a different limit or vendor it is
   ``role_already_assigned`` (409: change the limit with ``role_set_limit``,
   or revoke and grant). Revoking or re-limiting a role the user does not hold
   is ``role_not_assigned`` (404). Setting the limit it already has is a no-op.

Concurrency: the target user's row is locked ``FOR NO KEY UPDATE`` first (so all
role changes of one user take turns, while rows referencing the user can still be
inserted), then their assignment rows; the partial unique index backs this up.
The vendor link is read under that lock: ``vendor_user_unlink`` takes the same
user lock before revoking the user's VENDOR roles (:func:`vendor_roles_revoke`),
so a grant racing an unlink either sees the link gone or is revoked by it.
Every change is audited last (``role.assigned``, ``role.revoked``,
``role.limit_changed``, ``system_role.assigned``, ``system_role.revoked``) with
the assignment as subject and ``before``/``after`` snapshots.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from payor import audit
from payor.accounts.models import User
from payor.core.money import Money
from payor.projects.models import Project
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
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.permissions import grantable_roles, is_platform_admin
from payor.rbac.roles import APPROVAL_LIMIT_ROLES, ProjectRole, SystemRole
from payor.vendors.errors import VendorNotFound, VendorUserNotLinked
from payor.vendors.models import Vendor, VendorUser

if TYPE_CHECKING:
    from django.http import HttpRequest


# --------------------------------------------------------------------------
# Snapshots for the audit log
# --------------------------------------------------------------------------


def _snapshot(assignment: ProjectRoleAssignment) -> dict[str, Any]:
    return {
        "user_id": assignment.user_id,
        "role": assignment.role,
        "approval_limit": assignment.approval_limit,
        "vendor_id": assignment.vendor_id,
    }


def _system_snapshot(assignment: SystemRoleAssignment) -> dict[str, Any]:
    return {"user_id": assignment.user_id, "role": assignment.role}


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def _refuse_self_edit(actor: User, user: User) -> None:
    if actor.pk == user.pk:
        raise RoleSelfEditRefused("You cannot grant, revoke or change your own roles; ask another administrator")


def _require_grantable(actor: User, project: Project, role: ProjectRole) -> None:
    if role not in grantable_roles(actor, project):
        raise RoleEscalationRefused(
            f"Your roles on this project do not allow granting or changing {role.value}", role=role.value
        )


def _check_limit(project: Project, role: ProjectRole, limit: Money | None) -> None:
    if limit is None:
        return
    if not isinstance(limit, Money):
        raise TypeError(f"approval_limit must be Money or None, not {type(limit).__name__}")
    if role not in APPROVAL_LIMIT_ROLES:
        raise ApprovalLimitNotApplicable(f"{role.value} does not approve, so it carries no approval limit")
    if limit.currency.code != project.currency:
        raise ApprovalLimitCurrencyMismatch(
            f"The project is in {project.currency}; the limit is in {limit.currency.code}"
        )
    if limit.is_negative:
        raise ApprovalLimitInvalid(f"Approval limit {limit} is negative")


def _check_vendor(role: ProjectRole, vendor_id: uuid.UUID | None) -> None:
    if role == ProjectRole.VENDOR and vendor_id is None:
        raise VendorIdRequired("Name the vendor (vendor_id) this user acts for")
    if role != ProjectRole.VENDOR and vendor_id is not None:
        raise VendorIdNotApplicable(f"{role.value} does not act for a vendor; leave vendor_id empty")


def _check_vendor_link(project: Project, user: User, vendor_id: uuid.UUID | None) -> None:
    """A VENDOR grant names a vendor of the project's organization that ``user`` is linked to (under the user lock)."""
    if vendor_id is None:
        return
    if not Vendor.objects.filter(pk=vendor_id, organization_id=project.organization_id).exists():
        raise VendorNotFound("No such vendor in this project's organization")
    if not VendorUser.objects.filter(vendor_id=vendor_id, user=user).exists():
        raise VendorUserNotLinked(
            f"{user.email} is not linked to this vendor: link the user to the vendor first", vendor_id=str(vendor_id)
        )


def _lock_user(user: User) -> None:
    # FOR NO KEY UPDATE: serialises role changes of this user without blocking inserts that reference the user.
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk", flat=True).first()


def _active_assignment(project: Project, user: User, role: ProjectRole) -> ProjectRoleAssignment | None:
    return (
        ProjectRoleAssignment.objects.select_for_update()
        .filter(project=project, user=user, role=role, revoked_at__isnull=True)
        .first()
    )


def _active_system_assignment(user: User, role: SystemRole) -> SystemRoleAssignment | None:
    return (
        SystemRoleAssignment.objects.select_for_update().filter(user=user, role=role, revoked_at__isnull=True).first()
    )


# --------------------------------------------------------------------------
# Project roles
# --------------------------------------------------------------------------


@transaction.atomic
def role_assign(
    *,
    actor: User,
    project: Project,
    user: User,
    role: ProjectRole | str,
    approval_limit: Money | None = None,
    vendor_id: uuid.UUID | None = None,
    request: HttpRequest | None = None,
) -> tuple[ProjectRoleAssignment, bool]:
    """Grant ``role`` on ``project`` to ``user``; returns ``(assignment, created)`` like ``get_or_create``.

    Re-granting an identical active assignment returns it with ``created`` False and records nothing.
    """
    role = ProjectRole(role)
    _refuse_self_edit(actor, user)
    _require_grantable(actor, project, role)
    _check_limit(project, role, approval_limit)
    _check_vendor(role, vendor_id)
    _lock_user(user)
    _check_vendor_link(project, user, vendor_id)
    existing = _active_assignment(project, user, role)
    if existing is not None:
        if existing.approval_limit == approval_limit and existing.vendor_id == vendor_id:
            return existing, False
        raise RoleAlreadyAssigned(
            f"{user.email} already holds {role.value} here with "
            f"approval limit {existing.approval_limit or 'none'}; change the limit instead",
            role=role.value,
        )
    assignment = ProjectRoleAssignment(
        project=project, user=user, role=role, currency=project.currency, vendor_id=vendor_id, granted_by=actor
    )
    assignment.approval_limit = approval_limit
    try:
        with transaction.atomic():
            assignment.save(force_insert=True)
    except IntegrityError as exc:  # pragma: no cover - the user lock makes this unreachable; kept as a backstop
        if "rbac_project_role_one_active" in str(exc):
            raise RoleAlreadyAssigned(f"{user.email} already holds {role.value} here", role=role.value) from exc
        raise
    audit.record(
        actor, "role.assigned", assignment, before=None, after=_snapshot(assignment), project=project, request=request
    )
    return assignment, True


@transaction.atomic
def role_revoke(
    *,
    actor: User,
    project: Project,
    user: User,
    role: ProjectRole | str,
    request: HttpRequest | None = None,
) -> ProjectRoleAssignment:
    """Revoke ``user``'s active ``role`` on ``project`` (the row stays, with ``revoked_at``/``revoked_by``)."""
    role = ProjectRole(role)
    _refuse_self_edit(actor, user)
    _require_grantable(actor, project, role)
    _lock_user(user)
    assignment = _active_assignment(project, user, role)
    if assignment is None:
        raise RoleNotAssigned(f"{user.email} does not hold {role.value} on this project", role=role.value)
    before = _snapshot(assignment)
    assignment.revoked_at = timezone.now()
    assignment.revoked_by = actor
    assignment.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    audit.record(actor, "role.revoked", assignment, before=before, after=None, project=project, request=request)
    return assignment


@transaction.atomic
def role_set_limit(
    *,
    actor: User,
    project: Project,
    user: User,
    role: ProjectRole | str,
    approval_limit: Money | None,
    request: HttpRequest | None = None,
) -> ProjectRoleAssignment:
    """Change (or, with None, remove) the approval limit of ``user``'s active ``role``; same limit: no-op."""
    role = ProjectRole(role)
    _refuse_self_edit(actor, user)
    _require_grantable(actor, project, role)
    _check_limit(project, role, approval_limit)
    _lock_user(user)
    assignment = _active_assignment(project, user, role)
    if assignment is None:
        raise RoleNotAssigned(f"{user.email} does not hold {role.value} on this project", role=role.value)
    if assignment.approval_limit == approval_limit:
        return assignment
    before = _snapshot(assignment)
    assignment.approval_limit = approval_limit
    assignment.save(update_fields=["approval_limit", "updated_at"])
    audit.record(
        actor,
        "role.limit_changed",
        assignment,
        before=before,
        after=_snapshot(assignment),
        project=project,
        request=request,
    )
    return assignment


@transaction.atomic
def role_bootstrap(
    *,
    project: Project,
    user: User,
    request: HttpRequest | None = None,
) -> ProjectRoleAssignment:
    """Make the creator of a brand-new project its PROJECT_MANAGER (no approval limit).

    The one grant that is not made by someone else: allowed only while the project has never had any role
    assignment (``role_bootstrap_refused`` otherwise), so it cannot be replayed to escalate. Audited as
    ``role.assigned`` by ``user`` with ``after.bootstrap`` true. Call it inside ``project_create``'s transaction.
    """
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list("pk", flat=True).first()
    if ProjectRoleAssignment.objects.filter(project=project).exists():
        raise RoleBootstrapRefused("Only the first role of a new project can be self-granted")
    assignment = ProjectRoleAssignment.objects.create(
        project=project, user=user, role=ProjectRole.PROJECT_MANAGER, currency=project.currency, granted_by=user
    )
    audit.record(
        user,
        "role.assigned",
        assignment,
        before=None,
        after={**_snapshot(assignment), "bootstrap": True},
        project=project,
        request=request,
    )
    return assignment


# --------------------------------------------------------------------------
# System roles
# --------------------------------------------------------------------------


def _require_admin(actor: User) -> None:
    if not is_platform_admin(actor):
        raise SystemRoleAdminOnly()


@transaction.atomic
def system_role_assign(
    *,
    actor: User,
    user: User,
    role: SystemRole | str,
    request: HttpRequest | None = None,
) -> tuple[SystemRoleAssignment, bool]:
    """Grant a system role (platform admins only); an already active one is returned with ``created`` False."""
    role = SystemRole(role)
    _refuse_self_edit(actor, user)
    _require_admin(actor)
    _lock_user(user)
    existing = _active_system_assignment(user, role)
    if existing is not None:
        return existing, False
    assignment = SystemRoleAssignment.objects.create(user=user, role=role, granted_by=actor)
    audit.record(actor, "system_role.assigned", assignment, after=_system_snapshot(assignment), request=request)
    return assignment, True


@transaction.atomic
def system_role_revoke(
    *,
    actor: User,
    user: User,
    role: SystemRole | str,
    request: HttpRequest | None = None,
) -> SystemRoleAssignment:
    """Revoke a system role (platform admins only). A superuser flag is not a row and is not touched."""
    role = SystemRole(role)
    _refuse_self_edit(actor, user)
    _require_admin(actor)
    _lock_user(user)
    assignment = _active_system_assignment(user, role)
    if assignment is None:
        raise RoleNotAssigned(f"{user.email} does not hold the system role {role.value}", role=role.value)
    before = _system_snapshot(assignment)
    assignment.revoked_at = timezone.now()
    assignment.revoked_by = actor
    assignment.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    audit.record(actor, "system_role.revoked", assignment, before=before, after=None, request=request)
    return assignment


# --------------------------------------------------------------------------
# Vendor access (called by vendors.services.vendor_user_unlink)
# --------------------------------------------------------------------------


def vendor_roles_revoke(
    *,
    actor: User,
    vendor: Vendor,
    user: User,
    request: HttpRequest | None = None,
) -> list[ProjectRoleAssignment]:
    """Revoke every active VENDOR role ``user`` holds for ``vendor``, on any project; audited ``role.revoked`` each.

    The consequence of unlinking a user from a vendor, not a grant decision: the caller
    (``vendors.services.vendor_user_unlink``) has checked ``vendor.manage``, so no ``GRANTABLE`` check is made here.
    Takes the user lock ``role_assign`` takes, so a concurrent grant for the same user either commits first (and is
    revoked here) or runs after (and finds the link gone). Call it inside the caller's transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("vendor_roles_revoke must run inside the unlinking transaction")
    _lock_user(user)
    assignments = list(
        ProjectRoleAssignment.objects.select_for_update()
        .filter(user=user, vendor=vendor, role=ProjectRole.VENDOR, revoked_at__isnull=True)
        .select_related("project")
        .order_by("id")
    )
    now = timezone.now()
    befores = [_snapshot(assignment) for assignment in assignments]
    for assignment in assignments:
        assignment.revoked_at = now
        assignment.revoked_by = actor
        assignment.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    for assignment, before in zip(assignments, befores, strict=True):
        # Like role_revoke's event; the vendor.user_unlinked event that follows names these assignments.
        audit.record(
            actor, "role.revoked", assignment, before=before, after=None, project=assignment.project, request=request
        )
    return assignments
