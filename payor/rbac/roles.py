"""The roles of seed 004 (plus PROCUREMENT from seed 000): shared by rbac and approvals."""

from __future__ import annotations

from django.db import models


class ProjectRole(models.TextChoices):
    VENDOR = "VENDOR", "Vendor / contractor"
    PROJECT_MANAGER = "PROJECT_MANAGER", "Project manager"
    FINANCE_REVIEWER = "FINANCE_REVIEWER", "Finance reviewer"
    TREASURER = "TREASURER", "Treasurer"
    DAO_MULTISIG = "DAO_MULTISIG", "DAO multisig signer"
    AUDITOR = "AUDITOR", "Auditor (read-only)"
    BENEFICIARY = "BENEFICIARY", "Beneficiary (read-only)"
    PROCUREMENT = "PROCUREMENT", "Procurement"


class SystemRole(models.TextChoices):
    PLATFORM_ADMIN = "PLATFORM_ADMIN", "Platform admin"
    SYSTEM_AUDITOR = "SYSTEM_AUDITOR", "System auditor (read-only, all projects)"
    TREASURY_MANAGER = "TREASURY_MANAGER", "Treasury manager"


#: Roles whose assignment may carry an approval limit: the roles that can fill an approval stage
#: (``payor.approvals.matrix.APPROVER_ROLES``). Vendors, auditors and beneficiaries never approve.
APPROVAL_LIMIT_ROLES: frozenset[ProjectRole] = frozenset(
    {
        ProjectRole.PROJECT_MANAGER,
        ProjectRole.FINANCE_REVIEWER,
        ProjectRole.TREASURER,
        ProjectRole.DAO_MULTISIG,
        ProjectRole.PROCUREMENT,
    }
)
