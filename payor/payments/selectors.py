"""Reads of disbursements. Every selector takes the viewer, so scoping cannot be skipped.

Who reads a disbursement:

* a project the viewer cannot see (``rbac.permissions.project_visible``) hides its disbursements:
  ``disbursement_not_found`` (404), whether or not they exist;
* on a visible project, ``payment.view_all`` reads every disbursement; ``payment.view_own`` (a VENDOR user)
  reads those of the vendors they act for there (``vendor_ids_for``);
* anyone else who sees the project gets ``permission_denied`` (403).

Lists apply the same rule in SQL.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from payor.core.errors import PermissionDenied
from payor.payments.errors import DisbursementNotFound
from payor.payments.models import Disbursement, DisbursementStatus
from payor.rbac.errors import ProjectNotFound
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import Perm, has_permission, project_visible, projects_with_permission, vendor_ids_for
from payor.rbac.roles import ProjectRole

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

__all__ = ["disbursement_get_visible", "disbursement_list"]


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _denied() -> PermissionDenied:
    return PermissionDenied(
        f"This needs the {Perm.PAYMENT_VIEW_ALL.value} permission on this project, or a VENDOR role for the "
        "payment's vendor",
        permission=Perm.PAYMENT_VIEW_ALL.value,
    )


def _may_read(viewer: Viewer, project_id: uuid.UUID, vendor_id: uuid.UUID) -> bool:
    if has_permission(viewer, Perm.PAYMENT_VIEW_ALL, project=project_id):
        return True
    return has_permission(viewer, Perm.PAYMENT_VIEW_OWN, project=project_id) and vendor_id in vendor_ids_for(
        viewer, project_id
    )


def _own_vendor(viewer: Viewer) -> Q:
    """Disbursements whose (project, vendor) is one of the viewer's active VENDOR roles."""
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return Q(pk__in=[])
    own = ProjectRoleAssignment.objects.filter(
        user_id=viewer.pk,
        role=ProjectRole.VENDOR,
        revoked_at__isnull=True,
        project_id=OuterRef("project_id"),
        vendor_id=OuterRef("vendor_id"),
    )
    return Q(Exists(own))


def disbursement_list(
    *,
    viewer: Viewer,
    project_id: uuid.UUID | str | None = None,
    invoice_id: uuid.UUID | str | None = None,
    status: DisbursementStatus | str | None = None,
) -> QuerySet[Disbursement]:
    """The disbursements ``viewer`` may read, newest first, optionally narrowed to a project, an invoice, a status.

    A ``project_id`` the viewer cannot see is ``project_not_found`` (404); a visible project on which they may
    read no payment at all is ``permission_denied`` (403).
    """
    rows = Disbursement.objects.filter(
        Q(project__in=projects_with_permission(viewer, Perm.PAYMENT_VIEW_ALL)) | _own_vendor(viewer)
    )
    if project_id is not None:
        project_pk = _uuid(project_id)
        if project_pk is None or not project_visible(viewer, project_pk):
            raise ProjectNotFound()
        if not has_permission(viewer, Perm.PAYMENT_VIEW_ALL, project=project_pk) and not vendor_ids_for(
            viewer, project_pk
        ):
            raise _denied()
        rows = rows.filter(project_id=project_pk)
    if invoice_id is not None:
        invoice_pk = _uuid(invoice_id)
        rows = rows.none() if invoice_pk is None else rows.filter(invoice_id=invoice_pk)
    if status is not None:
        rows = rows.filter(status=status) if status in DisbursementStatus.values else rows.none()
    return rows.select_related("invoice", "vendor").order_by("-id")


def disbursement_get_visible(*, viewer: Viewer, disbursement_id: uuid.UUID | str) -> Disbursement:
    """The disbursement, if ``viewer`` may read it: ``disbursement_not_found`` (404: unknown, on a project they can't
    see, or another vendor's payment to a vendor's user) or ``permission_denied`` (a project role without payment
    access)."""
    pk = _uuid(disbursement_id)
    disbursement = (
        None
        if pk is None
        else Disbursement.objects.select_related("invoice", "vendor", "created_by", "executed_by").filter(pk=pk).first()
    )
    if disbursement is None or not project_visible(viewer, disbursement.project_id):
        raise DisbursementNotFound()
    if not _may_read(viewer, disbursement.project_id, disbursement.vendor_id):
        if has_permission(viewer, Perm.PAYMENT_VIEW_OWN, project=disbursement.project_id):
            # Another vendor's user learns nothing, not even that the payment exists (as with work requests).
            raise DisbursementNotFound()
        raise _denied()
    return disbursement
