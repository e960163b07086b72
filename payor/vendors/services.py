"""Writing vendors: onboard, edit, link users, upload and review documents, decide KYC.

Each service is one transaction — check, lock, re-check, write, ``audit.record`` last — with keyword-only
arguments and the actor first. Who may act is :mod:`payor.vendors.access`'s rule (a vendor permission held on any
project of the vendor's organization, or platform-wide): a vendor the actor cannot see is ``vendor_not_found``
(404), a visible one without the permission ``permission_denied`` (403).

Segregation of duties (seed 004: "Treasurer cannot approve their own vendor"; design §7):

* A vendor's linked users upload its documents, and that is all they change: editing its record, linking or
  unlinking its users, deciding its KYC and reviewing its documents are refused to them even when they hold the
  permission through another role (``vendor_conflict_of_interest``). Nobody links themselves to a vendor either.
* Whoever last set the payee's identity or payment details (:data:`~payor.vendors.models.IDENTITY_FIELDS`: legal
  name, kind, tax status, bank method, VAT id, country — the creator, then each editor) cannot pass its KYC
  (``vendor_kyc_segregation``): entering a payee and approving it are two people's work. Changing any of those
  fields on a vendor whose KYC passed sends it back to ``pending``; the classic payee fraud is a bank change on a
  trusted vendor.
* Nobody reviews (verifies or rejects) a document they uploaded (``vendor_document_self_review``).
* ``vendor.compliance.review`` is a segregated permission: platform admins do not hold it without the
  FINANCE_REVIEWER role.

Lock order: vendor row (``FOR NO KEY UPDATE``), then its documents, then (unlinking) the user row the rbac services
lock. The compliance gate's ``lock=True`` reads the vendor ``FOR SHARE``, so it waits for these and they wait for it.

Documents are stored in Django's default storage as ``vendors/<vendor id>/<document id>.<ext>`` (the extension of
the type detected from the file's bytes); a file is never overwritten (the name is new, and storages pick another
name rather than overwrite). If the transaction fails after the file was stored, the service deletes the file
before re-raising; a rollback of an *enclosing* transaction after the service returned would leave an unreferenced
file behind (never a row without its file).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, Final

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from payor import audit
from payor.audit.canonical import json_safe
from payor.audit.errors import AuditEventInvalid
from payor.core.errors import PermissionDenied
from payor.core.files import DOCUMENT_TYPES, stored_file_verified, upload_store, upload_validate
from payor.core.ids import new_id
from payor.rbac.permissions import Perm
from payor.rbac.services import vendor_roles_revoke
from payor.vendors.access import vendor_permission_check, vendor_permission_require, vendor_user_linked
from payor.vendors.countries import country_valid
from payor.vendors.errors import (
    VendorConflictOfInterest,
    VendorDocumentAlreadyReviewed,
    VendorDocumentIntegrityFailed,
    VendorDocumentNoteRequired,
    VendorDocumentSelfReview,
    VendorDocumentStorageUnavailable,
    VendorDocumentSuperseded,
    VendorDocumentValidUntilInvalid,
    VendorDocumentValidUntilRequired,
    VendorFieldInvalid,
    VendorKycNoteRequired,
    VendorKycSegregation,
    VendorNameTaken,
    VendorNotFound,
    VendorTaxStatusKindMismatch,
    VendorUserNotLinked,
)
from payor.vendors.models import (
    IDENTITY_FIELDS,
    BankMethod,
    DocumentKind,
    DocumentStatus,
    KycStatus,
    TaxStatus,
    Vendor,
    VendorDocument,
    VendorKind,
    VendorUser,
)

if TYPE_CHECKING:
    from django.http import HttpRequest

    from payor.accounts.models import Organization, User


__all__ = [
    "UPDATABLE_FIELDS",
    "vendor_create",
    "vendor_document_download",
    "vendor_document_upload",
    "vendor_document_verify",
    "vendor_kyc_set",
    "vendor_update",
    "vendor_user_link",
    "vendor_user_unlink",
]

#: Text fields: (max length, required).
_TEXT_FIELDS: Final[dict[str, tuple[int, bool]]] = {
    "name": (200, True),
    "legal_name": (200, True),
    "address_line1": (200, False),
    "address_line2": (200, False),
    "city": (100, False),
    "region": (100, False),
    "postal_code": (20, False),
}
_CHOICE_FIELDS: Final[dict[str, list[str]]] = {
    "kind": VendorKind.values,
    "tax_status": TaxStatus.values,
    "bank_method": BankMethod.values,
}
#: What ``vendor_update`` may change. KYC (``vendor_kyc_set``) and the COI expiry (``vendor_document_verify``) are not
#: edited directly; the organization never changes.
UPDATABLE_FIELDS: Final = frozenset({*_TEXT_FIELDS, *_CHOICE_FIELDS, "email", "country", "vat_id", "metadata"})
#: Document kinds of which only one is current: verifying one supersedes the older ones.
_SINGLE_CURRENT: Final = frozenset({DocumentKind.W9, DocumentKind.W8BEN, DocumentKind.W8BENE, DocumentKind.COI})
NOTE_MAX: Final = 2000
METADATA_MAX_BYTES: Final = 16 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_VAT_STRIP = re.compile(r"[\s.\-/]")
_VAT_RE = re.compile(r"[A-Z0-9]{4,32}")


# --------------------------------------------------------------------------
# Field validation
# --------------------------------------------------------------------------


def _invalid(field: str, message: str) -> VendorFieldInvalid:
    return VendorFieldInvalid(f"{field}: {message}", field=field)


def _clean_text(field: str, value: object, *, limit: int, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _invalid(field, "must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if _CONTROL.search(text):
        raise _invalid(field, "must be one line without control characters")
    if required and not text:
        raise _invalid(field, "must not be blank")
    if len(text) > limit:
        raise _invalid(field, f"must be at most {limit} characters")
    return text


def _clean_value(field: str, value: object) -> object:
    if field in _TEXT_FIELDS:
        limit, required = _TEXT_FIELDS[field]
        return _clean_text(field, value, limit=limit, required=required)
    if field in _CHOICE_FIELDS:
        if value not in _CHOICE_FIELDS[field]:
            raise _invalid(field, f"must be one of {', '.join(_CHOICE_FIELDS[field])}")
        return str(value)
    if field == "email":
        email = _clean_text(field, value, limit=254, required=False)
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise _invalid(field, "is not an email address") from exc
        return email.lower()
    if field == "country":
        code = _clean_text(field, value, limit=2, required=True).upper()
        if not country_valid(code):
            raise _invalid(field, f"{code!r} is not an ISO 3166-1 alpha-2 country code")
        return code
    if field == "vat_id":
        text = _clean_text(field, value, limit=64, required=False)
        vat_id = _VAT_STRIP.sub("", text).upper()
        if vat_id and not _VAT_RE.fullmatch(vat_id):
            raise _invalid(field, "must be 4-32 letters and digits (spaces, dots and dashes are ignored)")
        return vat_id
    if field == "metadata":
        metadata = {} if value is None else value
        if not isinstance(metadata, Mapping):
            raise _invalid(field, "must be an object")
        try:
            safe = json_safe(dict(metadata), "metadata")
        except AuditEventInvalid as exc:
            raise _invalid(field, exc.detail) from exc
        if len(repr(safe).encode()) > METADATA_MAX_BYTES:
            raise _invalid(field, f"must be at most {METADATA_MAX_BYTES // 1024} KiB")
        return safe
    raise TypeError(f"{field} is not a vendor field that can be set")


def _check_tax_status_kind(kind: str, tax_status: str) -> None:
    if tax_status == TaxStatus.W8BEN and kind == VendorKind.COMPANY:
        raise VendorTaxStatusKindMismatch("W-8BEN is for individuals: a company files W-8BEN-E (tax_status w8bene)")
    if tax_status == TaxStatus.W8BENE and kind == VendorKind.INDIVIDUAL:
        raise VendorTaxStatusKindMismatch("W-8BEN-E is for entities: an individual files W-8BEN (tax_status w8ben)")


def _name_taken(organization_id: uuid.UUID, name: str, *, exclude: uuid.UUID | None = None) -> bool:
    vendors = Vendor.objects.filter(organization_id=organization_id, name__iexact=name)
    if exclude is not None:
        vendors = vendors.exclude(pk=exclude)
    return vendors.exists()


def _snapshot(vendor: Vendor) -> dict[str, Any]:
    return {
        "organization_id": vendor.organization_id,
        "name": vendor.name,
        "legal_name": vendor.legal_name,
        "kind": vendor.kind,
        "email": vendor.email,
        "address_line1": vendor.address_line1,
        "address_line2": vendor.address_line2,
        "city": vendor.city,
        "region": vendor.region,
        "postal_code": vendor.postal_code,
        "country": vendor.country,
        "vat_id": vendor.vat_id,
        "tax_status": vendor.tax_status,
        "bank_method": vendor.bank_method,
        "kyc_status": vendor.kyc_status,
        "coi_expiry": vendor.coi_expiry,
        "metadata": vendor.metadata,
    }


def _document_snapshot(document: VendorDocument) -> dict[str, Any]:
    return {
        "vendor_id": document.vendor_id,
        "kind": document.kind,
        "file": document.file.name,
        "original_filename": document.original_filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "valid_until": document.valid_until,
        "status": document.status,
    }


# --------------------------------------------------------------------------
# Locks and checks
# --------------------------------------------------------------------------


def _lock_vendor(vendor: Vendor) -> Vendor:
    """The vendor row, locked ``FOR NO KEY UPDATE`` and freshly read (rows referencing it can still be inserted)."""
    locked = Vendor.objects.select_for_update(no_key=True).select_related("organization").filter(pk=vendor.pk).first()
    if locked is None:  # pragma: no cover - vendors are never deleted (PROTECT everywhere)
        raise VendorNotFound()
    return locked


def _refuse_linked(actor: User, vendor: Vendor, what: str) -> None:
    if vendor_user_linked(actor, vendor):
        raise VendorConflictOfInterest(f"You act for {vendor.name}: {what} is for someone who does not")


# --------------------------------------------------------------------------
# Vendors
# --------------------------------------------------------------------------


@transaction.atomic
def vendor_create(
    *,
    actor: User,
    organization: Organization,
    name: str,
    legal_name: str,
    kind: VendorKind | str,
    country: str,
    bank_method: BankMethod | str,
    tax_status: TaxStatus | str = TaxStatus.UNKNOWN,
    email: str = "",
    address_line1: str = "",
    address_line2: str = "",
    city: str = "",
    region: str = "",
    postal_code: str = "",
    vat_id: str = "",
    metadata: Mapping[str, object] | None = None,
    request: HttpRequest | None = None,
) -> Vendor:
    """Onboard a vendor into ``organization``'s vendor master (``vendor.manage``); KYC starts ``pending``.

    Refusals: ``permission_denied``, ``vendor_field_invalid`` (with ``field``), ``vendor_tax_status_kind_mismatch``,
    ``vendor_name_taken`` (409: the name exists in the organization, in any case). Audited ``vendor.created``.
    """
    if not vendor_permission_check(actor, Perm.VENDOR_MANAGE, organization=organization):
        raise PermissionDenied(
            "Onboarding vendors needs the vendor.manage permission on a project of this organization",
            permission=Perm.VENDOR_MANAGE.value,
        )
    raw = {
        "name": name,
        "legal_name": legal_name,
        "kind": kind,
        "email": email,
        "address_line1": address_line1,
        "address_line2": address_line2,
        "city": city,
        "region": region,
        "postal_code": postal_code,
        "country": country,
        "vat_id": vat_id,
        "tax_status": tax_status,
        "bank_method": bank_method,
        "metadata": metadata,
    }
    values = {field: _clean_value(field, value) for field, value in raw.items()}
    _check_tax_status_kind(str(values["kind"]), str(values["tax_status"]))
    if _name_taken(organization.pk, str(values["name"])):
        raise VendorNameTaken(f"{organization.name} already has a vendor named {values['name']!r}")
    now = timezone.now()
    vendor = Vendor(
        organization=organization, created_by=actor, identity_changed_by=actor, identity_changed_at=now, **values
    )
    try:
        with transaction.atomic():
            vendor.save(force_insert=True)
    except IntegrityError as exc:  # a concurrent onboarding of the same name won the unique index
        if "vendors_vendor_name_ci_unique_per_org" in str(exc):
            raise VendorNameTaken(f"{organization.name} already has a vendor named {values['name']!r}") from exc
        raise
    audit.record(actor, "vendor.created", vendor, before=None, after=_snapshot(vendor), request=request)
    return vendor


@transaction.atomic
def vendor_update(
    *,
    actor: User,
    vendor: Vendor,
    changes: Mapping[str, object],
    request: HttpRequest | None = None,
) -> Vendor:
    """Change some of :data:`UPDATABLE_FIELDS` (``vendor.manage``, not by the vendor's own users).

    Only the fields that actually change are written and audited (``vendor.updated`` with their before/after);
    no change at all is a no-op. Changing an identity field (:data:`~payor.vendors.models.IDENTITY_FIELDS`) records
    the actor as ``identity_changed_by`` and, if KYC had passed, sets it back to ``pending``.
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"not updatable: {', '.join(sorted(unknown))}")
    vendor_permission_require(actor, Perm.VENDOR_MANAGE, vendor=vendor)
    _refuse_linked(actor, vendor, "editing the vendor")
    cleaned = {field: _clean_value(field, value) for field, value in changes.items()}
    vendor = _lock_vendor(vendor)
    changed = {field: value for field, value in cleaned.items() if getattr(vendor, field) != value}
    if not changed:
        return vendor
    _check_tax_status_kind(str(changed.get("kind", vendor.kind)), str(changed.get("tax_status", vendor.tax_status)))
    if "name" in changed and _name_taken(vendor.organization_id, str(changed["name"]), exclude=vendor.pk):
        raise VendorNameTaken(f"{vendor.organization.name} already has a vendor named {changed['name']!r}")
    before = {field: getattr(vendor, field) for field in changed}
    after: dict[str, object] = dict(changed)
    update_fields = [*changed, "updated_at"]
    for field, value in changed.items():
        setattr(vendor, field, value)
    if any(field in IDENTITY_FIELDS for field in changed):
        vendor.identity_changed_by = actor
        vendor.identity_changed_at = timezone.now()
        update_fields += ["identity_changed_by", "identity_changed_at"]
        if vendor.kyc_status == KycStatus.PASSED:
            before["kyc_status"] = vendor.kyc_status
            vendor.kyc_status = KycStatus.PENDING
            after["kyc_status"] = vendor.kyc_status
            update_fields.append("kyc_status")
    try:
        with transaction.atomic():
            vendor.save(update_fields=update_fields)
    except IntegrityError as exc:
        if "vendors_vendor_name_ci_unique_per_org" in str(exc):
            raise VendorNameTaken(f"{vendor.organization.name} already has a vendor named {vendor.name!r}") from exc
        raise
    audit.record(actor, "vendor.updated", vendor, before=before, after=after, request=request)
    return vendor


@transaction.atomic
def vendor_kyc_set(
    *,
    actor: User,
    vendor: Vendor,
    status: KycStatus | str,
    note: str = "",
    request: HttpRequest | None = None,
) -> Vendor:
    """The compliance review's decision: KYC ``passed``, ``failed`` (a note is required) or back to ``pending``.

    ``vendor.compliance.review`` (FINANCE_REVIEWER); refused to the vendor's own users
    (``vendor_conflict_of_interest``) and, for ``passed``, to whoever last set its identity or payment details
    (``vendor_kyc_segregation``). The status it already has: no-op. Audited ``vendor.kyc_changed``.
    """
    vendor_permission_require(actor, Perm.VENDOR_COMPLIANCE_REVIEW, vendor=vendor)
    _refuse_linked(actor, vendor, "deciding its KYC")
    if status not in KycStatus.values:
        raise _invalid("status", f"must be one of {', '.join(KycStatus.values)}")
    status = KycStatus(status)
    note = _clean_note(note)
    if status == KycStatus.FAILED and not note:
        raise VendorKycNoteRequired("Say why the KYC failed (note)")
    vendor = _lock_vendor(vendor)
    if vendor.kyc_status == status:
        return vendor
    if status == KycStatus.PASSED and vendor.identity_changed_by_id == actor.pk:
        raise VendorKycSegregation(
            "You last set this vendor's identity or payment details: another compliance reviewer must pass its KYC"
        )
    before = {"kyc_status": vendor.kyc_status}
    vendor.kyc_status = status
    vendor.kyc_reviewed_by = actor
    vendor.kyc_reviewed_at = timezone.now()
    vendor.kyc_note = note
    vendor.save(update_fields=["kyc_status", "kyc_reviewed_by", "kyc_reviewed_at", "kyc_note", "updated_at"])
    audit.record(
        actor, "vendor.kyc_changed", vendor, before=before, after={"kyc_status": status, "note": note}, request=request
    )
    return vendor


def _clean_note(note: object) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise _invalid("note", "must be text")
    text = note.strip()
    if "\x00" in text:
        raise _invalid("note", "must not contain NUL characters")
    if len(text) > NOTE_MAX:
        raise _invalid("note", f"must be at most {NOTE_MAX} characters")
    return text


# --------------------------------------------------------------------------
# Linked users
# --------------------------------------------------------------------------


@transaction.atomic
def vendor_user_link(
    *,
    actor: User,
    vendor: Vendor,
    user: User,
    request: HttpRequest | None = None,
) -> tuple[VendorUser, bool]:
    """Let ``user`` act for ``vendor`` (``vendor.manage``); returns ``(link, created)``, an existing link unchanged.

    Nobody links themselves, and the vendor's own users do not manage its links (``vendor_conflict_of_interest``).
    Audited ``vendor.user_linked``. Project access still needs a VENDOR role (``rbac.services.role_assign``).
    """
    vendor_permission_require(actor, Perm.VENDOR_MANAGE, vendor=vendor)
    if actor.pk == user.pk:
        raise VendorConflictOfInterest("You cannot link yourself to a vendor: ask another vendor manager")
    _refuse_linked(actor, vendor, "managing its users")
    vendor = _lock_vendor(vendor)
    existing = VendorUser.objects.filter(vendor=vendor, user=user).first()
    if existing is not None:
        return existing, False
    link = VendorUser.objects.create(vendor=vendor, user=user, created_by=actor)
    audit.record(
        actor,
        "vendor.user_linked",
        vendor,
        before=None,
        after={"user_id": user.pk, "email": user.email, "link_id": link.pk},
        request=request,
    )
    return link, True


@transaction.atomic
def vendor_user_unlink(
    *,
    actor: User,
    vendor: Vendor,
    user: User,
    request: HttpRequest | None = None,
) -> list[uuid.UUID]:
    """Stop ``user`` acting for ``vendor`` (``vendor.manage``); their VENDOR project roles for it are revoked too.

    Returns the ids of the revoked role assignments. ``vendor_user_not_linked`` (409) when there is no link.
    Audited: a ``role.revoked`` per role, then ``vendor.user_unlinked``.
    """
    vendor_permission_require(actor, Perm.VENDOR_MANAGE, vendor=vendor)
    _refuse_linked(actor, vendor, "managing its users")
    vendor = _lock_vendor(vendor)
    link = VendorUser.objects.select_for_update().filter(vendor=vendor, user=user).first()
    if link is None:
        raise VendorUserNotLinked(f"{user.email} is not linked to {vendor.name}")
    before = {"user_id": user.pk, "email": user.email, "link_id": link.pk}
    link.delete()
    revoked = [
        assignment.pk for assignment in vendor_roles_revoke(actor=actor, vendor=vendor, user=user, request=request)
    ]
    audit.record(
        actor, "vendor.user_unlinked", vendor, before=before, after={"revoked_role_ids": revoked}, request=request
    )
    return revoked


# --------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------


def _check_valid_until(kind: str, valid_until: dt.date | None, *, required_for_coi: bool = True) -> None:
    if valid_until is not None and (not isinstance(valid_until, dt.date) or isinstance(valid_until, dt.datetime)):
        raise _invalid("valid_until", "must be a date")
    if kind == DocumentKind.COI and valid_until is None and required_for_coi:
        raise VendorDocumentValidUntilRequired("A certificate of insurance needs the last day of its cover")
    if valid_until is not None and valid_until < timezone.localdate():
        raise VendorDocumentValidUntilInvalid(
            f"The document expired on {valid_until.isoformat()}: upload a current one", valid_until=str(valid_until)
        )


@transaction.atomic
def vendor_document_upload(
    *,
    actor: User,
    vendor: Vendor,
    kind: DocumentKind | str,
    file: IO[bytes] | Any,
    filename: str | None = None,
    valid_until: dt.date | None = None,
    request: HttpRequest | None = None,
) -> VendorDocument:
    """Store a new compliance document for ``vendor``: by its vendor managers or its own linked users.

    The file is checked by :func:`payor.core.files.upload_validate` (PDF, PNG or JPEG by content; size limit;
    ``file_empty``, ``file_too_large``, ``file_type_not_allowed``). A COI needs ``valid_until``
    (``vendor_document_valid_until_required``); an already expired date is refused
    (``vendor_document_valid_until_invalid``). The document starts ``pending`` review and supersedes nothing until
    it is verified. Audited ``vendor.document_uploaded``.
    """
    if not vendor_user_linked(actor, vendor):
        vendor_permission_require(actor, Perm.VENDOR_MANAGE, vendor=vendor)
    if kind not in DocumentKind.values:
        raise _invalid("kind", f"must be one of {', '.join(DocumentKind.values)}")
    kind = DocumentKind(kind)
    _check_valid_until(kind, valid_until)
    checked = upload_validate(file, filename=filename, allowed=DOCUMENT_TYPES)
    vendor = _lock_vendor(vendor)
    document = VendorDocument(
        id=new_id(),
        vendor=vendor,
        kind=kind,
        original_filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by=actor,
        valid_until=valid_until,
    )
    upload_store(
        document.file,
        checked,
        name_stem=str(document.pk),
        unavailable=VendorDocumentStorageUnavailable,
        what="vendor document",
    )
    try:
        with transaction.atomic():
            document.save(force_insert=True)
            audit.record(
                actor,
                "vendor.document_uploaded",
                document,
                before=None,
                after=_document_snapshot(document),
                request=request,
            )
    except BaseException:
        document.file.storage.delete(str(document.file.name))
        raise
    return document


@transaction.atomic
def vendor_document_verify(
    *,
    actor: User,
    document: VendorDocument,
    decision: DocumentStatus | str = DocumentStatus.VERIFIED,
    valid_until: dt.date | None = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> VendorDocument:
    """Review a pending document: ``verified`` (it becomes current) or ``rejected`` (a note is required).

    ``vendor.compliance.review``; refused to the vendor's own users (``vendor_conflict_of_interest``) and to the
    uploader (``vendor_document_self_review``). ``valid_until`` corrects the uploader's date (a COI needs one).
    Verifying supersedes the older documents of the same kind (W-9, W-8BEN, W-8BEN-E, COI; not ``other``) and, for
    a COI, sets the vendor's ``coi_expiry``. The same decision again: no-op; another decision on a reviewed document:
    ``vendor_document_already_reviewed``; a document older than a verified one of its kind:
    ``vendor_document_superseded``. Audited ``vendor.document_verified`` / ``vendor.document_rejected``.
    """
    vendor = document.vendor
    vendor_permission_require(actor, Perm.VENDOR_COMPLIANCE_REVIEW, vendor=vendor)
    _refuse_linked(actor, vendor, "reviewing its documents")
    if document.uploaded_by_id == actor.pk:
        raise VendorDocumentSelfReview("You uploaded this document: another compliance reviewer must review it")
    if decision not in (DocumentStatus.VERIFIED, DocumentStatus.REJECTED):
        raise _invalid("decision", "must be verified or rejected")
    decision = DocumentStatus(decision)
    note = _clean_note(note)
    if decision == DocumentStatus.REJECTED and not note:
        raise VendorDocumentNoteRequired("Say why the document is rejected (note)")
    vendor = _lock_vendor(vendor)
    document = VendorDocument.objects.select_for_update().get(pk=document.pk)
    document.vendor = vendor
    if document.status == decision and (valid_until is None or valid_until == document.valid_until):
        return document
    if document.status != DocumentStatus.PENDING:
        raise VendorDocumentAlreadyReviewed(
            f"The document was already {document.status}", document_status=str(document.status)
        )
    if document.superseded_by_id is not None:
        raise VendorDocumentSuperseded("A newer document of this kind was verified since this one was uploaded")
    before = {"status": document.status, "valid_until": document.valid_until}
    now = timezone.now()
    after: dict[str, object]
    if decision == DocumentStatus.REJECTED:
        document.status = DocumentStatus.REJECTED
        document.rejected_by = actor
        document.rejected_at = now
        document.review_note = note
        document.save(update_fields=["status", "rejected_by", "rejected_at", "review_note", "updated_at"])
        after = {"status": document.status, "note": note}
        audit.record(actor, "vendor.document_rejected", document, before=before, after=after, request=request)
        return document

    effective = valid_until if valid_until is not None else document.valid_until
    _check_valid_until(document.kind, effective)
    superseded: list[object] = []
    if document.kind in _SINGLE_CURRENT:
        newer = VendorDocument.objects.filter(
            vendor=vendor, kind=document.kind, status=DocumentStatus.VERIFIED, id__gt=document.pk
        )
        if newer.exists():
            raise VendorDocumentSuperseded("A newer document of this kind is already verified")
        older = list(
            VendorDocument.objects.select_for_update()
            .filter(vendor=vendor, kind=document.kind, superseded_by__isnull=True, id__lt=document.pk)
            .exclude(status=DocumentStatus.REJECTED)
            .order_by("id")
        )
        for old in older:
            old.superseded_by = document
            old.superseded_at = now
            old.save(update_fields=["superseded_by", "superseded_at", "updated_at"])
        superseded = [old.pk for old in older]
    document.status = DocumentStatus.VERIFIED
    document.verified_by = actor
    document.verified_at = now
    document.review_note = note
    document.valid_until = effective
    document.save(update_fields=["status", "verified_by", "verified_at", "review_note", "valid_until", "updated_at"])
    after = {"status": document.status, "valid_until": effective, "note": note, "superseded_ids": superseded}
    if document.kind == DocumentKind.COI and vendor.coi_expiry != effective:
        before["vendor_coi_expiry"] = vendor.coi_expiry
        after["vendor_coi_expiry"] = effective
        vendor.coi_expiry = effective
        vendor.save(update_fields=["coi_expiry", "updated_at"])
    audit.record(actor, "vendor.document_verified", document, before=before, after=after, request=request)
    return document


@transaction.atomic
def vendor_document_download(
    *,
    actor: User,
    document: VendorDocument,
    request: HttpRequest | None = None,
) -> IO[bytes]:
    """Open a document's stored file for reading: an authorized, audited read (``vendor.document_downloaded``).

    Allowed to holders of ``dataroom.read`` for the vendor's organization (finance, procurement, auditors: a W-9
    carries a taxpayer id) and to the vendor's linked users. The file is checked against its recorded SHA-256 first:
    missing or altered is ``vendor_document_integrity_failed`` (409, logged as an error). The caller closes the
    returned file (a ``FileResponse`` does).
    """
    vendor = document.vendor
    if not vendor_user_linked(actor, vendor):
        vendor_permission_require(actor, Perm.DATAROOM_READ, vendor=vendor)
    handle = stored_file_verified(
        document.file,
        sha256=document.sha256,
        failed=VendorDocumentIntegrityFailed,
        what=f"vendor document {document.pk}",
        mismatch_detail="The stored file does not match its recorded SHA-256",
    )
    try:
        audit.record(
            actor,
            "vendor.document_downloaded",
            document,
            before=None,
            after={"vendor_id": vendor.pk, "sha256": document.sha256},
            request=request,
        )
    except BaseException:
        handle.close()
        raise
    return handle
