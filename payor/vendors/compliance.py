"""The vendor compliance gate: may this vendor be paid on a given date?

Seed 004 and design §6: invoice submission needs KYC passed, a W-9/W-8 on
file and a valid certificate of insurance. Two entry points, the same rules:

* :func:`vendor_compliance_check` raises the first failing check as a
  ``DomainError`` (409) — the gate for invoice submission and payment runs;
  the error's ``failed`` member lists every failing code, so a client fixes
  them all at once;
* :func:`vendor_compliance_status` returns the whole checklist (each item ok or
  failed with its code and message) for the vendor screen.

The checks, in this order:

1. ``kyc``: ``kyc_status`` is ``passed`` — else ``vendor_kyc_not_passed``.
2. ``tax_form``: the *current* document of the kind the tax status needs
   (``w9`` → W-9, ``w8ben`` → W-8BEN, ``w8bene`` → W-8BEN-E) — else
   ``vendor_tax_form_missing`` (also when the tax status is ``unknown``);
   when it carries a ``valid_until`` (W-8 forms lapse after three calendar
   years) that is before ``on`` — ``vendor_tax_form_expired``.
3. ``coi``: the current certificate of insurance — else ``vendor_coi_missing``;
   its ``valid_until`` before ``on`` — ``vendor_coi_expired``. The cover is
   valid through its last day: a COI expiring on ``on`` passes, one that
   expired the day before does not.

"Current" means *verified by a compliance reviewer* and not superseded by a
newer verified document of the same kind. An upload that has not been
reviewed does not count: an unreviewed file is only a claim (it may be blank,
unsigned or for another payee), and seed 004 gives the finance reviewer the
"compliance checks (W-9/W-8, COI...)". A renewed COI uploaded before the old
one expires therefore keeps the vendor compliant on the old one until it is
verified.

Sanctions screening and bank-detail verification come with the onboarding issue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from django.db import connection, transaction

from payor.vendors.errors import (
    VendorCoiExpired,
    VendorCoiMissing,
    VendorComplianceFailed,
    VendorKycNotPassed,
    VendorTaxFormExpired,
    VendorTaxFormMissing,
)
from payor.vendors.models import TAX_FORM_FOR, DocumentKind, DocumentStatus, KycStatus, Vendor, VendorDocument

__all__ = [
    "ComplianceItem",
    "ComplianceStatus",
    "current_documents",
    "vendor_compliance_check",
    "vendor_compliance_status",
]

_ERRORS: Final[dict[str, type[VendorComplianceFailed]]] = {
    error.code: error
    for error in (VendorKycNotPassed, VendorTaxFormMissing, VendorTaxFormExpired, VendorCoiMissing, VendorCoiExpired)
}


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """One line of the checklist: ``key`` is ``kyc``, ``tax_form`` or ``coi``; ``code`` is None when ``ok``."""

    key: str
    label: str
    ok: bool
    code: str | None
    message: str
    document_id: object | None = None  # the document that satisfies (or expired for) the item
    valid_until: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ComplianceStatus:
    vendor_id: object
    on: dt.date
    items: tuple[ComplianceItem, ...]

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failed(self) -> list[str]:
        return [item.code for item in self.items if item.code is not None]


def current_documents(vendor: Vendor) -> dict[str, VendorDocument]:
    """The current (verified, not superseded) document of each kind; for ``other``, the newest. One query."""
    current: dict[str, VendorDocument] = {}
    rows = VendorDocument.objects.filter(
        vendor_id=vendor.pk, status=DocumentStatus.VERIFIED, superseded_by__isnull=True
    ).order_by("-id")
    for document in rows:
        current.setdefault(document.kind, document)
    return current


def _kyc(vendor: Vendor) -> ComplianceItem:
    label = "KYC passed"
    if vendor.kyc_status == KycStatus.PASSED:
        return ComplianceItem("kyc", label, True, None, "KYC passed")
    message = (
        "KYC failed: the vendor cannot be paid" if vendor.kyc_status == KycStatus.FAILED else "KYC review is pending"
    )
    return ComplianceItem("kyc", label, False, VendorKycNotPassed.code, message)


def _tax_form(vendor: Vendor, documents: dict[str, VendorDocument], on: dt.date) -> ComplianceItem:
    label = "Tax form (W-9 / W-8) on file"
    needed = TAX_FORM_FOR.get(vendor.tax_status)
    if needed is None:
        return ComplianceItem(
            "tax_form", label, False, VendorTaxFormMissing.code, "No tax status declared: W-9 or W-8 form needed"
        )
    form = DocumentKind(needed).label
    document = documents.get(needed)
    if document is None:
        return ComplianceItem("tax_form", label, False, VendorTaxFormMissing.code, f"No verified {form} on file")
    if document.valid_until is not None and document.valid_until < on:
        return ComplianceItem(
            "tax_form",
            label,
            False,
            VendorTaxFormExpired.code,
            f"The {form} on file expired on {document.valid_until.isoformat()}",
            document.pk,
            document.valid_until,
        )
    return ComplianceItem("tax_form", label, True, None, f"{form} on file", document.pk, document.valid_until)


def _coi(documents: dict[str, VendorDocument], on: dt.date) -> ComplianceItem:
    label = "Certificate of insurance valid"
    document = documents.get(DocumentKind.COI)
    if document is None or document.valid_until is None:
        return ComplianceItem("coi", label, False, VendorCoiMissing.code, "No verified certificate of insurance")
    if document.valid_until < on:
        return ComplianceItem(
            "coi",
            label,
            False,
            VendorCoiExpired.code,
            f"The certificate of insurance expired on {document.valid_until.isoformat()}",
            document.pk,
            document.valid_until,
        )
    return ComplianceItem(
        "coi",
        label,
        True,
        None,
        f"Insured through {document.valid_until.isoformat()}",
        document.pk,
        document.valid_until,
    )


def vendor_compliance_status(*, vendor: Vendor, on: dt.date) -> ComplianceStatus:
    """The checklist of ``vendor`` on date ``on`` (never raises for a failing check). One query for the documents."""
    if not isinstance(on, dt.date) or isinstance(on, dt.datetime):
        raise TypeError(f"on must be a date, not {type(on).__name__}")
    documents = current_documents(vendor)
    return ComplianceStatus(
        vendor_id=vendor.pk, on=on, items=(_kyc(vendor), _tax_form(vendor, documents, on), _coi(documents, on))
    )


def vendor_compliance_check(*, vendor: Vendor, on: dt.date, lock: bool = False) -> ComplianceStatus:
    """Raise the first failing check (``vendor_kyc_not_passed``, ``vendor_tax_form_missing``,
    ``vendor_tax_form_expired``, ``vendor_coi_missing``, ``vendor_coi_expired``; all 409, with ``failed`` listing
    every failing code and ``vendor_id``); return the (passing) checklist otherwise.

    With ``lock=True`` (inside the caller's transaction) the vendor row is read ``FOR SHARE`` first and the vendor
    reloaded: KYC changes, document reviews and vendor edits (which lock the row for update) wait until the caller
    commits, so an invoice cannot be submitted against a compliance state that is being revoked at that instant.
    ``vendor`` is refreshed in place.
    """
    if lock:
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("vendor_compliance_check(lock=True) must run inside a transaction")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {Vendor._meta.db_table} WHERE id = %s FOR SHARE", [vendor.pk])  # noqa: S608
        vendor.refresh_from_db()
    status = vendor_compliance_status(vendor=vendor, on=on)
    failed = [item for item in status.items if not item.ok]
    if failed:
        first = failed[0]
        raise _ERRORS[str(first.code)](first.message, failed=status.failed, vendor_id=str(vendor.pk))
    return status
