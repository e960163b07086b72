"""Contract and change-order refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound


class ContractNotFound(NotFound):
    code = "contract_not_found"
    title = "No such contract"


class ChangeOrderNotFound(NotFound):
    code = "change_order_not_found"
    title = "No such change order"


class ContractInvalid(DomainError):
    code = "contract_invalid"
    status = 422
    title = "The contract is not valid"


class ContractAllocationMismatch(DomainError):
    code = "contract_allocation_mismatch"
    status = 422
    title = "The budget allocations must add up to the not-to-exceed amount"


class ContractCurrencyMismatch(DomainError):
    code = "contract_currency_mismatch"
    status = 422
    title = "Contracts are paid from a bucket in the project currency (the budget's currency)"


class ContractVendorInvalid(DomainError):
    code = "contract_vendor_invalid"
    status = 422
    title = "The vendor is not one of the project organization's vendors"


class ContractNumberTaken(Conflict):
    code = "contract_number_taken"
    title = "The project already has a contract with this number"


class ContractStateInvalid(Conflict):
    code = "contract_state_invalid"
    title = "The contract's status does not allow this"


class ContractHasOpenInvoices(Conflict):
    code = "contract_has_open_invoices"
    title = "Invoices against this contract are still encumbered or being paid: settle them before closing"


class ChangeOrderInvalid(DomainError):
    code = "change_order_invalid"
    status = 422
    title = "The change order is not valid"


class ChangeOrderStateInvalid(Conflict):
    code = "change_order_state_invalid"
    title = "The change order was already decided"


class ChangeOrderReleaseExceeded(Conflict):
    code = "change_order_release_exceeded"
    title = "A decrease cannot release more than is still committed and unallocated to invoices on the line"


# -- work requests, milestones, submissions ----------------------------------------------------------------


class WorkRequestNotFound(NotFound):
    code = "work_request_not_found"
    title = "No such work request"


class MilestoneNotFound(NotFound):
    code = "milestone_not_found"
    title = "No such milestone"


class SubmissionNotFound(NotFound):
    code = "submission_not_found"
    title = "No such submission"


class SubmissionFileNotFound(NotFound):
    code = "submission_file_not_found"
    title = "No such file on this submission"


class WorkRequestInvalid(DomainError):
    code = "work_request_invalid"
    status = 422
    title = "The work request is not valid"


class WorkRequestContractorInvalid(DomainError):
    code = "work_request_contractor_invalid"
    status = 422
    title = "The contractor must be a vendor of the project's organization with at least one linked user account"


class WorkRequestStateInvalid(Conflict):
    code = "work_request_state_invalid"
    title = "The work request's status does not allow this"


class WorkRequestExpired(Conflict):
    code = "work_request_expired"
    title = "The work request expired before it was accepted"


class WorkRequestTermsMismatch(Conflict):
    code = "work_request_terms_mismatch"
    title = "The terms you accept are not the terms of this work request (terms_sha256 differs): reload them"


class SubmissionInvalid(DomainError):
    code = "submission_invalid"
    status = 422
    title = "The submission is not valid"


class MilestoneStateInvalid(Conflict):
    code = "milestone_state_invalid"
    title = "The milestone's status does not allow this"


class SubmissionStateInvalid(Conflict):
    code = "submission_state_invalid"
    title = "The submission was already reviewed"


class SubmissionStorageUnavailable(DomainError):
    code = "submission_storage_unavailable"
    status = 503
    title = "The deliverable files could not be stored; try again"


class SubmissionFileIntegrityFailed(Conflict):
    code = "submission_file_integrity_failed"
    title = "The stored file is missing or does not match the SHA-256 recorded at upload"
