"""Reads of contracts/POs and change orders. Every selector takes the viewer, so scoping cannot be skipped.

Who reads a contract (and its change orders):

* a project the viewer cannot see (``rbac.permissions.project_visible``) hides its contracts:
  ``contract_not_found`` / ``change_order_not_found`` (404), whether or not they exist;
* on a visible project, ``contract.view`` reads every contract; a VENDOR user also reads the contracts of the
  vendors they act for there (``vendor_ids_for``: they invoice against them);
* anyone else who sees the project gets ``permission_denied`` (403).

Lists apply the same rule in SQL: the projects where the viewer holds ``contract.view``
(``projects_with_permission``), plus the (project, vendor) pairs of their active VENDOR roles.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.http import HttpRequest

from payor import audit
from payor.accounts.models import User
from payor.approvals.decisions import approval_item_plan, approval_timeline, decision_typed_data
from payor.approvals.models import ApprovalDecision, ApprovalTarget, Decision
from payor.approvals.plan import ApprovalPlan
from payor.contracts.errors import (
    ChangeOrderNotFound,
    ChangeOrderStateInvalid,
    ContractNotFound,
    ContractVendorInvalid,
    MilestoneNotFound,
    SubmissionFileIntegrityFailed,
    SubmissionFileNotFound,
    SubmissionNotFound,
    WorkRequestContractorInvalid,
    WorkRequestNotFound,
    WorkRequestStateInvalid,
)
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Contract,
    ContractAllocation,
    ContractStatus,
    Milestone,
    Submission,
    SubmissionFile,
    WorkRequest,
    WorkRequestStatus,
)
from payor.contracts.services import change_order_item
from payor.core.errors import PermissionDenied
from payor.core.files import stored_file_verified
from payor.core.money import Money
from payor.ledger.selectors import Figures, contract_figures
from payor.projects.models import Project
from payor.rbac.errors import ProjectNotFound
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import (
    Perm,
    has_permission,
    project_visible,
    projects_with_permission,
    require_permission,
    vendor_ids_for,
)
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer


__all__ = [
    "ContractFigures",
    "MilestoneDetail",
    "PaymentStatus",
    "change_order_get_visible",
    "change_order_lines",
    "change_order_list",
    "change_order_plan",
    "change_order_timeline",
    "change_order_typed_data",
    "contract_allocations",
    "contract_change_orders",
    "contract_figures_of",
    "contract_get_visible",
    "contract_list",
    "contract_vendor_get",
    "milestone_detail",
    "milestone_get_visible",
    "milestone_payment_status",
    "submission_file_download",
    "submission_file_get",
    "submission_get_visible",
    "work_request_acceptance_typed_data",
    "work_request_get_visible",
    "work_request_is_internal",
    "work_request_list",
    "work_request_milestones",
    "work_request_vendor_get",
]


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _denied() -> PermissionDenied:
    return PermissionDenied(
        f"This needs the {Perm.CONTRACT_VIEW.value} permission on this project, or a VENDOR role for the contract's "
        "vendor",
        permission=Perm.CONTRACT_VIEW.value,
    )


def _read_check(viewer: Viewer, *, project_id: uuid.UUID, vendor_id: uuid.UUID, not_found: Exception) -> None:
    """The read rule for one contract (module docstring): raises ``not_found`` or ``permission_denied``."""
    if not project_visible(viewer, project_id):
        raise not_found
    if has_permission(viewer, Perm.CONTRACT_VIEW, project=project_id):
        return
    if vendor_id in vendor_ids_for(viewer, project_id):
        return
    raise _denied()


def _own_vendor_contracts(viewer: Viewer) -> Q:
    """Contracts whose (project, vendor) is one of the viewer's active VENDOR roles."""
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return Q(pk__in=[])
    own = ProjectRoleAssignment.objects.filter(
        user_id=viewer.pk,
        role=ProjectRole.VENDOR,
        revoked_at__isnull=True,
        project_id=OuterRef("project_id"),
        vendor_id=OuterRef("vendor_id"),
    )
    return Q(Exists(own))


# --------------------------------------------------------------------------------------------------------------
# Contracts
# --------------------------------------------------------------------------------------------------------------


def contract_list(
    *,
    viewer: Viewer,
    project_id: uuid.UUID | str | None = None,
    vendor_id: uuid.UUID | str | None = None,
    status: ContractStatus | str | None = None,
) -> QuerySet[Contract]:
    """The contracts ``viewer`` may read, newest first, optionally narrowed to a project, a vendor, a status.

    A ``project_id`` the viewer cannot see is ``project_not_found`` (404); a visible project on which they may
    read no contract at all (no ``contract.view``, no VENDOR role) is ``permission_denied`` (403). Without a
    project filter the list is simply what the viewer may read (empty for someone who may read nothing).
    """
    contracts = Contract.objects.filter(
        Q(project__in=projects_with_permission(viewer, Perm.CONTRACT_VIEW)) | _own_vendor_contracts(viewer)
    )
    if project_id is not None:
        project_pk = _uuid(project_id)
        if project_pk is None or not project_visible(viewer, project_pk):
            raise ProjectNotFound()
        if not has_permission(viewer, Perm.CONTRACT_VIEW, project=project_pk) and not vendor_ids_for(
            viewer, project_pk
        ):
            raise _denied()
        contracts = contracts.filter(project_id=project_pk)
    if vendor_id is not None:
        vendor_pk = _uuid(vendor_id)
        contracts = contracts.none() if vendor_pk is None else contracts.filter(vendor_id=vendor_pk)
    if status is not None:
        contracts = contracts.filter(status=status) if status in ContractStatus.values else contracts.none()
    return contracts.select_related("vendor").order_by("-id")


def contract_get_visible(*, viewer: Viewer, contract_id: uuid.UUID | str) -> Contract:
    """The contract, if ``viewer`` may read it: ``contract_not_found`` (404) or ``permission_denied`` (403)."""
    pk = _uuid(contract_id)
    contract = (
        None
        if pk is None
        else Contract.objects.select_related("project", "vendor", "created_by", "executed_by", "closed_by")
        .filter(pk=pk)
        .first()
    )
    if contract is None:
        raise ContractNotFound()
    _read_check(viewer, project_id=contract.project_id, vendor_id=contract.vendor_id, not_found=ContractNotFound())
    return contract


def contract_vendor_get(*, viewer: Viewer, project: Project, vendor_id: uuid.UUID | str) -> Vendor:
    """The vendor a contract on ``project`` is drafted with: one of the project organization's vendors.

    Needs ``contract.manage`` on the project, checked first, so that a viewer without it learns nothing about
    vendor ids. An unknown id and another organization's vendor are both ``contract_vendor_invalid`` (422).
    """
    require_permission(viewer, Perm.CONTRACT_MANAGE, project=project)
    pk = _uuid(vendor_id)
    vendor = None if pk is None else Vendor.objects.filter(pk=pk, organization_id=project.organization_id).first()
    if vendor is None:
        raise ContractVendorInvalid()
    return vendor


def contract_allocations(*, contract: Contract) -> list[ContractAllocation]:
    """The contract's allocations with their budget lines, in WBS-code order (read ``contract_get_visible`` first)."""
    return list(contract.allocations.select_related("budget_line").order_by("budget_line__wbs_code"))


@dataclass(frozen=True)
class ContractFigures:
    """A contract's ledger figures in its currency.

    ``remaining_commitment`` is the ledger's ``committed`` on the contract: committed and not yet invoiced.
    ``invoiced`` = encumbered + retention + withheld + pending + disbursed; ``committed`` = remaining_commitment +
    invoiced (everything the contract holds against the budget now).
    """

    committed: Money
    encumbered: Money
    retention: Money
    withheld: Money
    pending: Money
    disbursed: Money
    invoiced: Money
    remaining_commitment: Money


def contract_figures_of(*, contract: Contract) -> ContractFigures:
    """The contract's figures from its ledger accounts (one aggregate query); zero for a draft."""
    figures = contract_figures(contract_id=contract.pk).get(contract.currency) or Figures.zero(contract.currency)
    invoiced = Money.sum(
        (figures.encumbered, figures.retention, figures.withheld, figures.pending, figures.disbursed), contract.currency
    )
    return ContractFigures(
        committed=figures.committed + invoiced,
        encumbered=figures.encumbered,
        retention=figures.retention,
        withheld=figures.withheld,
        pending=figures.pending,
        disbursed=figures.disbursed,
        invoiced=invoiced,
        remaining_commitment=figures.committed,
    )


# --------------------------------------------------------------------------------------------------------------
# Change orders
# --------------------------------------------------------------------------------------------------------------


def contract_change_orders(*, contract: Contract) -> QuerySet[ChangeOrder]:
    """A contract's change orders by number (read ``contract_get_visible`` first)."""
    return ChangeOrder.objects.filter(contract=contract).select_related("requested_by").order_by("number")


def change_order_list(*, viewer: Viewer, contract: Contract) -> QuerySet[ChangeOrder]:
    """The change orders of a contract ``viewer`` may read (checked again here), newest first."""
    contract_get_visible(viewer=viewer, contract_id=contract.pk)
    return contract_change_orders(contract=contract).order_by("-id")


def change_order_get_visible(*, viewer: Viewer, change_order_id: uuid.UUID | str) -> ChangeOrder:
    """The change order, if ``viewer`` may read its contract: ``change_order_not_found`` (404) or 403."""
    pk = _uuid(change_order_id)
    change_order = (
        None
        if pk is None
        else ChangeOrder.objects.select_related("contract__project", "contract__vendor", "requested_by")
        .filter(pk=pk)
        .first()
    )
    if change_order is None:
        raise ChangeOrderNotFound()
    contract = change_order.contract
    _read_check(viewer, project_id=contract.project_id, vendor_id=contract.vendor_id, not_found=ChangeOrderNotFound())
    return change_order


def change_order_lines(*, change_order: ChangeOrder) -> list[ChangeOrderLine]:
    """The change order's per-line deltas with their budget lines, in WBS-code order."""
    return list(change_order.lines.select_related("budget_line").order_by("budget_line__wbs_code"))


def change_order_plan(*, change_order: ChangeOrder) -> ApprovalPlan:
    """Where the change order's approval stands under the project's current matrix (stages, signers so far)."""
    return approval_item_plan(change_order_item(change_order))


def change_order_timeline(*, change_order: ChangeOrder) -> list[ApprovalDecision]:
    """Every decision on the change order, oldest first."""
    return approval_timeline(target_type=ApprovalTarget.CHANGE_ORDER, target_id=change_order.pk)


def change_order_typed_data(
    *, change_order: ChangeOrder, role: ProjectRole | str, decision: Decision | str, chain_id: int
) -> dict[str, Any]:
    """The EIP-712 message a signer signs for ``decision`` on the ``role`` stage of a pending change order.

    It carries the current matrix version (what ``change_order_decide`` verifies against). A decided change
    order has nothing left to sign: ``change_order_state_invalid`` (409).
    """
    if change_order.status != ChangeOrderStatus.PENDING:
        raise ChangeOrderStateInvalid(f"change order {change_order.number} is {change_order.status}")
    item = change_order_item(change_order)
    plan = approval_item_plan(item)
    return decision_typed_data(
        item=item,
        role=ProjectRole(role).value,
        decision=Decision(decision).value,
        chain_id=chain_id,
        matrix_version=plan.matrix_version,
    )


# --------------------------------------------------------------------------------------------------------------
# Work requests, milestones, submissions
# --------------------------------------------------------------------------------------------------------------
#
# Who reads them: holders of ``contract.view`` on the project (PM, finance, treasurer, DAO, auditor, procurement,
# platform admins, system auditors) read every work request of the project; a contractor's user (an active VENDOR
# role for the work request's vendor) reads their own, once sent (drafts are the company's). Anyone else gets the
# ``*_not_found`` code (404), whether or not it exists: another contractor learns nothing, not even by direct id.


def _wr_internal(viewer: Viewer, project_id: uuid.UUID) -> bool:
    return has_permission(viewer, Perm.CONTRACT_VIEW, project=project_id)


def _wr_may_see(viewer: Viewer, work_request: WorkRequest) -> bool:
    if not project_visible(viewer, work_request.project_id):
        return False
    if _wr_internal(viewer, work_request.project_id):
        return True
    return work_request.status != WorkRequestStatus.DRAFT and work_request.vendor_id in vendor_ids_for(
        viewer, work_request.project_id
    )


def work_request_list(
    *,
    viewer: Viewer,
    project_id: uuid.UUID | str | None = None,
    statuses: Collection[str] | None = None,
    vendor_id: uuid.UUID | str | None = None,
) -> QuerySet[WorkRequest]:
    """The work requests ``viewer`` may read, newest first (for a contractor: their inbox), narrowed by filters.

    A ``project_id`` the viewer cannot see is ``project_not_found`` (404); unknown statuses match nothing.
    """
    requests = WorkRequest.objects.filter(
        Q(project__in=projects_with_permission(viewer, Perm.CONTRACT_VIEW))
        | (_own_vendor_contracts(viewer) & ~Q(status=WorkRequestStatus.DRAFT))
    )
    if project_id is not None:
        project_pk = _uuid(project_id)
        if project_pk is None or not project_visible(viewer, project_pk):
            raise ProjectNotFound()
        requests = requests.filter(project_id=project_pk)
    if statuses:
        requests = requests.filter(status__in=[s for s in statuses if s in WorkRequestStatus.values])
    if vendor_id is not None:
        vendor_pk = _uuid(vendor_id)
        requests = requests.none() if vendor_pk is None else requests.filter(vendor_id=vendor_pk)
    return requests.select_related("project", "vendor").annotate(total_minor=Sum("milestones__amount")).order_by("-id")


def work_request_vendor_get(*, viewer: Viewer, project: Project, vendor_id: uuid.UUID | str) -> Vendor:
    """The contractor a work request on ``project`` is drafted for: one of the organization's vendors.

    Needs ``work_request.manage`` on the project, checked first (nothing is learnt about vendor ids without it).
    An unknown id and another organization's vendor are both ``work_request_contractor_invalid`` (422).
    """
    require_permission(viewer, Perm.WORK_REQUEST_MANAGE, project=project)
    pk = _uuid(vendor_id)
    vendor = None if pk is None else Vendor.objects.filter(pk=pk, organization_id=project.organization_id).first()
    if vendor is None:
        raise WorkRequestContractorInvalid("the contractor is not one of the project organization's vendors")
    return vendor


def work_request_get_visible(*, viewer: Viewer, work_request_id: uuid.UUID | str) -> WorkRequest:
    """The work request, if ``viewer`` may read it; ``work_request_not_found`` (404) otherwise."""
    pk = _uuid(work_request_id)
    work_request = (
        None
        if pk is None
        else WorkRequest.objects.select_related(
            "project", "vendor", "contract", "created_by", "sent_by", "accepted_by", "ended_by"
        )
        .filter(pk=pk)
        .first()
    )
    if work_request is None or not _wr_may_see(viewer, work_request):
        raise WorkRequestNotFound()
    return work_request


def work_request_milestones(*, work_request: WorkRequest) -> list[Milestone]:
    return list(work_request.milestones.select_related("budget_line", "invoice").order_by("position"))


def work_request_is_internal(*, viewer: Viewer, work_request: WorkRequest) -> bool:
    """Whether ``viewer`` reads it as the company (``contract.view``) rather than as the contractor."""
    return _wr_internal(viewer, work_request.project_id)


def work_request_acceptance_typed_data(*, viewer: Viewer, work_request: WorkRequest, chain_id: int) -> dict[str, Any]:
    """The EIP-712 message the contractor signs to accept (``work_request_state_invalid`` before sending)."""
    from payor.contracts.services import acceptance_typed_data

    if not _wr_may_see(viewer, work_request):
        raise WorkRequestNotFound()
    if not work_request.terms_sha256:
        raise WorkRequestStateInvalid("a draft has no frozen terms to sign yet")
    return acceptance_typed_data(work_request=work_request, chain_id=chain_id)


def milestone_get_visible(*, viewer: Viewer, milestone_id: uuid.UUID | str) -> Milestone:
    """A milestone of a work request ``viewer`` may read; ``milestone_not_found`` (404) otherwise."""
    pk = _uuid(milestone_id)
    milestone = (
        None
        if pk is None
        else Milestone.objects.select_related(
            "work_request", "work_request__project", "work_request__vendor", "budget_line", "invoice"
        )
        .filter(pk=pk)
        .first()
    )
    if milestone is None or not _wr_may_see(viewer, milestone.work_request):
        raise MilestoneNotFound()
    return milestone


def submission_get_visible(*, viewer: Viewer, submission_id: uuid.UUID | str) -> Submission:
    """A submission of a milestone ``viewer`` may read; ``submission_not_found`` (404) otherwise."""
    pk = _uuid(submission_id)
    submission = (
        None
        if pk is None
        else Submission.objects.select_related(
            "milestone", "milestone__work_request", "submitted_by", "approver", "reviewer"
        )
        .filter(pk=pk)
        .first()
    )
    if submission is None or not _wr_may_see(viewer, submission.milestone.work_request):
        raise SubmissionNotFound()
    return submission


@dataclass(frozen=True)
class PaymentStatus:
    """How far the milestone's money got: its self-billed invoice's status and its latest disbursement."""

    invoice_status: str | None
    disbursement_status: str | None
    amount: Money | None
    scheduled_on: dt.date | None
    executed_on: dt.date | None
    rail_reference: str


@dataclass(frozen=True)
class MilestoneDetail:
    milestone: Milestone
    internal: bool
    submissions: list[Submission]
    files: dict[uuid.UUID, list[SubmissionFile]]
    payment: PaymentStatus


def milestone_payment_status(*, milestone: Milestone) -> PaymentStatus:
    """Read-only view of the invoice and its disbursements (``payor.payments``)."""
    from payor.payments.models import Disbursement

    invoice = milestone.invoice
    if invoice is None:
        return PaymentStatus(None, None, None, None, None, "")
    latest = Disbursement.objects.filter(invoice_id=invoice.pk).order_by("-created_at", "-id").first()
    if latest is None:
        return PaymentStatus(invoice.status, None, None, None, None, "")
    return PaymentStatus(
        invoice_status=invoice.status,
        disbursement_status=latest.status,
        amount=latest.amount,
        scheduled_on=latest.scheduled_on,
        executed_on=latest.executed_on,
        rail_reference=latest.rail_reference,
    )


def milestone_detail(*, viewer: Viewer, milestone_id: uuid.UUID | str) -> MilestoneDetail:
    """A milestone with every submission (newest attempt last), their files, its invoice and payment status."""
    milestone = milestone_get_visible(viewer=viewer, milestone_id=milestone_id)
    submissions = list(
        Submission.objects.filter(milestone=milestone)
        .select_related("submitted_by", "approver", "reviewer")
        .order_by("attempt")
    )
    files: dict[uuid.UUID, list[SubmissionFile]] = {s.pk: [] for s in submissions}
    for row in SubmissionFile.objects.filter(submission__in=submissions).order_by("created_at", "id"):
        files[row.submission_id].append(row)
    return MilestoneDetail(
        milestone=milestone,
        internal=_wr_internal(viewer, milestone.work_request.project_id),
        submissions=submissions,
        files=files,
        payment=milestone_payment_status(milestone=milestone),
    )


def submission_file_get(*, viewer: Viewer, submission: Submission, file_id: uuid.UUID | str) -> SubmissionFile:
    """A file of a submission ``viewer`` may read; ``submission_file_not_found`` (404) otherwise."""
    if not _wr_may_see(viewer, submission.milestone.work_request):
        raise SubmissionNotFound()
    pk = _uuid(file_id)
    row = None if pk is None else SubmissionFile.objects.filter(pk=pk, submission=submission).first()
    if row is None:
        raise SubmissionFileNotFound()
    row.submission = submission
    return row


@transaction.atomic
def submission_file_download(*, viewer: User, row: SubmissionFile, request: HttpRequest | None = None) -> IO[bytes]:
    """Open a deliverable file for whoever reads its work request: an audited read
    (``submission.file_downloaded``), checked against its recorded SHA-256 first
    (``submission_file_integrity_failed``, 409). The caller closes the returned file."""
    submission = row.submission
    work_request = submission.milestone.work_request
    if not _wr_may_see(viewer, work_request):
        raise SubmissionNotFound()
    handle = stored_file_verified(
        row.file, sha256=row.sha256, failed=SubmissionFileIntegrityFailed, what=f"submission file {row.pk}"
    )
    try:
        audit.record(
            viewer,
            "submission.file_downloaded",
            row,
            after={"submission": submission.pk, "filename": row.original_filename, "sha256": row.sha256},
            project=work_request.project_id,
            request=request,
        )
    except BaseException:
        handle.close()
        raise
    return handle
