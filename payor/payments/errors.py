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


class DisbursementAttemptInFlight(Conflict):
    """A rail attempt whose outcome is not known yet (the provider may have paid): cancelling or failing the
    disbursement by hand would void money that may have left."""

    code = "disbursement_attempt_in_flight"
    title = "A payment attempt on the rail is in flight: wait for its outcome"


class WebhookSignatureInvalid(DomainError):
    """A webhook whose ``Stripe-Signature`` does not verify (or is missing, or whose body is not an event):
    400, nothing stored. ``code`` is the precise reason."""

    code = "webhook_signature_invalid"
    status = 400
    title = "The webhook's signature does not verify"


class StripeAccountUnavailable(DomainError):
    """Stripe refused or could not be reached while creating a connected account or an onboarding link."""

    code = "stripe_unavailable"
    status = 502
    title = "Stripe could not complete the request"


class StripeAccountNotFound(NotFound):
    code = "stripe_account_not_found"
    title = "The vendor has no Stripe connected account yet"
