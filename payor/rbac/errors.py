"""Role and permission refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound, PermissionDenied


class RoleEscalationRefused(PermissionDenied):
    code = "role_escalation_refused"
    title = "Your roles on this project do not allow granting or changing this role"


class RoleSelfEditRefused(PermissionDenied):
    code = "role_self_edit_refused"
    title = "Nobody can grant, revoke or change their own roles"


class SystemRoleAdminOnly(PermissionDenied):
    code = "system_role_admin_only"
    title = "Only platform admins grant or revoke system roles"


class RoleAlreadyAssigned(Conflict):
    code = "role_already_assigned"
    title = "The user already holds this role, with a different approval limit or vendor"


class RoleNotAssigned(NotFound):
    code = "role_not_assigned"
    title = "The user does not hold this role"


class RoleBootstrapRefused(Conflict):
    code = "role_bootstrap_refused"
    title = "The project already has role assignments"


class ApprovalLimitCurrencyMismatch(DomainError):
    code = "approval_limit_currency_mismatch"
    status = 422
    title = "An approval limit must be in the project's currency"


class ApprovalLimitInvalid(DomainError):
    code = "approval_limit_invalid"
    status = 422
    title = "An approval limit cannot be negative"


class ApprovalLimitNotApplicable(DomainError):
    code = "approval_limit_not_applicable"
    status = 422
    title = "Only approver roles (PM, finance reviewer, treasurer, DAO multisig, procurement) carry an approval limit"


class VendorIdRequired(DomainError):
    code = "vendor_id_required"
    status = 422
    title = "A VENDOR role names the vendor the user acts for"


class VendorIdNotApplicable(DomainError):
    code = "vendor_id_not_applicable"
    status = 422
    title = "Only a VENDOR role names a vendor"


class ProjectNotFound(NotFound):
    code = "project_not_found"
    title = "No such project"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"
