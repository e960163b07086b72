"""Reads of vendors. Every selector takes the viewer first, so scoping cannot be skipped.

Who sees which vendor is :mod:`payor.vendors.access`'s rule: ``vendor.view``
for the vendor's organization (finance, procurement, auditors of any of its
projects; platform admins and system auditors everywhere), or being one of the
vendor's linked users (a VENDOR user sees exactly the vendors they act for).
Anyone else sees nothing: a vendor they cannot see is ``vendor_not_found``
(404), whether or not it exists.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from payor.accounts.models import Organization, User
from payor.projects.errors import OrganizationNotFound
from payor.rbac.permissions import Perm
from payor.vendors.access import vendor_permission_check, vendor_user_linked, vendors_visible_to
from payor.vendors.errors import VendorDocumentNotFound, VendorFieldInvalid, VendorNotFound
from payor.vendors.models import DocumentKind, KycStatus, Vendor, VendorDocument

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

__all__ = [
    "vendor_document_get",
    "vendor_documents",
    "vendor_get",
    "vendor_list",
    "vendor_organization_get",
    "vendor_users",
]

Q_MAX = 200


def _uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def vendor_organization_get(*, viewer: Viewer, organization_id: uuid.UUID | str) -> Organization:
    """An organization whose vendors ``viewer`` deals with: a member, or ``vendor.view``/``vendor.manage`` there.

    Anything else is ``organization_not_found`` (404), whether or not it exists.
    """
    pk = _uuid(organization_id)
    organization = None if pk is None else Organization.objects.filter(pk=pk).first()
    if organization is None or viewer is None or not viewer.is_authenticated:
        raise OrganizationNotFound()
    is_member = organization.memberships.filter(user_id=viewer.pk).exists()
    if not (
        is_member
        or vendor_permission_check(viewer, Perm.VENDOR_VIEW, organization=organization)
        or vendor_permission_check(viewer, Perm.VENDOR_MANAGE, organization=organization)
    ):
        raise OrganizationNotFound()
    return organization


def vendor_list(
    *,
    viewer: Viewer,
    organization: Organization | uuid.UUID | str | None = None,
    kyc_status: KycStatus | str | None = None,
    q: str | None = None,
) -> QuerySet[Vendor]:
    """The vendors ``viewer`` may see, newest first, optionally narrowed.

    ``organization``: one organization's vendor master (an organization the viewer sees nothing of gives an empty
    list, not an error); ``kyc_status``: ``pending``, ``passed`` or ``failed``; ``q``: a case-insensitive search in
    the name, legal name, email and VAT id.
    """
    vendors = vendors_visible_to(viewer).select_related("organization")
    if organization is not None:
        organization_id = organization.pk if isinstance(organization, Organization) else _uuid(organization)
        if organization_id is None:
            return vendors.none()
        vendors = vendors.filter(organization_id=organization_id)
    if kyc_status is not None:
        if kyc_status not in KycStatus.values:
            raise VendorFieldInvalid(f"kyc_status must be one of {', '.join(KycStatus.values)}", field="kyc_status")
        vendors = vendors.filter(kyc_status=kyc_status)
    if q is not None:
        term = q.strip()[:Q_MAX].replace("\x00", "")
        if term:
            vendors = vendors.filter(
                Q(name__icontains=term)
                | Q(legal_name__icontains=term)
                | Q(email__icontains=term)
                | Q(vat_id__icontains=term.replace(" ", "").upper())
            )
    return vendors.order_by("-id")


def vendor_get(*, viewer: Viewer, vendor_id: uuid.UUID | str) -> Vendor:
    """The vendor, if ``viewer`` may see it; ``vendor_not_found`` (404) otherwise."""
    pk = _uuid(vendor_id)
    vendor = None if pk is None else vendors_visible_to(viewer).select_related("organization").filter(pk=pk).first()
    if vendor is None:
        raise VendorNotFound()
    return vendor


def vendor_users(*, viewer: Viewer, vendor: Vendor) -> QuerySet[User]:
    """The user accounts linked to ``vendor`` (by email)."""
    vendor_get(viewer=viewer, vendor_id=vendor.pk)
    return User.objects.filter(vendor_links__vendor=vendor).order_by("email")


def vendor_documents(
    *, viewer: Viewer, vendor: Vendor, kind: DocumentKind | str | None = None
) -> QuerySet[VendorDocument]:
    """Every document of ``vendor`` (history included: superseded and rejected ones), newest first.

    Metadata only: reading a document's content is ``services.vendor_document_download`` (``dataroom.read``).
    """
    vendor_get(viewer=viewer, vendor_id=vendor.pk)
    documents = VendorDocument.objects.filter(vendor=vendor).select_related("uploaded_by", "verified_by", "rejected_by")
    if kind is not None:
        if kind not in DocumentKind.values:
            raise VendorFieldInvalid(f"kind must be one of {', '.join(DocumentKind.values)}", field="kind")
        documents = documents.filter(kind=kind)
    return documents.order_by("-id")


def vendor_document_get(*, viewer: Viewer, vendor: Vendor, document_id: uuid.UUID | str) -> VendorDocument:
    """One document of ``vendor``; ``vendor_document_not_found`` (404) for another vendor's or an unknown id."""
    pk = _uuid(document_id)
    document = None if pk is None else vendor_documents(viewer=viewer, vendor=vendor).filter(pk=pk).first()
    if document is None:
        raise VendorDocumentNotFound()
    document.vendor = vendor
    return document


def viewer_acts_for(*, viewer: Viewer, vendor: Vendor) -> bool:
    """Whether ``viewer`` is one of ``vendor``'s linked users (what the UI offers them differs)."""
    return vendor_user_linked(viewer, vendor)
