"""Invoice refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"
    title = "No such invoice"


class InvoiceAttachmentNotFound(NotFound):
    code = "invoice_attachment_not_found"
    title = "No such attachment"


class InvoiceInvalid(DomainError):
    code = "invoice_invalid"
    status = 422
    title = "The invoice is not valid"


class InvoiceCurrencyMismatch(DomainError):
    code = "invoice_currency_mismatch"
    status = 422
    title = "Every amount of an invoice is in its contract's currency"


class InvoicePeriodInvalid(DomainError):
    code = "invoice_period_invalid"
    status = 422
    title = "The billing period must start on or before its end, and not end in the future"


class InvoiceCodingMismatch(DomainError):
    code = "invoice_coding_mismatch"
    status = 422
    title = "The coding to budget lines must add up to the subtotal"


class InvoiceCodingLineUnknown(DomainError):
    code = "invoice_coding_line_unknown"
    status = 422
    title = "A coded budget line is not a leaf line of the project"


class InvoiceCodingLineNotOnContract(DomainError):
    code = "invoice_coding_line_not_on_contract"
    status = 422
    title = "A coded budget line has no allocation on the contract"


class InvoiceSovInvalid(DomainError):
    code = "invoice_sov_invalid"
    status = 422
    title = "A schedule-of-values line is not valid"


class InvoiceSovOverScheduled(DomainError):
    code = "invoice_sov_over_scheduled"
    status = 422
    title = "A schedule-of-values line bills more than its scheduled value"


class InvoiceSovScheduledValueChanged(Conflict):
    code = "invoice_sov_scheduled_value_changed"
    title = "An SOV item's scheduled value differs from the contract's earlier invoices"


class InvoiceSovExceedsNte(Conflict):
    code = "invoice_sov_exceeds_nte"
    title = "The schedule of values adds up to more than the contract's not-to-exceed"


class InvoiceNteExceeded(Conflict):
    code = "invoice_nte_exceeded"
    title = "Billed to date would exceed the contract's not-to-exceed: a change order is needed"


class InvoiceChangeOrderPending(Conflict):
    code = "invoice_change_order_pending"
    title = "The invoice bills against a change order that is not approved yet"


class InvoiceCommitmentExceeded(Conflict):
    code = "invoice_commitment_exceeded"
    title = "A coded line exceeds the contract's remaining commitment on that budget line: a change order is needed"


class InvoiceRetentionMismatch(DomainError):
    code = "invoice_retention_mismatch"
    status = 422
    title = "The stated retention does not match the contract's retention on the subtotal"


class InvoiceTotalMismatch(DomainError):
    code = "invoice_total_mismatch"
    status = 422
    title = "The stated total does not match subtotal plus taxes"


class InvoiceWithholdsInvalid(DomainError):
    code = "invoice_withholds_invalid"
    status = 422
    title = "Withholding cannot exceed the total less retention"


class InvoiceStateInvalid(Conflict):
    code = "invoice_state_invalid"
    title = "The invoice's status does not allow this"


class InvoiceContractNotExecuted(Conflict):
    code = "invoice_contract_not_executed"
    title = "Invoices are billed against executed contracts only"


class InvoiceReferenceTaken(Conflict):
    code = "invoice_reference_taken"
    title = "This vendor invoice number was already billed on the contract (duplicate invoice)"


class InvoiceStatusInvalid(DomainError):
    code = "invoice_status_invalid"
    status = 422
    title = "An invoice's status can be set to under_review, approved, rejected or draft only"


class InvoiceAttachmentIntegrityFailed(Conflict):
    code = "invoice_attachment_integrity_failed"
    title = "The stored attachment is missing or does not match its recorded SHA-256"
