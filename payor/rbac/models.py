"""Who holds which role: per project (``ProjectRoleAssignment``) and platform-wide (``SystemRoleAssignment``).

Assignments are never deleted or edited in place except to record a revocation
(``revoked_at``/``revoked_by``) or an approval-limit change; re-granting a role
creates a new row. At most one *active* (unrevoked) row exists per (project,
user, role) and per (user, role): partial unique constraints enforce it, so two
concurrent grants cannot both succeed. Rows are written only by
:mod:`payor.rbac.services`, which records every change in the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from payor.core.fields import CurrencyField, MoneyField
from payor.core.models import BaseModel
from payor.rbac.roles import APPROVAL_LIMIT_ROLES, ProjectRole, SystemRole

if TYPE_CHECKING:
    from payor.core.money import Money

    class NullableMoneyField(models.BigIntegerField[Money | int | None, Money | None]):
        """For the type checker: a ``MoneyField(null=True)`` reads as ``Money | None``."""

        def __init__(self, *args: Any, currency_field: str = "currency", **kwargs: Any) -> None: ...
else:
    NullableMoneyField = MoneyField

_ACTIVE = models.Q(revoked_at__isnull=True)


class ProjectRoleAssignment(BaseModel):
    """``user`` holds ``role`` on ``project``, granted by ``granted_by`` (None: the system)."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="role_assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="project_roles")
    role = models.CharField(max_length=32, choices=ProjectRole.choices)
    # Always the project's currency; the limit is in that currency.
    currency = CurrencyField()
    # None: no approval authority (fail closed: such a holder cannot approve any amount).
    approval_limit = NullableMoneyField(currency_field="currency", null=True, blank=True)
    # VENDOR only: the vendor this user acts for, one of the project organization's vendors the user is linked to
    # (checked by rbac.services.role_assign). Column ``vendor_id``.
    vendor = models.ForeignKey(
        "vendors.Vendor", on_delete=models.PROTECT, null=True, blank=True, related_name="role_assignments"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=ProjectRole.values), name="rbac_project_role_valid"),
            models.UniqueConstraint(
                fields=["project", "user", "role"], condition=_ACTIVE, name="rbac_project_role_one_active"
            ),
            models.CheckConstraint(
                condition=models.Q(approval_limit__isnull=True) | models.Q(approval_limit__gte=0),
                name="rbac_project_role_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(approval_limit__isnull=True)
                | models.Q(role__in=sorted(r.value for r in APPROVAL_LIMIT_ROLES)),
                name="rbac_project_role_limit_only_approvers",
            ),
            models.CheckConstraint(
                condition=models.Q(role=ProjectRole.VENDOR, vendor_id__isnull=False)
                | (~models.Q(role=ProjectRole.VENDOR) & models.Q(vendor_id__isnull=True)),
                name="rbac_project_role_vendor_id_iff_vendor",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | models.Q(revoked_at__isnull=False),
                name="rbac_project_role_revocation_complete",
            ),
        ]
        indexes = [
            # "Which projects can this user see?" (projects_for) and "what does this user hold?".
            models.Index(fields=["user", "project"], condition=_ACTIVE, name="rbac_project_role_user_active"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} on {self.project_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SystemRoleAssignment(BaseModel):
    """``user`` holds a platform-wide ``role``. Superusers count as PLATFORM_ADMIN without a row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="system_roles")
    role = models.CharField(max_length=32, choices=SystemRole.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=SystemRole.values), name="rbac_system_role_valid"),
            models.UniqueConstraint(fields=["user", "role"], condition=_ACTIVE, name="rbac_system_role_one_active"),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | models.Q(revoked_at__isnull=False),
                name="rbac_system_role_revocation_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
