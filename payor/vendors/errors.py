"""Vendor refusals, each with a stable code (docs/errors.md).

The compliance gate's codes (``vendor_kyc_not_passed``, ``vendor_tax_form_missing``, ``vendor_tax_form_expired``,
``vendor_coi_missing``, ``vendor_coi_expired``) are 409, like the ledger's ``insufficient_funds``: the request is
well formed, the vendor's current state refuses it, and fixing that state (not the request) makes it pass.
"""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound, PermissionDenied

# -- not found ----------------------------------------------------------------------------


class VendorNotFound(NotFound):
    code = "vendor_not_found"
    title = "No such vendor"


class VendorDocumentNotFound(NotFound):
    code = "vendor_document_not_found"
    title = "No such vendor document"


# -- refused by segregation of duties -------------------------------------------------------


class VendorConflictOfInterest(PermissionDenied):
    code = "vendor_conflict_of_interest"
    title = "You act for this vendor: its record, users, KYC and document reviews are for someone else"


class VendorKycSegregation(PermissionDenied):
    code = "vendor_kyc_segregation"
    title = "Whoever last set a vendor's identity or payment details cannot pass its KYC"


class VendorDocumentSelfReview(PermissionDenied):
    code = "vendor_document_self_review"
    title = "Nobody reviews a document they uploaded"


# -- invalid requests ---------------------------------------------------------------------


class VendorFieldInvalid(DomainError):
    code = "vendor_field_invalid"
    status = 422
    title = "A vendor field is not valid"


class VendorTaxStatusKindMismatch(DomainError):
    code = "vendor_tax_status_kind_mismatch"
    status = 422
    title = "W-8BEN is for individuals and W-8BEN-E for entities"


class VendorKycNoteRequired(DomainError):
    code = "vendor_kyc_note_required"
    status = 422
    title = "Failing a vendor's KYC needs a note saying why"


class VendorDocumentValidUntilRequired(DomainError):
    code = "vendor_document_valid_until_required"
    status = 422
    title = "A certificate of insurance needs the date its cover ends (valid_until)"


class VendorDocumentValidUntilInvalid(DomainError):
    code = "vendor_document_valid_until_invalid"
    status = 422
    title = "The document is already expired"


class VendorDocumentNoteRequired(DomainError):
    code = "vendor_document_note_required"
    status = 422
    title = "Rejecting a document needs a note saying why"


# -- state conflicts ----------------------------------------------------------------------


class VendorNameTaken(Conflict):
    code = "vendor_name_taken"
    title = "The organization already has a vendor with this name"


class VendorUserNotLinked(Conflict):
    code = "vendor_user_not_linked"
    title = "The user is not linked to the vendor"


class VendorDocumentAlreadyReviewed(Conflict):
    code = "vendor_document_already_reviewed"
    title = "The document was already reviewed with another decision"


class VendorDocumentSuperseded(Conflict):
    code = "vendor_document_superseded"
    title = "A newer document of this kind has been verified"


class VendorDocumentIntegrityFailed(Conflict):
    code = "vendor_document_integrity_failed"
    title = "The stored file is missing or no longer matches its recorded SHA-256"


class VendorDocumentStorageUnavailable(DomainError):
    code = "vendor_document_storage_unavailable"
    status = 503
    title = "The document store cannot be written to right now; retry later"


# -- the compliance gate ------------------------------------------------------------------


class VendorComplianceFailed(Conflict):
    """Base of the gate's refusals: ``failed`` lists every failing check's code, not only this one."""

    code = "vendor_compliance_failed"
    title = "The vendor does not meet the compliance requirements"


class VendorKycNotPassed(VendorComplianceFailed):
    code = "vendor_kyc_not_passed"
    title = "The vendor's KYC has not passed"


class VendorTaxFormMissing(VendorComplianceFailed):
    code = "vendor_tax_form_missing"
    title = "No verified tax form (W-9 / W-8) matching the vendor's tax status is on file"


class VendorTaxFormExpired(VendorComplianceFailed):
    code = "vendor_tax_form_expired"
    title = "The vendor's tax form on file has expired"


class VendorCoiMissing(VendorComplianceFailed):
    code = "vendor_coi_missing"
    title = "No verified certificate of insurance is on file"


class VendorCoiExpired(VendorComplianceFailed):
    code = "vendor_coi_expired"
    title = "The vendor's certificate of insurance has expired"
