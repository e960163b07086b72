"""``/api/v1/vendors``: thin edge over ``payor.vendors`` services and selectors.

Who sees and does what is ``payor.vendors.access``'s rule: a vendor you cannot see is 404 ``vendor_not_found``
(whether or not it exists); a visible one without the permission is 403 ``permission_denied``. POSTs accept
``Idempotency-Key``. The detail (``GET /vendors/{id}``) carries the compliance checklist of seed 004's vendor
screen and the documents' metadata; a document's content is a separate, audited download.
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoints' signatures through its wrapper.
import base64
import datetime as dt
from typing import Any
from uuid import UUID

from django.http import FileResponse, HttpRequest
from django.urls import reverse
from django.utils import timezone
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from ninja.params import P, QueryEx
from pydantic import ConfigDict, Field, field_validator

from payor.accounts.models import User
from payor.api.pagination import Cursor
from payor.api.schemas import Problem, UserTargetIn
from payor.core.errors import ValidationFailed
from payor.rbac.permissions import Perm
from payor.rbac.selectors import user_find
from payor.vendors import selectors, services
from payor.vendors.access import vendor_permission_check, vendor_permission_require
from payor.vendors.compliance import ComplianceStatus, vendor_compliance_status
from payor.vendors.countries import country_names
from payor.vendors.models import (
    BankMethod,
    DocumentKind,
    DocumentStatus,
    KycStatus,
    TaxStatus,
    Vendor,
    VendorDocument,
    VendorKind,
)

router = Router(tags=["vendors"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}
UPLOAD_ERRORS: dict[int, type[Problem]] = {**ERRORS, 413: Problem, 415: Problem, 503: Problem}


# --------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------


class OrganizationRef(Schema):
    id: UUID
    name: str


class UserRef(Schema):
    id: UUID
    email: str
    name: str

    @staticmethod
    def resolve_name(user: User) -> str:
        return user.display_name


class AddressOut(Schema):
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str = Field(description="ISO 3166-1 alpha-2")
    country_name: str


class VendorOut(Schema):
    id: UUID
    organization: OrganizationRef
    name: str
    legal_name: str
    kind: VendorKind
    email: str
    address: AddressOut
    vat_id: str
    tax_status: TaxStatus
    bank_method: BankMethod
    kyc_status: KycStatus
    coi_expiry: dt.date | None = Field(description="Last day covered by the current verified certificate of insurance")
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_address(vendor: Vendor) -> dict[str, str]:
        return {
            "line1": vendor.address_line1,
            "line2": vendor.address_line2,
            "city": vendor.city,
            "region": vendor.region,
            "postal_code": vendor.postal_code,
            "country": vendor.country,
            "country_name": country_names().get(vendor.country, vendor.country),
        }


class ComplianceItemOut(Schema):
    key: str = Field(description="`kyc`, `tax_form` or `coi`")
    label: str
    ok: bool
    code: str | None = Field(description="The error code the invoice gate answers while this item fails")
    message: str
    document_id: UUID | None
    valid_until: dt.date | None


class ComplianceOut(Schema):
    on: dt.date
    ok: bool
    failed: list[str]
    items: list[ComplianceItemOut]

    @classmethod
    def of(cls, status: ComplianceStatus) -> "ComplianceOut":
        return cls(
            on=status.on,
            ok=status.ok,
            failed=status.failed,
            items=[
                ComplianceItemOut(
                    key=item.key,
                    label=item.label,
                    ok=item.ok,
                    code=item.code,
                    message=item.message,
                    document_id=item.document_id,  # type: ignore[arg-type]
                    valid_until=item.valid_until,
                )
                for item in status.items
            ],
        )


class DocumentOut(Schema):
    id: UUID
    vendor_id: UUID
    kind: DocumentKind
    original_filename: str
    content_type: str = Field(description="Detected from the file's content")
    size: int
    sha256: str
    valid_until: dt.date | None
    status: DocumentStatus
    current: bool = Field(description="Verified and not superseded: the document that counts for compliance")
    uploaded_by: UserRef
    uploaded_at: dt.datetime
    verified_by: UserRef | None
    verified_at: dt.datetime | None
    rejected_by: UserRef | None
    rejected_at: dt.datetime | None
    review_note: str
    superseded_by_id: UUID | None
    superseded_at: dt.datetime | None
    download_url: str

    @staticmethod
    def resolve_current(document: VendorDocument) -> bool:
        return document.is_current

    @staticmethod
    def resolve_uploaded_at(document: VendorDocument) -> dt.datetime:
        return document.created_at

    @staticmethod
    def resolve_download_url(document: VendorDocument) -> str:
        return reverse(
            "api-v1:vendor_document_download", kwargs={"vendor_id": document.vendor_id, "document_id": document.pk}
        )


class KycOut(Schema):
    status: KycStatus
    reviewed_by: UserRef | None
    reviewed_at: dt.datetime | None
    note: str | None = Field(description="The reviewer's note; null for the vendor's own users")


class VendorDetailOut(VendorOut):
    """Read from a Vendor prepared by ``_detail`` (which attaches the viewer-dependent parts)."""

    kyc: KycOut
    metadata: dict[str, Any] | None = Field(description="Internal; null for the vendor's own users")
    created_by: UserRef | None
    users: list[UserRef] = Field(description="The user accounts acting for the vendor")
    compliance: ComplianceOut
    documents: list[DocumentOut] = Field(description="Every document, newest first (history included)")

    @staticmethod
    def resolve_kyc(vendor: Vendor) -> dict[str, object]:
        return {
            "status": vendor.kyc_status,
            "reviewed_by": vendor.kyc_reviewed_by,
            "reviewed_at": vendor.kyc_reviewed_at,
            "note": vendor.kyc_note if vendor._internal else None,  # type: ignore[attr-defined]
        }

    @staticmethod
    def resolve_metadata(vendor: Vendor) -> dict[str, Any] | None:
        return vendor.metadata if vendor._internal else None  # type: ignore[attr-defined]

    @staticmethod
    def resolve_users(vendor: Vendor) -> list[User]:
        return vendor._users  # type: ignore[attr-defined]

    @staticmethod
    def resolve_compliance(vendor: Vendor) -> ComplianceOut:
        return ComplianceOut.of(vendor._compliance)  # type: ignore[attr-defined]

    @staticmethod
    def resolve_documents(vendor: Vendor) -> list[VendorDocument]:
        return vendor._documents  # type: ignore[attr-defined]


class VendorUserOut(Schema):
    vendor_id: UUID
    user: UserRef
    linked_at: dt.datetime
    linked_by: UserRef | None


class VendorUnlinkOut(Schema):
    vendor_id: UUID
    user_id: UUID
    revoked_role_ids: list[UUID] = Field(description="The VENDOR project roles revoked with the link")


def _text(limit: int, **kwargs: Any) -> Any:
    return Field(max_length=limit, **kwargs)


class AddressIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    line1: str = _text(200, default="")
    line2: str = _text(200, default="")
    city: str = _text(100, default="")
    region: str = _text(100, default="", description="State, province or county")
    postal_code: str = _text(20, default="")
    country: str = Field(min_length=2, max_length=2, examples=["US"], description="ISO 3166-1 alpha-2")


class AddressPatch(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    line1: str | None = _text(200, default=None)
    line2: str | None = _text(200, default=None)
    city: str | None = _text(100, default=None)
    region: str | None = _text(100, default=None)
    postal_code: str | None = _text(20, default=None)
    country: str | None = Field(default=None, min_length=2, max_length=2)


_ADDRESS_FIELDS = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "city",
    "region": "region",
    "postal_code": "postal_code",
    "country": "country",
}


class VendorIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    organization_id: UUID
    name: str = Field(min_length=1, max_length=200, examples=["Riverbank Restoration"])
    legal_name: str = Field(min_length=1, max_length=200, examples=["Riverbank Restoration LLC"])
    kind: VendorKind
    email: str = Field(default="", max_length=254)
    address: AddressIn
    vat_id: str = Field(default="", max_length=64)
    tax_status: TaxStatus = TaxStatus.UNKNOWN
    bank_method: BankMethod
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form internal data (no floats)")

    def service_kwargs(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"organization_id", "address"})
        data.update({_ADDRESS_FIELDS[key]: value for key, value in self.address.model_dump().items()})
        return data


class VendorPatch(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    name: str | None = Field(default=None, min_length=1, max_length=200)
    legal_name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: VendorKind | None = None
    email: str | None = Field(default=None, max_length=254)
    address: AddressPatch | None = None
    vat_id: str | None = Field(default=None, max_length=64)
    tax_status: TaxStatus | None = None
    bank_method: BankMethod | None = None
    metadata: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True, exclude={"address"})
        if self.address is not None:
            address = self.address.model_dump(exclude_unset=True)
            data.update({_ADDRESS_FIELDS[key]: value for key, value in address.items()})
        return data


class KycIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    status: KycStatus
    note: str = Field(default="", max_length=2000, description="Required to fail a vendor's KYC")


class VerifyIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    decision: DocumentStatus = Field(
        default=DocumentStatus.VERIFIED, description="`verified` or `rejected` (a note is required to reject)"
    )
    valid_until: dt.date | None = Field(default=None, description="Corrects the uploader's date (a COI needs one)")
    note: str = Field(default="", max_length=2000)

    @field_validator("decision")
    @classmethod
    def decision_is_a_review(cls, value: DocumentStatus) -> DocumentStatus:
        if value == DocumentStatus.PENDING:
            raise ValueError("decision must be verified or rejected")
        return value


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _vendor(request: HttpRequest, vendor_id: UUID) -> Vendor:
    return selectors.vendor_get(viewer=request.user, vendor_id=vendor_id)


def _detail(request: HttpRequest, vendor_id: UUID, on: dt.date | None = None) -> Vendor:
    """The vendor as ``VendorDetailOut`` reads it: its users, documents and checklist, and what this viewer sees."""
    vendor = selectors.vendor_get(viewer=request.user, vendor_id=vendor_id)
    vendor._internal = vendor_permission_check(  # type: ignore[attr-defined]
        request.user, Perm.VENDOR_VIEW, organization=vendor.organization_id
    )
    vendor._users = list(selectors.vendor_users(viewer=request.user, vendor=vendor))  # type: ignore[attr-defined]
    vendor._documents = list(selectors.vendor_documents(viewer=request.user, vendor=vendor))  # type: ignore[attr-defined]
    vendor._compliance = vendor_compliance_status(vendor=vendor, on=on or timezone.localdate())  # type: ignore[attr-defined]
    return vendor


def _document(request: HttpRequest, vendor_id: UUID, document_id: UUID) -> VendorDocument:
    vendor = _vendor(request, vendor_id)
    return selectors.vendor_document_get(viewer=request.user, vendor=vendor, document_id=document_id)


# --------------------------------------------------------------------------
# Vendors
# --------------------------------------------------------------------------


@router.post(
    "/vendors",
    response={201: VendorDetailOut, **ERRORS},
    summary="Onboard a vendor into an organization's vendor master (needs vendor.manage there)",
)
def create_vendor(request: HttpRequest, payload: VendorIn) -> Status[Vendor]:
    organization = selectors.vendor_organization_get(viewer=request.user, organization_id=payload.organization_id)
    vendor = services.vendor_create(
        actor=request.user,  # type: ignore[arg-type]
        organization=organization,
        request=request,
        **payload.service_kwargs(),
    )
    return Status(201, _detail(request, vendor.pk))


@router.get(
    "/vendors",
    response={200: list[VendorOut], **ERRORS},
    summary="Vendors visible to you, newest first (filters: organization, KYC status, search)",
)
@paginate(Cursor)
def list_vendors(
    request: HttpRequest,
    organization_id: UUID | None = None,
    kyc_status: KycStatus | None = None,
    q: QueryEx[str | None, P(max_length=200, description="Name, legal name, email or VAT id contains")] = None,
) -> object:
    return selectors.vendor_list(viewer=request.user, organization=organization_id, kyc_status=kyc_status, q=q)


@router.get(
    "/vendors/{vendor_id}",
    response={200: VendorDetailOut, **ERRORS},
    summary="A vendor with its compliance checklist (on a date, default today), users and documents",
)
def get_vendor(request: HttpRequest, vendor_id: UUID, on: dt.date | None = None) -> Vendor:
    return _detail(request, vendor_id, on)


@router.patch(
    "/vendors/{vendor_id}",
    response={200: VendorDetailOut, **ERRORS},
    summary="Change a vendor's record (vendor.manage); identity or payment changes send a passed KYC back to pending",
)
def update_vendor(request: HttpRequest, vendor_id: UUID, payload: VendorPatch) -> Vendor:
    vendor = services.vendor_update(
        actor=request.user,  # type: ignore[arg-type]
        vendor=_vendor(request, vendor_id),
        changes=payload.changes(),
        request=request,
    )
    return _detail(request, vendor.pk)


@router.post(
    "/vendors/{vendor_id}/kyc",
    response={200: VendorDetailOut, **ERRORS},
    summary="Decide a vendor's KYC: passed, failed (with a note) or pending (vendor.compliance.review)",
)
def set_kyc(request: HttpRequest, vendor_id: UUID, payload: KycIn) -> Vendor:
    vendor = services.vendor_kyc_set(
        actor=request.user,  # type: ignore[arg-type]
        vendor=_vendor(request, vendor_id),
        status=payload.status,
        note=payload.note,
        request=request,
    )
    return _detail(request, vendor.pk)


# --------------------------------------------------------------------------
# Linked users
# --------------------------------------------------------------------------


@router.post(
    "/vendors/{vendor_id}/users",
    response={200: VendorUserOut, 201: VendorUserOut, **ERRORS},
    summary="Link a user account to a vendor (201; 200 if already linked). Project access needs a VENDOR role too",
)
def link_user(request: HttpRequest, vendor_id: UUID, payload: UserTargetIn) -> Status[dict[str, object]]:
    vendor = _vendor(request, vendor_id)
    vendor_permission_require(request.user, Perm.VENDOR_MANAGE, vendor=vendor)  # before looking anyone up
    link, created = services.vendor_user_link(
        actor=request.user,  # type: ignore[arg-type]
        vendor=vendor,
        user=payload.user(),
        request=request,
    )
    out = {"vendor_id": vendor.pk, "user": link.user, "linked_at": link.created_at, "linked_by": link.created_by}
    return Status(201 if created else 200, out)


@router.delete(
    "/vendors/{vendor_id}/users",
    response={200: VendorUnlinkOut, **ERRORS},
    summary="Unlink a user (query: user_id or email) from a vendor; their VENDOR roles for it are revoked",
)
def unlink_user(
    request: HttpRequest,
    vendor_id: UUID,
    user_id: UUID | None = None,
    email: QueryEx[str | None, P(max_length=254)] = None,
) -> VendorUnlinkOut:
    vendor = _vendor(request, vendor_id)
    vendor_permission_require(request.user, Perm.VENDOR_MANAGE, vendor=vendor)
    if (user_id is None) == (email is None):
        raise ValidationFailed("Give exactly one of the query parameters user_id and email")
    user = user_find(user_id if user_id is not None else str(email))
    revoked = services.vendor_user_unlink(
        actor=request.user,  # type: ignore[arg-type]
        vendor=vendor,
        user=user,
        request=request,
    )
    return VendorUnlinkOut(vendor_id=vendor.pk, user_id=user.pk, revoked_role_ids=revoked)


# --------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------


@router.get(
    "/vendors/{vendor_id}/documents",
    response={200: list[DocumentOut], **ERRORS},
    summary="A vendor's documents (metadata), newest first, history included",
)
@paginate(Cursor)
def list_documents(request: HttpRequest, vendor_id: UUID, kind: DocumentKind | None = None) -> object:
    vendor = _vendor(request, vendor_id)
    return selectors.vendor_documents(viewer=request.user, vendor=vendor, kind=kind)


@router.post(
    "/vendors/{vendor_id}/documents",
    response={201: DocumentOut, **UPLOAD_ERRORS},
    summary="Upload a W-9, W-8BEN, W-8BEN-E, COI or other document (multipart; PDF, PNG or JPEG by content)",
)
def upload_document(
    request: HttpRequest,
    vendor_id: UUID,
    kind: Form[DocumentKind],
    file: File[UploadedFile],
    valid_until: Form[dt.date | None] = None,
) -> Status[VendorDocument]:
    document = services.vendor_document_upload(
        actor=request.user,  # type: ignore[arg-type]
        vendor=_vendor(request, vendor_id),
        kind=kind,
        file=file,
        filename=file.name,
        valid_until=valid_until,
        request=request,
    )
    return Status(201, document)


@router.get(
    "/vendors/{vendor_id}/documents/{document_id}/download",
    response={200: None, **ERRORS},
    url_name="vendor_document_download",
    summary="Download a document's file (dataroom.read, or the vendor's own users); every download is audited",
    openapi_extra={"responses": {200: {"description": "The file", "content": {"application/octet-stream": {}}}}},
)
def download_document(request: HttpRequest, vendor_id: UUID, document_id: UUID) -> FileResponse:
    document = _document(request, vendor_id, document_id)
    handle = services.vendor_document_download(
        actor=request.user,  # type: ignore[arg-type]
        document=document,
        request=request,
    )
    response = FileResponse(
        handle, as_attachment=True, filename=document.original_filename, content_type=document.content_type
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    # RFC 9530: the SHA-256 of the file as stored and recorded in the audit log.
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(document.sha256)).decode()}:"
    return response


@router.post(
    "/vendors/{vendor_id}/documents/{document_id}/verify",
    response={200: DocumentOut, **ERRORS},
    summary="Review a pending document: verify it (it becomes current) or reject it (vendor.compliance.review)",
)
def verify_document(request: HttpRequest, vendor_id: UUID, document_id: UUID, payload: VerifyIn) -> VendorDocument:
    document = services.vendor_document_verify(
        actor=request.user,  # type: ignore[arg-type]
        document=_document(request, vendor_id, document_id),
        decision=payload.decision,
        valid_until=payload.valid_until,
        note=payload.note,
        request=request,
    )
    return selectors.vendor_document_get(viewer=request.user, vendor=document.vendor, document_id=document.pk)
