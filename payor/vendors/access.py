"""Who may do what with an organization's vendors: the one place this rule is written.

Vendors belong to an organization, while Payor's permissions are held per
project (:mod:`payor.rbac.permissions`). The bridge:

    a user holds a vendor permission (``vendor.view``, ``vendor.manage``,
    ``vendor.compliance.review``, ``dataroom.read``) for an organization's
    vendors when they hold it platform-wide (system roles; superusers count as
    PLATFORM_ADMIN) or on any project of that organization.

On top of that, the user accounts linked to a vendor (``VendorUser``) see that
vendor, its compliance checklist and its documents, and upload its documents
(seed 004: "Vendor: submit invoices, upload docs") — nothing else, and never
for another vendor.

What each permission opens:

* ``vendor.view``: the vendor record, its linked users, its checklist and its
  documents' metadata (PROJECT_MANAGER, FINANCE_REVIEWER, TREASURER,
  DAO_MULTISIG, AUDITOR, PROCUREMENT; PLATFORM_ADMIN, SYSTEM_AUDITOR).
* ``dataroom.read``: the documents' content (a W-9 carries a taxpayer id): the
  finance, procurement and audit roles of seed 000's data room (FINANCE_REVIEWER,
  TREASURER, AUDITOR, PROCUREMENT; SYSTEM_AUDITOR). Platform admins don't hold
  it (they administer, they don't read finance records). A project manager or
  DAO signer sees that a W-9 is on file, not the form.
* ``vendor.manage``: onboard, edit, link/unlink users, upload (PROCUREMENT,
  PLATFORM_ADMIN).
* ``vendor.compliance.review``: KYC decisions and document reviews
  (FINANCE_REVIEWER only: a segregated permission, never a platform role's).

Checks answer ``vendor_not_found`` (404) to a user who cannot see the vendor
at all, whether or not it exists, and ``permission_denied`` (403, naming the
permission) to one who sees it without the permission.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from payor.accounts.models import Organization
from payor.core.errors import PermissionDenied
from payor.rbac.permissions import Perm, has_permission, projects_with_permission
from payor.vendors.errors import VendorNotFound
from payor.vendors.models import Vendor, VendorUser

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

__all__ = [
    "linked_vendor_ids",
    "vendor_permission_check",
    "vendor_permission_require",
    "vendor_user_linked",
    "vendor_visible",
    "vendors_visible_to",
    "vendors_with_permission",
]


def _authenticated(viewer: Viewer) -> bool:
    return viewer is not None and viewer.is_authenticated and viewer.is_active


def _user_id(viewer: Viewer) -> uuid.UUID:
    """The id of an authenticated viewer (call after :func:`_authenticated`)."""
    return viewer.pk  # type: ignore[union-attr,return-value]


def _organization_id(organization: Organization | uuid.UUID) -> uuid.UUID:
    return organization.pk if isinstance(organization, Organization) else organization


def vendor_permission_check(viewer: Viewer, perm: Perm | str, *, organization: Organization | uuid.UUID) -> bool:
    """THE vendor check: ``perm`` platform-wide, or on any project of ``organization``."""
    perm = Perm(perm)
    if not _authenticated(viewer):
        return False
    if has_permission(viewer, perm):
        return True
    return projects_with_permission(viewer, perm).filter(organization_id=_organization_id(organization)).exists()


def vendor_user_linked(viewer: Viewer, vendor: Vendor | uuid.UUID) -> bool:
    """Whether ``viewer`` is one of the user accounts acting for ``vendor``."""
    if not _authenticated(viewer):
        return False
    vendor_id = vendor.pk if isinstance(vendor, Vendor) else vendor
    return VendorUser.objects.filter(vendor_id=vendor_id, user_id=_user_id(viewer)).exists()


def linked_vendor_ids(viewer: Viewer) -> QuerySet[VendorUser, uuid.UUID]:
    """The ids of the vendors ``viewer`` acts for (lazy)."""
    if not _authenticated(viewer):
        return VendorUser.objects.none().values_list("vendor_id", flat=True)
    return VendorUser.objects.filter(user_id=_user_id(viewer)).values_list("vendor_id", flat=True)


def vendors_with_permission(viewer: Viewer, perm: Perm | str) -> QuerySet[Vendor]:
    """Every vendor for which ``viewer`` holds ``perm`` by :func:`vendor_permission_check`'s rule (lazy, one query)."""
    perm = Perm(perm)
    if not _authenticated(viewer):
        return Vendor.objects.none()
    if has_permission(viewer, perm):
        return Vendor.objects.all()
    return Vendor.objects.filter(organization_id__in=projects_with_permission(viewer, perm).values("organization_id"))


def vendors_visible_to(viewer: Viewer) -> QuerySet[Vendor]:
    """The vendors ``viewer`` may see: ``vendor.view`` for their organization, or linked to them (lazy, one query)."""
    if not _authenticated(viewer):
        return Vendor.objects.none()
    if has_permission(viewer, Perm.VENDOR_VIEW):
        return Vendor.objects.all()
    by_role = projects_with_permission(viewer, Perm.VENDOR_VIEW).values("organization_id")
    linked = VendorUser.objects.filter(vendor=OuterRef("pk"), user_id=_user_id(viewer))
    return Vendor.objects.filter(Q(organization_id__in=by_role) | Exists(linked))


def vendor_visible(viewer: Viewer, vendor: Vendor) -> bool:
    return vendor_permission_check(viewer, Perm.VENDOR_VIEW, organization=vendor.organization_id) or vendor_user_linked(
        viewer, vendor
    )


def vendor_permission_require(viewer: Viewer, perm: Perm | str, *, vendor: Vendor) -> None:
    """:func:`vendor_permission_check` on ``vendor``'s organization, or raise.

    ``vendor_not_found`` (404) when the viewer cannot see the vendor at all (nothing leaked), else
    ``permission_denied`` (403) naming the permission.
    """
    perm = Perm(perm)
    if vendor_permission_check(viewer, perm, organization=vendor.organization_id):
        return
    if not vendor_visible(viewer, vendor):
        raise VendorNotFound()
    raise PermissionDenied(
        f"This needs the {perm.value} permission on a project of the vendor's organization", permission=perm.value
    )
