"""The one permission check of Payor: roles → named permissions, per project.

Every interface (API routers, web views, services, jobs) asks the same question
the same way::

    from payor.rbac.permissions import Perm, require_permission

    require_permission(request.user, Perm.INVOICE_APPROVE_FINANCE, project=project)

``has_permission`` answers True/False; ``require_permission`` raises
:class:`~payor.core.errors.PermissionDenied` (403 ``permission_denied``, with the
permission in the problem's ``permission`` member). A user's permissions on a
project are the union of

* the permissions of every *active* project role they hold there
  (:data:`ROLE_PERMISSIONS`), and
* the permissions of their *active* system roles, which apply on every project
  (:data:`SYSTEM_PERMISSIONS`); superusers count as ``PLATFORM_ADMIN``.

Inactive and anonymous users have no permissions at all. With ``project=None``
only system roles count (platform-wide questions such as "may this user
configure global treasury rails?").

Object-level scoping lives here too, so selectors cannot skip it:
:func:`project_visible`, :func:`projects_for` (the projects a viewer may see)
and :func:`vendor_ids_for` (the vendors a VENDOR user acts for, to filter
invoices and payments with). :func:`projects_with_permission` narrows
``projects_for`` to the projects where a permission is held (the audit log's scope).

Approvals check amounts with :func:`can_approve_amount`: the user must hold the
stage's role with an approval limit in the amount's currency that is at least
the amount. A missing limit means *no* approval authority (fail closed).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from django.db.models import Exists, OuterRef, QuerySet

from payor.core.errors import PermissionDenied
from payor.core.money import Money
from payor.projects.models import Project
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from payor.accounts.models import User

    Viewer = User | AnonymousUser | None

__all__ = [
    "ADMIN_EXCLUDED_READS",
    "ADMIN_GRANTABLE",
    "GRANTABLE",
    "READ_ONLY",
    "ROLE_PERMISSIONS",
    "SEGREGATED",
    "SYSTEM_PERMISSIONS",
    "Perm",
    "approval_limit",
    "can_approve_amount",
    "can_grant",
    "grantable_roles",
    "has_permission",
    "is_platform_admin",
    "permissions_of",
    "project_visible",
    "projects_for",
    "projects_with_permission",
    "require_permission",
    "roles_of",
    "system_roles_of",
    "vendor_ids_for",
]


class Perm(StrEnum):
    """A named permission. Values are part of the contract (API problem bodies, templates): never rename one."""

    # Projects
    PROJECT_VIEW = "project.view"  # the project itself: name, status, phase, dates
    PROJECT_VIEW_TOTALS = "project.view_totals"  # aggregate figures: funded, committed, disbursed...
    PROJECT_UPDATE = "project.update"
    # Budgets, contracts, change orders
    BUDGET_VIEW = "budget.view"
    BUDGET_MANAGE = "budget.manage"
    CONTRACT_VIEW = "contract.view"
    CONTRACT_MANAGE = "contract.manage"  # create contracts/POs and propose change orders
    CHANGE_ORDER_APPROVE = "change_order.approve"
    # The milestone flow: work requests to contractors, their acceptance, deliverables and their review
    WORK_REQUEST_MANAGE = "work_request.manage"  # draft, send and withdraw work requests
    WORK_REQUEST_RESPOND = "work_request.respond"  # accept/decline and submit deliverables for one's own vendor
    SUBMISSION_REVIEW = "submission.review"  # approve a milestone submission (a self-billed invoice follows)
    # Invoices ("approve" is the stage decision: approve or reject)
    INVOICE_SUBMIT = "invoice.submit"
    INVOICE_VIEW_OWN = "invoice.view_own"  # invoices of the vendors one acts for (vendor_ids_for)
    INVOICE_VIEW_ALL = "invoice.view_all"
    INVOICE_CODE = "invoice.code"  # WBS / GL coding
    INVOICE_APPROVE_PM = "invoice.approve.pm"
    INVOICE_APPROVE_FINANCE = "invoice.approve.finance"
    INVOICE_APPROVE_TREASURER = "invoice.approve.treasurer"
    INVOICE_COSIGN_MULTISIG = "invoice.cosign.multisig"
    # Vendors
    VENDOR_VIEW = "vendor.view"
    VENDOR_MANAGE = "vendor.manage"  # onboard vendors, edit their records and bank details
    VENDOR_COMPLIANCE_REVIEW = "vendor.compliance.review"  # W-9/W-8, COI, sanctions, bank checks
    # Payments
    PAYMENT_RUN_CREATE = "payment_run.create"
    PAYMENT_RUN_APPROVE = "payment_run.approve"
    PAYMENT_RUN_EXECUTE = "payment_run.execute"
    PAYMENT_VIEW_OWN = "payment.view_own"  # payments to the vendors one acts for
    PAYMENT_VIEW_ALL = "payment.view_all"
    # Records
    DATAROOM_READ = "dataroom.read"  # the per-transaction receipts data room (seed 000: finance/procurement only)
    AUDIT_READ = "audit.read"
    LEDGER_VIEW = "ledger.view"
    # Administration
    ROLES_VIEW = "roles.view"
    ROLES_ASSIGN = "roles.assign"  # which roles: GRANTABLE
    APPROVAL_MATRIX_VIEW = "approval_matrix.view"
    APPROVAL_MATRIX_UPDATE = "approval_matrix.update"
    TREASURY_CONFIGURE = "treasury.configure"


P = Perm

#: Everything an auditor may read on a project: all records, nothing that changes anything.
READ_ONLY: Final[frozenset[Perm]] = frozenset(
    {
        P.PROJECT_VIEW,
        P.PROJECT_VIEW_TOTALS,
        P.BUDGET_VIEW,
        P.CONTRACT_VIEW,
        P.VENDOR_VIEW,
        P.INVOICE_VIEW_ALL,
        P.PAYMENT_VIEW_ALL,
        P.DATAROOM_READ,
        P.AUDIT_READ,
        P.LEDGER_VIEW,
        P.ROLES_VIEW,
        P.APPROVAL_MATRIX_VIEW,
    }
)

#: Decisions that submit, approve, co-sign or pay out money, or change the rules for doing so. They belong to a
#: project role (and, for approvals, an approval limit), never to a platform role: a platform admin who wants to
#: act must be granted the role by *another* admin (nobody edits their own roles), which keeps the two-person rule
#: meaningful. ARCHITECTURE §7 and seed 004: only the DAO multisig changes the approval matrix.
SEGREGATED: Final[frozenset[Perm]] = frozenset(
    {
        P.INVOICE_SUBMIT,
        P.INVOICE_APPROVE_PM,
        P.INVOICE_APPROVE_FINANCE,
        P.INVOICE_APPROVE_TREASURER,
        P.INVOICE_COSIGN_MULTISIG,
        P.CHANGE_ORDER_APPROVE,
        P.WORK_REQUEST_RESPOND,
        P.SUBMISSION_REVIEW,
        P.VENDOR_COMPLIANCE_REVIEW,
        P.PAYMENT_RUN_CREATE,
        P.PAYMENT_RUN_APPROVE,
        P.PAYMENT_RUN_EXECUTE,
        P.APPROVAL_MATRIX_UPDATE,
    }
)

#: Records a platform role does not open either: seed 000's data room (receipts, approval records, deliverables,
#: payment confirmations; vendors' W-9/W-8 content) is for "finance/procurement teams" only, and issue 7 names
#: them: finance reviewer, treasurer, procurement, auditor (and system auditors). Managing the platform is not a
#: reason to read the evidence; an admin who needs it is granted one of those project roles by another admin.
ADMIN_EXCLUDED_READS: Final[frozenset[Perm]] = frozenset({P.DATAROOM_READ})

_FINANCE_READS: Final = frozenset(
    {
        P.PROJECT_VIEW,
        P.PROJECT_VIEW_TOTALS,
        P.BUDGET_VIEW,
        P.CONTRACT_VIEW,
        P.VENDOR_VIEW,
        P.INVOICE_VIEW_ALL,
        P.PAYMENT_VIEW_ALL,
        P.LEDGER_VIEW,
        P.ROLES_VIEW,
        P.APPROVAL_MATRIX_VIEW,
    }
)

ROLE_PERMISSIONS: Final[dict[ProjectRole, frozenset[Perm]]] = {
    # Seed 004: "submit invoices, upload docs, view their own payments". Sees the project, never its treasury
    # figures or other vendors' records; invoices/payments are filtered to vendor_ids_for().
    # The milestone flow: they accept or decline their work requests and submit deliverables (work_request.respond).
    ProjectRole.VENDOR: frozenset(
        {P.PROJECT_VIEW, P.INVOICE_SUBMIT, P.INVOICE_VIEW_OWN, P.PAYMENT_VIEW_OWN, P.WORK_REQUEST_RESPOND}
    ),
    # "Create budgets/POs, verify receipt of work, recommend approval <= limit": runs the project, codes and
    # approves the PM stage, brings in vendors and beneficiaries. No data room (seed 000: finance/procurement
    # only), no vendor records (whoever approves invoices must not also create payees).
    ProjectRole.PROJECT_MANAGER: _FINANCE_READS
    | {
        P.PROJECT_UPDATE,
        P.BUDGET_MANAGE,
        P.CONTRACT_MANAGE,
        P.WORK_REQUEST_MANAGE,
        P.SUBMISSION_REVIEW,
        P.INVOICE_CODE,
        P.INVOICE_APPROVE_PM,
        P.ROLES_ASSIGN,
    },
    # "Compliance checks (W-9/W-8, COI, debarment, bank info), GL coding": the finance stage, with the data room
    # and the audit trail it checks against.
    ProjectRole.FINANCE_REVIEWER: _FINANCE_READS
    | {
        P.VENDOR_COMPLIANCE_REVIEW,
        P.INVOICE_CODE,
        P.INVOICE_APPROVE_FINANCE,
        P.DATAROOM_READ,
        P.AUDIT_READ,
    },
    # "Release payments, manage payment runs, configure treasury rails": the treasurer stage, payment runs
    # end to end (the creator of a run cannot approve it: enforced by the payment-run service), the project's rails.
    ProjectRole.TREASURER: _FINANCE_READS
    | {
        P.INVOICE_APPROVE_TREASURER,
        P.PAYMENT_RUN_CREATE,
        P.PAYMENT_RUN_APPROVE,
        P.PAYMENT_RUN_EXECUTE,
        P.TREASURY_CONFIGURE,
        P.DATAROOM_READ,
        P.AUDIT_READ,
    },
    # "Co-sign large disbursements", "configure approval matrix": the governing signers. They co-sign invoices
    # and payment runs above the threshold, approve change orders (budget locks) and alone change the matrix.
    ProjectRole.DAO_MULTISIG: _FINANCE_READS
    | {
        P.INVOICE_COSIGN_MULTISIG,
        P.PAYMENT_RUN_APPROVE,
        P.CHANGE_ORDER_APPROVE,
        P.APPROVAL_MATRIX_UPDATE,
        P.AUDIT_READ,
        P.ROLES_ASSIGN,
    },
    # "Read-only access to all spend and audit trails": every read, the data room and the audit log; no writes.
    ProjectRole.AUDITOR: READ_ONLY,
    # The issue: "a beneficiary sees project totals only" (seed 004 lumps beneficiaries with auditors; the
    # issue narrows that: no invoices, vendors, documents or audit trail).
    ProjectRole.BENEFICIARY: frozenset({P.PROJECT_VIEW_TOTALS}),
    # Seed 000: the data room is open to "finance/procurement teams". Onboards vendors and links vendor users to
    # them; reads budgets and contracts to source against them. Sees no payments or treasury figures.
    ProjectRole.PROCUREMENT: frozenset(
        {
            P.PROJECT_VIEW,
            P.BUDGET_VIEW,
            P.CONTRACT_VIEW,
            P.VENDOR_VIEW,
            P.VENDOR_MANAGE,
            P.DATAROOM_READ,
            P.ROLES_VIEW,
            P.ROLES_ASSIGN,
            # A matrix may name a procurement stage (approvals.matrix.APPROVER_ROLES): its holders see the rules.
            P.APPROVAL_MATRIX_VIEW,
        }
    ),
}

SYSTEM_PERMISSIONS: Final[dict[SystemRole, frozenset[Perm]]] = {
    # "Manage all projects and assign roles": every permission on every project except the segregated money
    # decisions above, which need a project role, and the data room (ADMIN_EXCLUDED_READS, seed 000).
    SystemRole.PLATFORM_ADMIN: frozenset(Perm) - SEGREGATED - ADMIN_EXCLUDED_READS,
    # "Read-only access to all projects": the auditor's reads, everywhere.
    SystemRole.SYSTEM_AUDITOR: READ_ONLY,
    # "Configure global treasury settings": the rails of every project, and the project figures they move.
    SystemRole.TREASURY_MANAGER: frozenset({P.PROJECT_VIEW, P.PROJECT_VIEW_TOTALS, P.TREASURY_CONFIGURE}),
}

#: Which project roles a holder of a project role may grant, revoke and set limits on (roles.assign).
#: Nobody grants their own role level upwards; approver roles are appointed by the DAO or a platform admin.
GRANTABLE: Final[dict[ProjectRole, frozenset[ProjectRole]]] = {
    ProjectRole.VENDOR: frozenset(),
    # The PM brings in the contractors' users and the project's beneficiaries; never finance roles.
    ProjectRole.PROJECT_MANAGER: frozenset({ProjectRole.VENDOR, ProjectRole.BENEFICIARY}),
    # Approvers never appoint approvers (they could appoint their own accomplice for the next stage).
    ProjectRole.FINANCE_REVIEWER: frozenset(),
    ProjectRole.TREASURER: frozenset(),
    # The DAO governs the project's finance staff, but not its own signer set: one signer adding signers would
    # defeat the k-of-n threshold. New signers come from a platform admin (mirroring the Safe's owner set).
    ProjectRole.DAO_MULTISIG: frozenset(
        {
            ProjectRole.PROJECT_MANAGER,
            ProjectRole.FINANCE_REVIEWER,
            ProjectRole.TREASURER,
            ProjectRole.AUDITOR,
            ProjectRole.BENEFICIARY,
            ProjectRole.PROCUREMENT,
        }
    ),
    ProjectRole.AUDITOR: frozenset(),
    ProjectRole.BENEFICIARY: frozenset(),
    # Procurement onboards vendors, so it links vendor users to them.
    ProjectRole.PROCUREMENT: frozenset({ProjectRole.VENDOR}),
}

#: Platform admins grant any project role (and, alone, system roles).
ADMIN_GRANTABLE: Final[frozenset[ProjectRole]] = frozenset(ProjectRole)


# --------------------------------------------------------------------------
# Reading roles
# --------------------------------------------------------------------------


def _active_user(user: Viewer) -> User | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return user


def _project_id(project: Project | uuid.UUID | str) -> uuid.UUID:
    if isinstance(project, Project):
        return project.pk
    return project if isinstance(project, uuid.UUID) else uuid.UUID(str(project))


def _system_role_names(user: User) -> QuerySet[SystemRoleAssignment, str]:
    return (
        SystemRoleAssignment.objects.filter(user=user, revoked_at__isnull=True)
        .order_by()
        .values_list("role", flat=True)
    )


def _project_role_names(user: User, project_id: uuid.UUID) -> QuerySet[ProjectRoleAssignment, str]:
    return (
        ProjectRoleAssignment.objects.filter(user=user, project_id=project_id, revoked_at__isnull=True)
        .order_by()
        .values_list("role", flat=True)
    )


def _held(
    user: User, project: Project | uuid.UUID | str | None
) -> tuple[frozenset[SystemRole], frozenset[ProjectRole]]:
    """The user's active system roles and project roles on ``project``, in one query."""
    if project is None:
        names = set(_system_role_names(user))
    else:
        names = set(_project_role_names(user, _project_id(project)).union(_system_role_names(user), all=True))
    system = {SystemRole(name) for name in names if name in SystemRole.values}
    if user.is_superuser:
        system.add(SystemRole.PLATFORM_ADMIN)
    return frozenset(system), frozenset(ProjectRole(name) for name in names if name in ProjectRole.values)


def system_roles_of(user: Viewer) -> frozenset[SystemRole]:
    """The user's active system roles (superusers: PLATFORM_ADMIN); empty for anonymous or inactive users."""
    active = _active_user(user)
    if active is None:
        return frozenset()
    return _held(active, None)[0]


def roles_of(user: Viewer, project: Project | uuid.UUID | str) -> frozenset[ProjectRole]:
    """The user's active project roles on ``project`` (system roles not included)."""
    active = _active_user(user)
    if active is None:
        return frozenset()
    return frozenset(ProjectRole(name) for name in _project_role_names(active, _project_id(project)))


def is_platform_admin(user: Viewer) -> bool:
    """An active superuser, or an active user holding an active PLATFORM_ADMIN system role."""
    active = _active_user(user)
    if active is None:
        return False
    if active.is_superuser:
        return True
    return SystemRoleAssignment.objects.filter(
        user=active, role=SystemRole.PLATFORM_ADMIN, revoked_at__isnull=True
    ).exists()


# --------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------


def _permissions(system: frozenset[SystemRole], project_roles: frozenset[ProjectRole]) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for system_role in system:
        perms |= SYSTEM_PERMISSIONS[system_role]
    for role in project_roles:
        perms |= ROLE_PERMISSIONS[role]
    return frozenset(perms)


def permissions_of(user: Viewer, *, project: Project | uuid.UUID | str | None = None) -> frozenset[Perm]:
    """Every permission ``user`` has on ``project`` (platform-wide ones only, with ``project=None``)."""
    active = _active_user(user)
    if active is None:
        return frozenset()
    return _permissions(*_held(active, project))


def has_permission(user: Viewer, perm: Perm | str, *, project: Project | uuid.UUID | str | None = None) -> bool:
    """THE check: does ``user`` have ``perm`` on ``project`` (or platform-wide, with ``project=None``)?

    One indexed query (none for a superuser asking for an admin permission). An unknown permission name is a
    programming error (``ValueError``), not a refusal.
    """
    perm = Perm(perm)
    active = _active_user(user)
    if active is None:
        return False
    if active.is_superuser and perm in SYSTEM_PERMISSIONS[SystemRole.PLATFORM_ADMIN]:
        return True
    return perm in _permissions(*_held(active, project))


def require_permission(user: Viewer, perm: Perm | str, *, project: Project | uuid.UUID | str | None = None) -> None:
    """:func:`has_permission` or raise ``PermissionDenied`` (403 ``permission_denied``) naming the permission."""
    perm = Perm(perm)
    if not has_permission(user, perm, project=project):
        where = "on this project" if project is not None else "on this platform"
        raise PermissionDenied(f"This needs the {perm.value} permission {where}", permission=perm.value)


# --------------------------------------------------------------------------
# Approval limits
# --------------------------------------------------------------------------


def approval_limit(user: Viewer, project: Project | uuid.UUID | str, role: ProjectRole) -> Money | None:
    """The limit of the user's active ``role`` assignment on ``project``; None without one or without a limit."""
    active = _active_user(user)
    if active is None:
        return None
    assignment = (
        ProjectRoleAssignment.objects.filter(
            user=active, project_id=_project_id(project), role=role, revoked_at__isnull=True
        )
        .only("currency", "approval_limit")
        .first()
    )
    return None if assignment is None else assignment.approval_limit


def can_approve_amount(user: Viewer, project: Project | uuid.UUID | str, role: ProjectRole, amount: Money) -> bool:
    """Whether ``user`` may approve ``amount`` as ``role`` on ``project``: active role, limit >= amount, same currency.

    No limit means no approval authority; a limit in another currency never matches (no conversion).
    """
    if not isinstance(amount, Money):
        raise TypeError(f"amount must be Money, not {type(amount).__name__}")
    limit = approval_limit(user, project, role)
    if limit is None or limit.currency.code != amount.currency.code or amount.is_negative:
        return False
    return limit >= amount


# --------------------------------------------------------------------------
# Granting (used by services; exposed for UIs that offer only grantable roles)
# --------------------------------------------------------------------------


def grantable_roles(user: Viewer, project: Project | uuid.UUID | str) -> frozenset[ProjectRole]:
    """The project roles ``user`` may grant, revoke and change limits of on ``project``."""
    active = _active_user(user)
    if active is None:
        return frozenset()
    system, project_roles = _held(active, project)
    if SystemRole.PLATFORM_ADMIN in system:
        return ADMIN_GRANTABLE
    granted: set[ProjectRole] = set()
    for role in project_roles:
        granted |= GRANTABLE[role]
    return frozenset(granted)


def can_grant(user: Viewer, project: Project | uuid.UUID | str, role: ProjectRole) -> bool:
    return ProjectRole(role) in grantable_roles(user, project)


# --------------------------------------------------------------------------
# Object-level scoping
# --------------------------------------------------------------------------


def project_visible(user: Viewer, project: Project | uuid.UUID | str) -> bool:
    """Any active role on the project, any active system role, or superuser. One query."""
    active = _active_user(user)
    if active is None:
        return False
    if active.is_superuser:
        return True
    try:
        project_id = _project_id(project)
    except ValueError:
        return False
    on_project = ProjectRoleAssignment.objects.filter(user=active, project_id=project_id, revoked_at__isnull=True)
    system = SystemRoleAssignment.objects.filter(user=active, revoked_at__isnull=True)
    return bool(Project.objects.filter(pk=project_id).filter(Exists(on_project) | Exists(system)).exists())


def projects_for(viewer: Viewer) -> QuerySet[Project]:
    """The projects ``viewer`` may see (lazy: one query when evaluated)."""
    active = _active_user(viewer)
    if active is None:
        return Project.objects.none()
    if active.is_superuser:
        return Project.objects.all()
    on_project = ProjectRoleAssignment.objects.filter(user=active, project=OuterRef("pk"), revoked_at__isnull=True)
    system = SystemRoleAssignment.objects.filter(user=active, revoked_at__isnull=True)
    return Project.objects.filter(Exists(on_project) | Exists(system))


def projects_with_permission(viewer: Viewer, perm: Perm | str) -> QuerySet[Project]:
    """The projects on which ``viewer`` has ``perm`` (lazy: one query when evaluated).

    Exactly the projects ``p`` for which ``has_permission(viewer, perm, project=p)`` holds: an active project role
    granting ``perm`` there, or an active system role granting it everywhere (superusers: PLATFORM_ADMIN). The roles
    are read from :data:`ROLE_PERMISSIONS` and :data:`SYSTEM_PERMISSIONS`, so this cannot drift from the map.
    """
    perm = Perm(perm)
    active = _active_user(viewer)
    if active is None:
        return Project.objects.none()
    if active.is_superuser and perm in SYSTEM_PERMISSIONS[SystemRole.PLATFORM_ADMIN]:
        return Project.objects.all()
    project_roles = sorted(role.value for role, perms in ROLE_PERMISSIONS.items() if perm in perms)
    system_roles = sorted(role.value for role, perms in SYSTEM_PERMISSIONS.items() if perm in perms)
    on_project = ProjectRoleAssignment.objects.filter(
        user=active, project=OuterRef("pk"), role__in=project_roles, revoked_at__isnull=True
    )
    system = SystemRoleAssignment.objects.filter(user=active, role__in=system_roles, revoked_at__isnull=True)
    return Project.objects.filter(Exists(on_project) | Exists(system))


def vendor_ids_for(viewer: Viewer, project: Project | uuid.UUID | str) -> frozenset[uuid.UUID]:
    """The vendors ``viewer`` acts for on ``project`` (active VENDOR roles); filter own invoices/payments with it."""
    active = _active_user(viewer)
    if active is None:
        return frozenset()
    ids = ProjectRoleAssignment.objects.filter(
        user=active, project_id=_project_id(project), role=ProjectRole.VENDOR, revoked_at__isnull=True
    ).values_list("vendor_id", flat=True)
    return frozenset(vendor_id for vendor_id in ids if vendor_id is not None)
