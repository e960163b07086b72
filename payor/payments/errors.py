"""Payment refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound, PermissionDenied


class DisbursementNotFound(NotFound):
    code = "disbursement_not_found"
    title = "No such disbursement"


class DisbursementInvalid(DomainError):
    code = "disbursement_invalid"
    status = 422
    title = "The disbursement request is not valid"


class DisbursementDateInvalid(DomainError):
    code = "disbursement_date_invalid"
    status = 422
    title = "A payment is scheduled for today or later and executed no later than today"


class DisbursementMethodInvalid(DomainError):
    code = "disbursement_method_invalid"
    status = 422
    title = "The method must be the vendor's bank method or manual"


class DisbursementInvoiceNotApproved(Conflict):
    code = "disbursement_invoice_not_approved"
    title = "Only an approved invoice can be scheduled for payment"


class DisbursementAlreadyScheduled(Conflict):
    code = "disbursement_already_scheduled"
    title = "The invoice already has a payment scheduled or executed"


class DisbursementStateInvalid(Conflict):
    code = "disbursement_state_invalid"
    title = "The disbursement's status does not allow this"


class DisbursementReferenceConflict(Conflict):
    code = "disbursement_reference_conflict"
    title = "The disbursement was already executed with another rail reference"


class DisbursementVendorConflict(PermissionDenied):
    code = "disbursement_vendor_conflict"
    title = "You act for this invoice's vendor: you cannot pay it"


class InvoiceRetentionHeld(Conflict):
    code = "invoice_retention_held"
    title = "The invoice's retention is still held: it closes once the retention is released"
