"""Approval refusals, each with a stable code (docs/errors.md).

Matrix validation failures are 422s naming the offending band (and stage) in
the problem's ``band``/``stage`` members (1-based positions). Approval refusals
are 403 when the person may not approve, 409 when the item's state does not
allow it, 422 when the request itself is malformed.
"""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, PermissionDenied


class ApprovalMatrixInvalid(DomainError):
    code = "approval_matrix_invalid"
    status = 422
    title = "The approval matrix is not valid"


class ApprovalMatrixBandInvalid(ApprovalMatrixInvalid):
    code = "approval_matrix_band_invalid"
    title = "An approval band is empty, inverted or negative, or there are no (or too many) bands"


class ApprovalMatrixGap(ApprovalMatrixInvalid):
    code = "approval_matrix_gap"
    title = "The approval bands leave a gap: each band must start where the previous one ends (the first at 0)"


class ApprovalMatrixOverlap(ApprovalMatrixInvalid):
    code = "approval_matrix_overlap"
    title = "The approval bands overlap: each band must start where the previous one ends"


class ApprovalMatrixUnboundedLast(ApprovalMatrixInvalid):
    code = "approval_matrix_unbounded_last"
    title = "The last approval band, and only the last, must have no upper bound"


class ApprovalMatrixStageInvalid(ApprovalMatrixInvalid):
    code = "approval_matrix_stage_invalid"
    title = "An approval stage is not valid: unknown or non-approving role, repeated role, or no stages"


class ApprovalMatrixSignersInvalid(ApprovalMatrixInvalid):
    code = "approval_matrix_signers_invalid"
    title = "A stage needs 1 ≤ signers_required ≤ signers_of"


class ApprovalMatrixCurrencyMismatch(ApprovalMatrixInvalid):
    code = "approval_matrix_currency_mismatch"
    title = "Approval band bounds must be in the project's currency"


class ApprovalMatrixVersionConflict(Conflict):
    code = "approval_matrix_version_conflict"
    title = "The approval matrix was changed since you read it: reload and retry"


class ApprovalAmountInvalid(DomainError):
    code = "approval_amount_invalid"
    status = 422
    title = "Only a positive amount can be routed for approval"


class ApprovalCurrencyMismatch(DomainError):
    code = "approval_currency_mismatch"
    status = 422
    title = "The amount is not in the currency of the project's approval matrix"


class ApprovalAlreadyComplete(Conflict):
    code = "approval_already_complete"
    title = "Every approval stage is already complete"


class ApprovalStageNotRequired(Conflict):
    code = "approval_stage_not_required"
    title = "This amount's approval band has no stage for that role"


class ApprovalNotInTurn(Conflict):
    code = "approval_not_in_turn"
    title = "Stages are approved in order and this stage is not next"


class ApprovalDuplicateSigner(Conflict):
    code = "approval_duplicate_signer"
    title = "You already signed this stage: multisig signatures come from distinct signers"


class ApprovalSubmitterCannotApprove(PermissionDenied):
    code = "approval_submitter_cannot_approve"
    title = "The submitter of an item cannot approve it"


class ApprovalOneStagePerPerson(PermissionDenied):
    code = "approval_one_stage_per_person"
    title = "You already approved another stage of this item: one person fills at most one stage"


class ApprovalRoleMissing(PermissionDenied):
    code = "approval_role_missing"
    title = "You do not hold this stage's role on the project"


class ApprovalLimitExceeded(PermissionDenied):
    code = "approval_limit_exceeded"
    title = "The amount is above your approval limit for this role"


class ApprovalSignatureRequired(DomainError):
    code = "approval_signature_required"
    status = 422
    title = "This stage is signed in a wallet: post the EIP-712 signature of the decision"


class ApprovalSignatureInvalid(DomainError):
    code = "approval_signature_invalid"
    status = 422
    title = "The signature is malformed or does not sign this decision"


class ApprovalSignerNotLinked(PermissionDenied):
    code = "approval_signer_not_linked"
    title = "The decision was signed by a wallet that is not linked to your account"


class ApprovalNoteRequired(DomainError):
    code = "approval_note_required"
    status = 422
    title = "A rejection or a return for revision needs a note saying why"


class ApprovalNotAllowed(PermissionDenied):
    code = "approval_not_allowed"
    title = "You hold none of the roles of this item's remaining stages"


class ApprovalVendorConflict(PermissionDenied):
    code = "approval_vendor_conflict"
    title = "You act for this item's vendor: you cannot approve it"


class ApprovalConflict(Conflict):
    code = "approval_conflict"
    title = "Another decision on this item was recorded at the same time: reload and try again"
