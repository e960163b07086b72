"""Writes for contracts/POs and change orders, and for the milestone flow (work requests, submissions): lock,
check, write, ledger, audit, enqueue — one transaction each.

Lock order (every service here and the invoice services that touch contracts): the contract row, then the
change order, then budget lines (``budget_allocation_check``, in WBS-code order), then ledger accounts
(``ledger_post``). The milestone flow locks the work request, its milestone and the submission first, then
what the contract and invoice services lock. Re-running a transition that already happened returns the object
unchanged. The milestone flow is described in ``docs/milestones.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from payor import audit, events
from payor.accounts.models import User
from payor.accounts.wallets import chain_ids_allowed
from payor.approvals.decisions import ApprovalItem, approval_decide
from payor.approvals.eip712 import DOMAIN_FIELDS as EIP712_DOMAIN_FIELDS
from payor.approvals.eip712 import DOMAIN_NAME as EIP712_DOMAIN_NAME
from payor.approvals.eip712 import DOMAIN_VERSION as EIP712_DOMAIN_VERSION
from payor.approvals.eip712 import approval_signature_verify
from payor.approvals.errors import ApprovalNotAllowed, ApprovalSubmitterCannotApprove, ApprovalVendorConflict
from payor.approvals.models import ApprovalTarget, Decision
from payor.approvals.selectors import approval_matrix_current
from payor.audit.canonical import canonical_json, format_timestamp, json_safe
from payor.contracts.errors import (
    ChangeOrderInvalid,
    ChangeOrderReleaseExceeded,
    ChangeOrderStateInvalid,
    ContractAllocationMismatch,
    ContractCurrencyMismatch,
    ContractHasOpenInvoices,
    ContractInvalid,
    ContractNumberTaken,
    ContractStateInvalid,
    ContractVendorInvalid,
    MilestoneStateInvalid,
    SubmissionInvalid,
    SubmissionStateInvalid,
    SubmissionStorageUnavailable,
    WorkRequestContractorInvalid,
    WorkRequestExpired,
    WorkRequestInvalid,
    WorkRequestStateInvalid,
    WorkRequestTermsMismatch,
)
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Contract,
    ContractAllocation,
    ContractStatus,
    Milestone,
    MilestoneStatus,
    PaymentTermsKind,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    WorkRequest,
    WorkRequestStatus,
)
from payor.core.errors import DomainError, PermissionDenied
from payor.core.files import ATTACHMENT_TYPES, upload_store, upload_validate
from payor.core.ids import new_id
from payor.core.money import Money
from payor.invoices.models import Invoice
from payor.ledger import selectors as ledger_selectors
from payor.ledger import services as ledger
from payor.ledger.errors import LedgerError
from payor.notifications.services import notify
from payor.projects.errors import BudgetLineNotFound, BudgetLineNotLeaf
from payor.projects.models import BudgetLine, FundingBucket, Project
from payor.projects.services import budget_allocation_check
from payor.rbac.permissions import Perm, require_permission, vendor_ids_for
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor, VendorUser

TITLE_MAX = 200
REASON_MAX = 4000
SCOPE_MAX = 20000
NUMBER_MAX = 32


@dataclass(frozen=True)
class Allocation:
    """An amount of a contract (or a change order's delta) on one budget line."""

    budget_line_id: uuid.UUID
    amount: Money


@dataclass(frozen=True)
class Terms:
    """Payment terms: on approval; net N days; or an early-pay discount (``2/10 net 30``)."""

    kind: str = PaymentTermsKind.NET_DAYS
    net_days: int | None = 30
    discount_percent: Decimal | None = None
    discount_days: int | None = None


def _terms_check(terms: Terms) -> Terms:
    kind = terms.kind
    if kind not in PaymentTermsKind.values:
        raise ContractInvalid(f"payment terms must be one of {', '.join(PaymentTermsKind.values)}", field="terms")
    if kind == PaymentTermsKind.ON_APPROVAL:
        return Terms(kind=kind, net_days=None)
    if terms.net_days is None or not 0 <= terms.net_days <= 365:
        raise ContractInvalid("net days must be between 0 and 365", field="net_days")
    if kind == PaymentTermsKind.NET_DAYS:
        return Terms(kind=kind, net_days=terms.net_days)
    try:
        discount = Decimal(str(terms.discount_percent)) if terms.discount_percent is not None else None
    except InvalidOperation as exc:
        raise ContractInvalid("the early-pay discount must be a percentage", field="discount_percent") from exc
    if discount is None or not Decimal(0) < discount < Decimal(100) or discount != discount.quantize(Decimal("0.01")):
        raise ContractInvalid("the early-pay discount must be above 0 and below 100 percent", field="discount_percent")
    if terms.discount_days is None or not 0 <= terms.discount_days <= terms.net_days:
        raise ContractInvalid("the discount period must be within the net days", field="discount_days")
    return Terms(kind=kind, net_days=terms.net_days, discount_percent=discount, discount_days=terms.discount_days)


def _retention_check(value: Decimal | str | int) -> Decimal:
    if isinstance(value, float):
        raise ContractInvalid("the retention percentage must be a decimal string, not a float", field="retention")
    try:
        percent = Decimal(str(value))
    except InvalidOperation as exc:
        raise ContractInvalid("the retention percentage must be a number", field="retention") from exc
    if not Decimal(0) <= percent <= Decimal(100) or percent != percent.quantize(Decimal("0.01")):
        raise ContractInvalid("the retention percentage must be 0 to 100 with at most 2 decimals", field="retention")
    return percent


def _lines_check(project: Project, allocations: Sequence[Allocation], *, signed: bool) -> dict[uuid.UUID, Money]:
    """Allocations by budget line of the project, in its currency; duplicates refused; open leaf lines only.

    ``signed`` (change-order deltas): negative amounts allowed, refusals are ``change_order_invalid``.
    """
    invalid: type[ContractInvalid | ChangeOrderInvalid] = ChangeOrderInvalid if signed else ContractInvalid
    field = "lines" if signed else "allocations"
    by_line: dict[uuid.UUID, Money] = {}
    for allocation in allocations:
        if not isinstance(allocation.amount, Money):
            raise invalid("amounts must be money", field=field)
        if allocation.amount.code != project.currency:
            raise ContractCurrencyMismatch(f"the project budgets in {project.currency}, not {allocation.amount.code}")
        if allocation.budget_line_id in by_line:
            raise invalid(f"budget line {allocation.budget_line_id} is listed twice", field=field)
        if allocation.amount.is_zero or (allocation.amount.is_negative and not signed):
            raise invalid(
                "each line's delta must be non-zero" if signed else "each allocation must be a positive amount",
                field=field,
            )
        by_line[allocation.budget_line_id] = allocation.amount
    known = set(
        BudgetLine.objects.filter(project=project, pk__in=list(by_line), archived_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    missing = [str(line) for line in by_line if line not in known]
    if missing:
        raise BudgetLineNotFound(f"no open budget line {missing[0]} on this project", budget_line_id=missing[0])
    parents = BudgetLine.objects.filter(parent_id__in=list(by_line), archived_at__isnull=True).values_list(
        "parent_id", flat=True
    )
    for parent in parents:
        raise BudgetLineNotLeaf(
            f"budget line {parent} has children: allocate to its leaf lines", budget_line_id=str(parent)
        )
    return by_line


def _plain_text(value: str, *, field: str, limit: int, invalid: type[DomainError]) -> str:
    """Stripped text without NUL or other control characters (tabs and newlines allowed), at most ``limit``."""
    value = (value or "").strip()
    if len(value) > limit or any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise invalid(f"{field} must be at most {limit} characters of plain text", field=field)
    return value


def contract_snapshot(contract: Contract) -> dict[str, object]:
    """What the audit log keeps of a contract."""
    return {
        "number": contract.number,
        "title": contract.title,
        "vendor": contract.vendor_id,
        "bucket": contract.bucket_id,
        "not_to_exceed": contract.not_to_exceed,
        "retention_percent": contract.retention_percent,
        "terms": contract.terms_label,
        "status": contract.status,
        "allocations": {str(a.budget_line_id): a.amount for a in contract.allocations.all().order_by("budget_line_id")},
    }


def _next_number(project: Project) -> str:
    """The first free ``PO-nnnn`` after the project's count of contracts (a manual number may have taken it)."""
    taken = set(Contract.objects.filter(project=project).values_list("number", flat=True))
    number = len(taken) + 1
    while f"PO-{number:04d}" in taken:
        number += 1
    return f"PO-{number:04d}"


@transaction.atomic
def contract_create(
    *,
    actor: User,
    project: Project,
    vendor: Vendor,
    title: str,
    not_to_exceed: Money,
    allocations: Sequence[Allocation],
    retention_percent: Decimal | str | int = Decimal("10.00"),
    terms: Terms | None = None,
    bucket: FundingBucket | None = None,
    number: str | None = None,
    scope: str = "",
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    request: HttpRequest | None = None,
) -> Contract:
    """Draft a contract/PO whose NTE is fully allocated to open budget lines (nothing is committed yet)."""
    require_permission(actor, Perm.CONTRACT_MANAGE, project=project)
    return _contract_draft(
        actor=actor,
        project=project,
        vendor=vendor,
        title=title,
        not_to_exceed=not_to_exceed,
        allocations=allocations,
        retention_percent=retention_percent,
        terms=terms,
        bucket=bucket,
        number=number,
        scope=scope,
        start_date=start_date,
        end_date=end_date,
        request=request,
    )


def _contract_draft(
    *,
    actor: User,
    project: Project,
    vendor: Vendor,
    title: str,
    not_to_exceed: Money,
    allocations: Sequence[Allocation],
    retention_percent: Decimal | str | int,
    terms: Terms | None,
    bucket: FundingBucket | None,
    number: str | None,
    scope: str,
    start_date: dt.date | None,
    end_date: dt.date | None,
    request: HttpRequest | None,
) -> Contract:
    """:func:`contract_create` after its permission check (also the contract of an accepted work request)."""
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    title = _plain_text(title, field="title", limit=TITLE_MAX, invalid=ContractInvalid)
    if not title:
        raise ContractInvalid(f"a contract needs a title of at most {TITLE_MAX} characters", field="title")
    scope = _plain_text(scope, field="scope", limit=SCOPE_MAX, invalid=ContractInvalid)
    number = _plain_text(number or "", field="number", limit=NUMBER_MAX, invalid=ContractInvalid)
    if vendor.organization_id != project.organization_id:
        raise ContractVendorInvalid()
    bucket = bucket or project.buckets.filter(currency=project.currency).first()
    if bucket is None or bucket.project_id != project.pk or bucket.currency != project.currency:
        raise ContractCurrencyMismatch()
    if not isinstance(not_to_exceed, Money) or not not_to_exceed.is_positive:
        raise ContractInvalid("the not-to-exceed must be a positive amount", field="not_to_exceed")
    if not_to_exceed.code != project.currency:
        raise ContractCurrencyMismatch(f"the project budgets in {project.currency}, not {not_to_exceed.code}")
    if start_date and end_date and end_date < start_date:
        raise ContractInvalid("the contract ends before it starts", field="end_date")
    by_line = _lines_check(project, allocations, signed=False)
    allocated = Money.sum(by_line.values(), project.currency)
    if allocated != not_to_exceed:
        raise ContractAllocationMismatch(
            f"the allocations add up to {allocated.amount_str()}, the NTE is {not_to_exceed.amount_str()}",
            allocated=allocated.amount_str(),
        )
    checked_terms = _terms_check(terms or Terms())
    contract = Contract(
        project=project,
        vendor=vendor,
        bucket=bucket,
        number=(number or "").strip() or _next_number(project),
        title=title,
        scope=scope,
        currency=project.currency,
        retention_percent=_retention_check(retention_percent),
        terms_kind=checked_terms.kind,
        net_days=checked_terms.net_days,
        discount_percent=checked_terms.discount_percent,
        discount_days=checked_terms.discount_days,
        start_date=start_date,
        end_date=end_date,
        created_by=actor,
    )
    contract.original_not_to_exceed = not_to_exceed
    contract.not_to_exceed = not_to_exceed
    try:
        with transaction.atomic():
            contract.save(force_insert=True)
    except IntegrityError as exc:
        if "contracts_contract_number_unique" in str(exc):
            raise ContractNumberTaken(f"{project.name} already has a contract {contract.number}") from exc
        raise
    for line_id, amount in by_line.items():
        allocation = ContractAllocation(contract=contract, budget_line_id=line_id, currency=project.currency)
        allocation.amount = amount
        allocation.save(force_insert=True)
    audit.record(
        actor, "contract.created", contract, after=contract_snapshot(contract), project=project, request=request
    )
    return contract


def _locked(contract: Contract) -> Contract:
    return (
        Contract.objects.select_for_update(of=("self",))
        .select_related("project", "bucket", "vendor")
        .get(pk=contract.pk)
    )


def _transition_record(
    actor: User,
    contract: Contract,
    action: str,
    before: dict[str, object],
    fields: list[str],
    request: HttpRequest | None,
) -> None:
    """Save a status change (``status`` plus ``fields``) and audit it with the contract's before/after."""
    contract.save(update_fields=["status", *fields, "updated_at"])
    after = contract_snapshot(contract)
    audit.record(actor, action, contract, before=before, after=after, project=contract.project, request=request)


def _party(contract: Contract) -> ledger.Party:
    return ledger.Party(bucket=contract.bucket, contract_id=contract.pk, vendor_id=contract.vendor_id)


@transaction.atomic
def contract_execute(*, actor: User, contract: Contract, request: HttpRequest | None = None) -> Contract:
    """Execute a draft: check the budget caps and COMMIT every allocation (``insufficient_funds`` if available
    cannot cover the NTE, ``budget_cap_exceeded`` if a line's cap would be exceeded). Repeating it is a no-op."""
    contract = _locked(contract)
    require_permission(actor, Perm.CONTRACT_MANAGE, project=contract.project)
    return _execute(actor=actor, contract=contract, request=request)


def _execute(*, actor: User, contract: Contract, request: HttpRequest | None) -> Contract:
    """:func:`contract_execute` on a locked contract, after its permission check."""
    if contract.status == ContractStatus.EXECUTED:
        return contract
    if not ContractStatus.can_execute(contract.status):
        raise ContractStateInvalid(f"a {contract.get_status_display().lower()} contract cannot be executed")
    before = contract_snapshot(contract)
    allocations = list(contract.allocations.all())
    budget_allocation_check(project=contract.project, allocations={a.budget_line_id: a.amount for a in allocations})
    ledger.commit(
        party=_party(contract),
        lines=[ledger.Line(a.amount, a.budget_line_id) for a in allocations],
        key=f"contract:{contract.pk}",
        actor_id=actor.pk,
    )
    contract.status = ContractStatus.EXECUTED
    contract.executed_at = timezone.now()
    contract.executed_by = actor
    _transition_record(actor, contract, "contract.executed", before, ["executed_at", "executed_by"], request)
    events.emit(
        "contract.executed",
        aggregate=contract,
        payload={"contract_id": contract.pk, "vendor_id": contract.vendor_id, "not_to_exceed": contract.not_to_exceed},
        project=contract.project,
    )
    return contract


@transaction.atomic
def contract_cancel(*, actor: User, contract: Contract, request: HttpRequest | None = None) -> Contract:
    """Cancel a draft (nothing was committed). Repeating it is a no-op."""
    contract = _locked(contract)
    require_permission(actor, Perm.CONTRACT_MANAGE, project=contract.project)
    if contract.status == ContractStatus.CANCELED:
        return contract
    if contract.status != ContractStatus.DRAFT:
        raise ContractStateInvalid("only a draft can be canceled; close an executed contract instead")
    before = contract_snapshot(contract)
    contract.status = ContractStatus.CANCELED
    _transition_record(actor, contract, "contract.canceled", before, [], request)
    return contract


@transaction.atomic
def contract_close(*, actor: User, contract: Contract, request: HttpRequest | None = None) -> Contract:
    """Close an executed contract: what is still committed goes back to available. Refused while invoices
    against it are encumbered, held in retention or being paid (``contract_has_open_invoices``)."""
    contract = _locked(contract)
    require_permission(actor, Perm.CONTRACT_MANAGE, project=contract.project)
    if contract.status == ContractStatus.CLOSED:
        return contract
    if contract.status != ContractStatus.EXECUTED:
        raise ContractStateInvalid("only an executed contract can be closed")
    figures = ledger_selectors.contract_figures(contract_id=contract.pk).get(contract.currency)
    if figures is not None and not (figures.encumbered + figures.retention + figures.pending).is_zero:
        raise ContractHasOpenInvoices(
            encumbered=figures.encumbered.amount_str(),
            retention=figures.retention.amount_str(),
            pending=figures.pending.amount_str(),
        )
    if ChangeOrder.objects.filter(contract=contract, status=ChangeOrderStatus.PENDING).exists():
        raise ContractStateInvalid("a change order is pending on this contract: decide it first")
    before = contract_snapshot(contract)
    ledger.contract_close(party=_party(contract), key=f"contract:{contract.pk}", actor_id=actor.pk)
    contract.status = ContractStatus.CLOSED
    contract.closed_at = timezone.now()
    contract.closed_by = actor
    _transition_record(actor, contract, "contract.closed", before, ["closed_at", "closed_by"], request)
    events.emit("contract.closed", aggregate=contract, payload={"contract_id": contract.pk}, project=contract.project)
    return contract


# ---------------------------------------------------------------------------------------------------------
# Change orders
# ---------------------------------------------------------------------------------------------------------


def approval_amount_for(*, project: Project, nte_before: Money, delta: Money) -> Money:
    """What approvers decide on for a change of ``delta`` to a contract at ``nte_before``.

    The band of ``|delta|``, unless the new NTE falls in a higher band of the matrix than the old one: a
    change that takes a contract across a threshold (into the DAO band, say) is decided as the new total,
    so it needs that band's stages (and approval limits that cover the new total).
    """
    document = approval_matrix_current(project=project).document
    magnitude = abs(delta)
    nte_after = nte_before + delta
    if delta.is_positive and nte_before.is_positive:
        before_band, _ = document.band_for(nte_before)
        after_band, _ = document.band_for(nte_after)
        magnitude_band, _ = document.band_for(magnitude)
        if after_band > before_band and after_band > magnitude_band:
            return nte_after
    return magnitude


def change_order_snapshot(change_order: ChangeOrder) -> dict[str, object]:
    return {
        "contract": change_order.contract_id,
        "number": change_order.number,
        "reason": change_order.reason,
        "delta": change_order.delta,
        "approval_amount": change_order.approval_amount,
        "status": change_order.status,
        "lines": {str(line.budget_line_id): line.delta for line in change_order.lines.all().order_by("budget_line_id")},
    }


@transaction.atomic
def change_order_create(
    *,
    actor: User,
    contract: Contract,
    reason: str,
    lines: Sequence[Allocation],
    request: HttpRequest | None = None,
) -> ChangeOrder:
    """Propose a change of the contract's NTE by the sum of per-line deltas (signed), for approval."""
    contract = _locked(contract)
    require_permission(actor, Perm.CONTRACT_MANAGE, project=contract.project)
    if not ContractStatus.can_change(contract.status):
        raise ContractStateInvalid("change orders apply to executed contracts")
    reason = _plain_text(reason, field="reason", limit=REASON_MAX, invalid=ChangeOrderInvalid)
    if not reason:
        raise ChangeOrderInvalid(f"a change order needs a reason of at most {REASON_MAX} characters", field="reason")
    if not lines:
        raise ChangeOrderInvalid("a change order changes at least one budget line", field="lines")
    by_line = _lines_check(contract.project, lines, signed=True)
    delta = Money.sum(by_line.values(), contract.currency)
    if delta.is_zero:
        raise ChangeOrderInvalid("the change order's lines cancel out: move money between lines with two orders")
    current = {a.budget_line_id: a.amount for a in contract.allocations.all()}
    for line_id, line_delta in by_line.items():
        if line_delta.is_negative and current.get(line_id, Money.zero(contract.currency)) + line_delta < Money.zero(
            contract.currency
        ):
            raise ChangeOrderReleaseExceeded(
                f"line {line_id} has {current.get(line_id, Money.zero(contract.currency)).amount_str()} allocated",
                budget_line_id=str(line_id),
            )
    number = (ChangeOrder.objects.filter(contract=contract).aggregate(n=Max("number"))["n"] or 0) + 1
    change_order = ChangeOrder(
        contract=contract, number=number, reason=reason, currency=contract.currency, requested_by=actor
    )
    change_order.delta = delta
    change_order.approval_amount = approval_amount_for(
        project=contract.project, nte_before=contract.not_to_exceed, delta=delta
    )
    change_order.save(force_insert=True)
    for line_id, line_delta in by_line.items():
        line = ChangeOrderLine(change_order=change_order, budget_line_id=line_id, currency=contract.currency)
        line.delta = line_delta
        line.save(force_insert=True)
    audit.record(
        actor,
        "change_order.created",
        change_order,
        after=change_order_snapshot(change_order),
        project=contract.project,
        request=request,
    )
    return change_order


def change_order_item(change_order: ChangeOrder) -> ApprovalItem:
    contract = change_order.contract
    return ApprovalItem(
        project=contract.project,
        target_type=ApprovalTarget.CHANGE_ORDER,
        target_id=change_order.pk,
        amount=change_order.approval_amount,
        submitter=change_order.requested_by,
        vendor_id=contract.vendor_id,
    )


def _apply(*, actor: User, contract: Contract, change_order: ChangeOrder) -> None:
    """Post the approved delta: caps checked for increases, COMMIT/RELEASE per line, allocations and NTE moved."""
    lines = list(change_order.lines.all())
    increases: dict[uuid.UUID | str, Money] = {ln.budget_line_id: ln.delta for ln in lines if ln.delta.is_positive}
    if increases:
        budget_allocation_check(project=contract.project, allocations=increases)
    # Decreases can only release what is still committed (not yet encumbered by invoices): the ledger refuses
    # more with ledger_balance_exceeded, which is translated for the approver.
    try:
        ledger.change_order(
            party=_party(contract),
            lines=[ledger.Line(line.delta, line.budget_line_id) for line in lines],
            key=f"change_order:{change_order.pk}",
            actor_id=actor.pk,
        )
    except LedgerError as exc:
        if exc.code in {"ledger_balance_exceeded", "commitment_exceeded"}:
            raise ChangeOrderReleaseExceeded(str(exc.detail)) from exc
        raise
    allocations = {a.budget_line_id: a for a in contract.allocations.select_for_update()}
    for line in lines:
        allocation = allocations.get(line.budget_line_id)
        if allocation is None:
            allocation = ContractAllocation(
                contract=contract, budget_line_id=line.budget_line_id, currency=contract.currency
            )
            allocation.amount = line.delta
            allocation.save(force_insert=True)
        else:
            allocation.amount = allocation.amount + line.delta
            allocation.save(update_fields=["amount", "updated_at"])
    contract.not_to_exceed = contract.not_to_exceed + change_order.delta
    contract.save(update_fields=["not_to_exceed", "updated_at"])


@transaction.atomic
def change_order_decide(
    *,
    actor: User,
    change_order: ChangeOrder,
    role: ProjectRole | str,
    decision: Decision | str,
    note: str = "",
    chain_id: int | None = None,
    signature: str | None = None,
    request: HttpRequest | None = None,
) -> ChangeOrder:
    """Record ``actor``'s decision on the change order's ``role`` stage; the last approval applies the delta.

    Rejection ends it (``rejected``, with the note as reason); a change order is not returned for revision
    (propose a new one). Refusals are the approval rules' (:func:`payor.approvals.decisions.approval_decide`).
    """
    contract = _locked(change_order.contract)
    change_order = (
        ChangeOrder.objects.select_for_update(of=("self",)).select_related("requested_by").get(pk=change_order.pk)
    )
    change_order.contract = contract
    if change_order.status != ChangeOrderStatus.PENDING:
        raise ChangeOrderStateInvalid(f"change order {change_order.number} is {change_order.status}")
    if not ContractStatus.can_change(contract.status):
        raise ContractStateInvalid("the contract is no longer executed")
    decision = Decision(decision)
    if decision is Decision.RETURNED:
        raise ApprovalNotAllowed("A change order is approved or rejected; propose a new one to revise it")
    before = change_order_snapshot(change_order)
    _, plan = approval_decide(
        actor=actor,
        item=change_order_item(change_order),
        role=role,
        decision=decision,
        note=note,
        chain_id=chain_id,
        signature=signature,
        request=request,
    )
    if decision is Decision.REJECTED:
        change_order.status = ChangeOrderStatus.REJECTED
        change_order.rejection_reason = note.strip()
    elif plan.complete:
        _apply(actor=actor, contract=contract, change_order=change_order)
        change_order.status = ChangeOrderStatus.APPROVED
    else:
        return change_order
    change_order.decided_at = timezone.now()
    change_order.save(update_fields=["status", "rejection_reason", "decided_at", "updated_at"])
    audit.record(
        actor,
        f"change_order.{change_order.status}",
        change_order,
        before=before,
        after=change_order_snapshot(change_order),
        project=contract.project,
        request=request,
    )
    if change_order.status == ChangeOrderStatus.APPROVED:
        events.emit(
            "change_order.approved",
            aggregate=change_order,
            payload={
                "contract_id": contract.pk,
                "change_order_id": change_order.pk,
                "delta": change_order.delta,
                "not_to_exceed": contract.not_to_exceed,
            },
            project=contract.project,
        )
    return change_order


# ---------------------------------------------------------------------------------------------------------
# Work requests (seed 000's "smart work request"), milestones and submissions
# ---------------------------------------------------------------------------------------------------------
#
# Lock order: the work request, then its milestone, then the submission; then what the called services lock
# (the project row for numbering, the contract, budget lines, the vendor FOR SHARE, ledger accounts).

MILESTONES_MAX = 50
MILESTONE_TEXT_MAX = 20000
SUBMISSION_NOTE_MAX = 4000
SUBMISSION_FILES_MAX = 20
TERMS_VERSION = 1
ACCEPTANCE_PRIMARY_TYPE = "WorkRequestAcceptance"
ACCEPTANCE_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    ACCEPTANCE_PRIMARY_TYPE: [
        {"name": "project", "type": "string"},
        {"name": "workRequest", "type": "string"},
        {"name": "number", "type": "string"},
        {"name": "contractor", "type": "string"},
        {"name": "total", "type": "string"},
        {"name": "currency", "type": "string"},
        {"name": "totalMinor", "type": "uint256"},
        {"name": "termsSha256", "type": "bytes32"},
    ],
}
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class MilestoneIn:
    """A milestone as the project manager drafts it: its amount is allocated to ``budget_line_id`` (a leaf)."""

    title: str
    amount: Money
    budget_line_id: uuid.UUID
    description: str = ""
    acceptance_criteria: str = ""
    due_date: dt.date | None = None


@dataclass(frozen=True)
class UploadIn:
    """A deliverable file: any seekable binary file and the client's name for it (shown, never trusted)."""

    file: IO[bytes] | Any
    filename: str | None = None


def _wr_text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    value = _plain_text(value, field=field, limit=limit, invalid=WorkRequestInvalid)
    if required and not value:
        raise WorkRequestInvalid(f"{field} is required (at most {limit} characters)", field=field)
    return value


def _wr_number(project: Project) -> str:
    taken = set(WorkRequest.objects.filter(project=project).values_list("number", flat=True))
    number = len(taken) + 1
    while f"WR-{number:04d}" in taken:
        number += 1
    return f"WR-{number:04d}"


def _acting_users(work_request: WorkRequest) -> list[User]:
    """The contractor's users who may answer: linked to the vendor and holding its VENDOR role on the project."""
    return list(
        User.objects.filter(
            is_active=True,
            vendor_links__vendor_id=work_request.vendor_id,
            project_roles__project_id=work_request.project_id,
            project_roles__role=ProjectRole.VENDOR,
            project_roles__vendor_id=work_request.vendor_id,
            project_roles__revoked_at__isnull=True,
        )
        .distinct()
        .order_by("email")
    )


def _contractor_check(project: Project, vendor: Vendor) -> None:
    if vendor.organization_id != project.organization_id:
        raise WorkRequestContractorInvalid("the contractor is not one of the project organization's vendors")
    if not VendorUser.objects.filter(vendor=vendor, user__is_active=True).exists():
        raise WorkRequestContractorInvalid(f"{vendor.name} has no linked user account to receive the work request")


def _milestones_check(project: Project, milestones: Sequence[MilestoneIn]) -> list[MilestoneIn]:
    if not milestones:
        raise WorkRequestInvalid("a work request has at least one milestone", field="milestones")
    if len(milestones) > MILESTONES_MAX:
        raise WorkRequestInvalid(f"a work request has at most {MILESTONES_MAX} milestones", field="milestones")
    checked: list[MilestoneIn] = []
    by_line: dict[uuid.UUID, Money] = {}
    for index, milestone in enumerate(milestones):
        field = f"milestones[{index}]"
        amount = milestone.amount
        if not isinstance(amount, Money):
            raise WorkRequestInvalid("a milestone's amount must be money", field=f"{field}.amount")
        if amount.code != project.currency:
            raise ContractCurrencyMismatch(
                f"{field}: the project budgets in {project.currency}, not {amount.code}", field=f"{field}.amount"
            )
        if not amount.is_positive:
            raise WorkRequestInvalid("each milestone's amount must be positive", field=f"{field}.amount")
        if milestone.due_date is not None and not isinstance(milestone.due_date, dt.date):
            raise WorkRequestInvalid("the due date must be a date", field=f"{field}.due_date")
        checked.append(
            MilestoneIn(
                title=_wr_text(milestone.title, field=f"{field}.title", limit=TITLE_MAX, required=True),
                amount=amount,
                budget_line_id=milestone.budget_line_id,
                description=_wr_text(milestone.description, field=f"{field}.description", limit=MILESTONE_TEXT_MAX),
                acceptance_criteria=_wr_text(
                    milestone.acceptance_criteria, field=f"{field}.acceptance_criteria", limit=MILESTONE_TEXT_MAX
                ),
                due_date=milestone.due_date,
            )
        )
        by_line[milestone.budget_line_id] = by_line.get(milestone.budget_line_id, Money.zero(project.currency)) + amount
    # Open leaf lines of the project (budget_line_not_found / budget_line_not_leaf), once per line.
    _lines_check(project, [Allocation(line_id, amount) for line_id, amount in by_line.items()], signed=False)
    return checked


def _terms_of(terms: Terms | None) -> Terms:
    try:
        return _terms_check(terms or Terms(kind=PaymentTermsKind.ON_APPROVAL, net_days=None))
    except ContractInvalid as exc:
        raise WorkRequestInvalid(str(exc.detail), **exc.extra) from exc


def _retention_of(value: Decimal | str | int) -> Decimal:
    try:
        return _retention_check(value)
    except ContractInvalid as exc:
        raise WorkRequestInvalid(str(exc.detail), **exc.extra) from exc


def _expiry_check(expires_at: dt.datetime | None) -> None:
    if expires_at is None:
        return
    if not isinstance(expires_at, dt.datetime) or timezone.is_naive(expires_at):
        raise WorkRequestInvalid("expires_at must be a date and time with a time zone", field="expires_at")
    if expires_at <= timezone.now():
        raise WorkRequestInvalid("expires_at must be in the future", field="expires_at")


def work_request_total(work_request: WorkRequest) -> Money:
    return Money.sum([m.amount for m in work_request.milestones.all()], work_request.currency)


def work_request_snapshot(work_request: WorkRequest) -> dict[str, object]:
    """What the audit log keeps of a work request."""
    return {
        "number": work_request.number,
        "title": work_request.title,
        "vendor": work_request.vendor_id,
        "status": work_request.status,
        "retention_percent": work_request.retention_percent,
        "terms": work_request.terms_label,
        "expires_at": work_request.expires_at,
        "terms_sha256": work_request.terms_sha256 or None,
        "contract": work_request.contract_id,
        "milestones": [
            {"position": m.position, "title": m.title, "amount": m.amount, "budget_line": m.budget_line_id}
            for m in work_request.milestones.all().order_by("position")
        ],
    }


def _milestones_write(work_request: WorkRequest, milestones: Sequence[MilestoneIn]) -> None:
    work_request.milestones.all().delete()
    for position, data in enumerate(milestones, start=1):
        milestone = Milestone(
            work_request=work_request,
            position=position,
            title=data.title,
            description=data.description,
            acceptance_criteria=data.acceptance_criteria,
            currency=work_request.currency,
            due_date=data.due_date,
            budget_line_id=data.budget_line_id,
        )
        milestone.amount = data.amount
        milestone.save(force_insert=True)


def _wr_fields(
    work_request: WorkRequest,
    *,
    title: str,
    scope: str,
    retention_percent: Decimal | str | int,
    terms: Terms | None,
    expires_at: dt.datetime | None,
) -> None:
    checked = _terms_of(terms)
    _expiry_check(expires_at)
    work_request.title = _wr_text(title, field="title", limit=TITLE_MAX, required=True)
    work_request.scope = _wr_text(scope, field="scope", limit=SCOPE_MAX)
    work_request.retention_percent = _retention_of(retention_percent)
    work_request.terms_kind = checked.kind
    work_request.net_days = checked.net_days
    work_request.discount_percent = checked.discount_percent
    work_request.discount_days = checked.discount_days
    work_request.expires_at = expires_at


@transaction.atomic
def work_request_create(
    *,
    actor: User,
    project: Project,
    vendor: Vendor,
    title: str,
    milestones: Sequence[MilestoneIn],
    scope: str = "",
    retention_percent: Decimal | str | int = Decimal("0.00"),
    terms: Terms | None = None,
    expires_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> WorkRequest:
    """Draft a work request to one contractor (a vendor of the project's organization with linked users).

    Default terms: pay on approval, no retention. Refusals (nothing written): ``permission_denied``
    (``work_request.manage``), ``work_request_contractor_invalid``, ``work_request_invalid`` (title, texts,
    terms, retention, expiry, milestones), ``contract_currency_mismatch``, ``budget_line_not_found``,
    ``budget_line_not_leaf``.
    """
    require_permission(actor, Perm.WORK_REQUEST_MANAGE, project=project)
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    _contractor_check(project, vendor)
    bucket = project.buckets.filter(currency=project.currency).first()
    if bucket is None:
        raise ContractCurrencyMismatch("the project has no funding bucket in its currency")
    work_request = WorkRequest(
        project=project,
        vendor=vendor,
        bucket=bucket,
        number=_wr_number(project),
        currency=project.currency,
        created_by=actor,
    )
    _wr_fields(
        work_request,
        title=title,
        scope=scope,
        retention_percent=retention_percent,
        terms=terms,
        expires_at=expires_at,
    )
    checked = _milestones_check(project, milestones)
    work_request.save(force_insert=True)
    _milestones_write(work_request, checked)
    audit.record(
        actor,
        "work_request.created",
        work_request,
        after=work_request_snapshot(work_request),
        project=project,
        request=request,
    )
    return work_request


def _locked_wr(work_request: WorkRequest | uuid.UUID) -> WorkRequest:
    pk = work_request.pk if isinstance(work_request, WorkRequest) else work_request
    return (
        WorkRequest.objects.select_for_update(of=("self",))
        .select_related("project", "vendor", "bucket", "sent_by")
        .get(pk=pk)
    )


@transaction.atomic
def work_request_update(
    *,
    actor: User,
    work_request: WorkRequest,
    title: str,
    milestones: Sequence[MilestoneIn],
    scope: str = "",
    retention_percent: Decimal | str | int = Decimal("0.00"),
    terms: Terms | None = None,
    expires_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> WorkRequest:
    """Replace a draft's terms and milestones (``work_request_state_invalid`` once sent)."""
    work_request = _locked_wr(work_request)
    require_permission(actor, Perm.WORK_REQUEST_MANAGE, project=work_request.project)
    if work_request.status != WorkRequestStatus.DRAFT:
        raise WorkRequestStateInvalid(f"only a draft can be changed; {work_request.number} is {work_request.status}")
    before = work_request_snapshot(work_request)
    _wr_fields(
        work_request,
        title=title,
        scope=scope,
        retention_percent=retention_percent,
        terms=terms,
        expires_at=expires_at,
    )
    checked = _milestones_check(work_request.project, milestones)
    work_request.save()
    _milestones_write(work_request, checked)
    audit.record(
        actor,
        "work_request.updated",
        work_request,
        before=before,
        after=work_request_snapshot(work_request),
        project=work_request.project,
        request=request,
    )
    return work_request


def _minor(money: Money) -> dict[str, object]:
    return {"minor": money.minor, "currency": money.code}


def work_request_terms(work_request: WorkRequest, *, issued_at: dt.datetime) -> dict[str, object]:
    """The terms a contractor accepts, as plain JSON data (amounts as integer minor units + currency, dates ISO).

    Frozen at sending as canonical JSON (:func:`payor.audit.canonical.canonical_json`: sorted keys, no
    whitespace, UTF-8); ``terms_sha256`` is the SHA-256 of those bytes.
    """
    milestones = list(work_request.milestones.select_related("budget_line").order_by("position"))
    discount = work_request.discount_percent
    return {
        "version": TERMS_VERSION,
        "work_request_id": str(work_request.pk),
        "number": work_request.number,
        "project": {"id": str(work_request.project_id), "name": work_request.project.name},
        "contractor": {"vendor_id": str(work_request.vendor_id), "name": work_request.vendor.name},
        "title": work_request.title,
        "scope": work_request.scope,
        "total": _minor(Money.sum([m.amount for m in milestones], work_request.currency)),
        "retention_percent": str(work_request.retention_percent),
        "payment_terms": {
            "kind": work_request.terms_kind,
            "net_days": work_request.net_days,
            "discount_percent": None if discount is None else str(discount),
            "discount_days": work_request.discount_days,
            "label": work_request.terms_label,
        },
        "expires_at": None if work_request.expires_at is None else format_timestamp(work_request.expires_at),
        "issued_at": format_timestamp(issued_at),
        "milestones": [
            {
                "position": m.position,
                "title": m.title,
                "description": m.description,
                "acceptance_criteria": m.acceptance_criteria,
                "amount": _minor(m.amount),
                "due_date": None if m.due_date is None else m.due_date.isoformat(),
                "budget_line": {"id": str(m.budget_line_id), "wbs_code": m.budget_line.wbs_code},
            }
            for m in milestones
        ],
    }


def _link(work_request: WorkRequest) -> str:
    return f"/work-requests/{work_request.pk}"


@transaction.atomic
def work_request_send(*, actor: User, work_request: WorkRequest, request: HttpRequest | None = None) -> WorkRequest:
    """``draft → sent``: freeze the terms (canonical JSON + SHA-256), notify the contractor's users (inbox and
    email, in this transaction). Sending a sent request again is a no-op. Refusals: ``work_request_state_invalid``,
    ``work_request_invalid`` (expired before sending), ``work_request_contractor_invalid`` (nobody acts for the
    vendor on the project), the budget line checks of drafting."""
    work_request = _locked_wr(work_request)
    require_permission(actor, Perm.WORK_REQUEST_MANAGE, project=work_request.project)
    if work_request.status == WorkRequestStatus.SENT:
        return work_request
    if work_request.status != WorkRequestStatus.DRAFT:
        raise WorkRequestStateInvalid(f"only a draft can be sent; {work_request.number} is {work_request.status}")
    _expiry_check(work_request.expires_at)
    _contractor_check(work_request.project, work_request.vendor)
    recipients = _acting_users(work_request)
    if not recipients:
        raise WorkRequestContractorInvalid(
            f"nobody acts for {work_request.vendor.name} on this project: grant a linked user its VENDOR role first"
        )
    milestones = list(work_request.milestones.all())
    by_line: dict[uuid.UUID, Money] = {}
    for m in milestones:
        by_line[m.budget_line_id] = by_line.get(m.budget_line_id, Money.zero(work_request.currency)) + m.amount
    _lines_check(work_request.project, [Allocation(k, v) for k, v in by_line.items()], signed=False)
    before = work_request_snapshot(work_request)
    now = timezone.now()
    canonical = canonical_json(json_safe(work_request_terms(work_request, issued_at=now)))
    work_request.terms_json = canonical.decode("utf-8")
    work_request.terms_sha256 = hashlib.sha256(canonical).hexdigest()
    work_request.status = WorkRequestStatus.SENT
    work_request.sent_at = now
    work_request.sent_by = actor
    work_request.save(update_fields=["terms_json", "terms_sha256", "status", "sent_at", "sent_by", "updated_at"])
    audit.record(
        actor,
        "work_request.sent",
        work_request,
        before=before,
        after=work_request_snapshot(work_request),
        project=work_request.project,
        request=request,
    )
    total = Money.sum([m.amount for m in milestones], work_request.currency)
    events.emit(
        "work_request.sent",
        aggregate=work_request,
        payload={
            "work_request_id": work_request.pk,
            "contractor_id": work_request.vendor_id,
            "total": total,
            "terms_sha256": work_request.terms_sha256,
        },
        project=work_request.project,
    )
    expiry = f"\nPlease answer before {format_timestamp(work_request.expires_at)}." if work_request.expires_at else ""
    notify(
        recipients=recipients,
        kind="work_request.sent",
        title=f"Work request {work_request.number}: {work_request.title}",
        body=(
            f"{work_request.project.name} sends {work_request.vendor.name} a work request of {len(milestones)} "
            f"milestone(s) for {total.amount_str()} {total.code}, paid {work_request.terms_label.lower()}.{expiry}"
        ),
        link=_link(work_request),
        project_id=work_request.project_id,
    )
    return work_request


def _respond_check(actor: User, work_request: WorkRequest) -> None:
    """Answered and worked on only by a user acting for the work request's contractor on its project."""
    require_permission(actor, Perm.WORK_REQUEST_RESPOND, project=work_request.project_id)
    if work_request.vendor_id not in vendor_ids_for(actor, work_request.project_id):
        raise PermissionDenied("You answer work requests only for the contractor you act for on this project")


def _is_past_expiry(work_request: WorkRequest, now: dt.datetime) -> bool:
    return work_request.expires_at is not None and work_request.expires_at <= now


def _expire(work_request: WorkRequest, *, now: dt.datetime) -> None:
    """Mark a locked, sent, past-expiry work request ``expired`` (the system acts), audited and announced."""
    before = work_request_snapshot(work_request)
    work_request.status = WorkRequestStatus.EXPIRED
    work_request.ended_at = now
    work_request.save(update_fields=["status", "ended_at", "updated_at"])
    audit.record(
        None,
        "work_request.expired",
        work_request,
        before=before,
        after=work_request_snapshot(work_request),
        project=work_request.project,
        actor_label="system",
    )
    events.emit(
        "work_request.expired",
        aggregate=work_request,
        payload={"work_request_id": work_request.pk, "contractor_id": work_request.vendor_id},
        project=work_request.project,
    )
    if work_request.sent_by is not None:
        notify(
            recipients=[work_request.sent_by],
            kind="work_request.expired",
            title=f"Work request {work_request.number} expired unanswered",
            body=f"{work_request.vendor.name} did not answer {work_request.title!r} in time.",
            link=_link(work_request),
            project_id=work_request.project_id,
        )


def acceptance_typed_data(*, work_request: WorkRequest, chain_id: int) -> dict[str, Any]:
    """The EIP-712 message a contractor signs (``eth_signTypedData_v4``) to accept the frozen terms."""
    total = work_request_total(work_request)
    return {
        "types": ACCEPTANCE_TYPES,
        "primaryType": ACCEPTANCE_PRIMARY_TYPE,
        "domain": {"name": EIP712_DOMAIN_NAME, "version": EIP712_DOMAIN_VERSION, "chainId": chain_id},
        "message": {
            "project": str(work_request.project_id),
            "workRequest": str(work_request.pk),
            "number": work_request.number,
            "contractor": str(work_request.vendor_id),
            "total": total.amount_str(),
            "currency": total.code,
            "totalMinor": total.minor,
            "termsSha256": "0x" + work_request.terms_sha256,
        },
    }


def _accept(
    *,
    actor: User,
    work_request: WorkRequest,
    signature: str | None,
    chain_id: int | None,
    now: dt.datetime,
    request: HttpRequest | None,
) -> WorkRequest:
    """Accept a locked, sent, unexpired work request whose terms hash was checked."""
    signer_address = ""
    if signature:
        if chain_id is None or chain_id not in chain_ids_allowed():
            raise WorkRequestInvalid(
                f"a signed acceptance names one of the chains {sorted(chain_ids_allowed())}", field="chain_id"
            )
        typed = acceptance_typed_data(work_request=work_request, chain_id=chain_id)
        signer_address = approval_signature_verify(typed_data=typed, signature=signature, approver=actor)
    milestones = list(work_request.milestones.all())
    by_line: dict[uuid.UUID, Money] = {}
    for m in milestones:
        by_line[m.budget_line_id] = by_line.get(m.budget_line_id, Money.zero(work_request.currency)) + m.amount
    due_dates = [m.due_date for m in milestones if m.due_date is not None]
    on_behalf = work_request.sent_by
    assert on_behalf is not None  # noqa: S101 - a sent work request has a sender (database check)
    # The contract is drafted and executed by the system on behalf of the project manager who sent the offer:
    # the offer was their decision; the contractor's acceptance executes it (COMMIT, caps checked).
    contract = _contract_draft(
        actor=on_behalf,
        project=work_request.project,
        vendor=work_request.vendor,
        title=work_request.title,
        not_to_exceed=Money.sum(by_line.values(), work_request.currency),
        allocations=[Allocation(line_id, amount) for line_id, amount in by_line.items()],
        retention_percent=work_request.retention_percent,
        terms=Terms(
            kind=work_request.terms_kind,
            net_days=work_request.net_days,
            discount_percent=work_request.discount_percent,
            discount_days=work_request.discount_days,
        ),
        bucket=work_request.bucket,
        number=None,
        scope=work_request.scope,
        start_date=timezone.localdate(now),
        end_date=max(due_dates) if due_dates and max(due_dates) >= timezone.localdate(now) else None,
        request=request,
    )
    contract = _execute(actor=on_behalf, contract=_locked(contract), request=request)
    before = work_request_snapshot(work_request)
    work_request.status = WorkRequestStatus.ACCEPTED
    work_request.accepted_at = now
    work_request.accepted_by = actor
    work_request.contract = contract
    work_request.signature = (signature or "") if signer_address else ""
    work_request.signer_address = signer_address
    work_request.chain_id = chain_id if signer_address else None
    work_request.save(
        update_fields=[
            "status",
            "accepted_at",
            "accepted_by",
            "contract",
            "signature",
            "signer_address",
            "chain_id",
            "updated_at",
        ]
    )
    audit.record(
        actor,
        "work_request.accepted",
        work_request,
        before=before,
        after=work_request_snapshot(work_request)
        | {"accepted_at": now, "signer_address": signer_address or None, "terms_sha256": work_request.terms_sha256},
        project=work_request.project,
        request=request,
    )
    events.emit(
        "work_request.accepted",
        aggregate=work_request,
        payload={
            "work_request_id": work_request.pk,
            "contractor_id": work_request.vendor_id,
            "accepted_by": actor.pk,
            "acceptance_timestamp": now,
            "terms_sha256": work_request.terms_sha256,
            "contract_id": contract.pk,
            "not_to_exceed": contract.not_to_exceed,
            "signed": bool(signer_address),
        },
        project=work_request.project,
    )
    notify(
        recipients=[on_behalf],
        kind="work_request.accepted",
        title=f"{work_request.vendor.name} accepted {work_request.number}",
        body=f"{work_request.title}: contract {contract.number} is executed and its funds are committed.",
        link=_link(work_request),
        project_id=work_request.project_id,
    )
    return work_request


def work_request_accept(
    *,
    actor: User,
    work_request: WorkRequest,
    terms_sha256: str,
    signature: str | None = None,
    chain_id: int | None = None,
    request: HttpRequest | None = None,
) -> WorkRequest:
    """The contractor accepts the sent terms: a Contract is created and executed for them in the same transaction
    (COMMIT of each milestone's budget line), and ``accepted_at``, ``accepted_by``, the terms hash and the
    optional EIP-712 signature (by one of the actor's linked wallets, over
    :func:`acceptance_typed_data`) are stored.

    Accepting an accepted request again is a no-op. Refusals (nothing written): ``permission_denied`` (not acting
    for the contractor), ``work_request_state_invalid``, ``work_request_expired`` (the request is marked
    ``expired`` first, and that is kept), ``work_request_terms_mismatch``, ``work_request_invalid`` (chain id),
    ``approval_signature_invalid`` / ``approval_signer_not_linked``, the ledger's ``insufficient_funds`` and
    ``budget_cap_exceeded``, ``vendor``/budget line refusals of drafting the contract.
    """
    with transaction.atomic():
        work_request = _locked_wr(work_request)
        _respond_check(actor, work_request)
        if work_request.status == WorkRequestStatus.ACCEPTED:
            return work_request
        if work_request.status != WorkRequestStatus.SENT:
            raise WorkRequestStateInvalid(f"{work_request.number} is {work_request.status}: it cannot be accepted")
        now = timezone.now()
        if not _is_past_expiry(work_request, now):
            presented = (terms_sha256 or "").strip().lower().removeprefix("0x")
            if not _SHA256_RE.fullmatch(presented) or not hmac.compare_digest(presented, work_request.terms_sha256):
                raise WorkRequestTermsMismatch(terms_sha256=work_request.terms_sha256)
            return _accept(
                actor=actor, work_request=work_request, signature=signature, chain_id=chain_id, now=now, request=request
            )
        _expire(work_request, now=now)
    expired_at = work_request.expires_at
    raise WorkRequestExpired(
        f"{work_request.number} expired" + (f" at {format_timestamp(expired_at)}" if expired_at else "")
    )


def _end(
    *,
    actor: User,
    work_request: WorkRequest,
    status: WorkRequestStatus,
    reason: str,
    request: HttpRequest | None,
) -> WorkRequest:
    before = work_request_snapshot(work_request)
    work_request.status = status
    work_request.ended_at = timezone.now()
    work_request.ended_by = actor
    work_request.end_reason = reason
    work_request.save(update_fields=["status", "ended_at", "ended_by", "end_reason", "updated_at"])
    audit.record(
        actor,
        f"work_request.{status}",
        work_request,
        before=before,
        after=work_request_snapshot(work_request) | {"reason": reason},
        project=work_request.project,
        request=request,
    )
    events.emit(
        f"work_request.{status}",
        aggregate=work_request,
        payload={"work_request_id": work_request.pk, "contractor_id": work_request.vendor_id, "reason": reason},
        project=work_request.project,
    )
    return work_request


@transaction.atomic
def work_request_decline(
    *, actor: User, work_request: WorkRequest, reason: str = "", request: HttpRequest | None = None
) -> WorkRequest:
    """The contractor declines a sent request (optional reason); the sender is notified. A repeat is a no-op."""
    work_request = _locked_wr(work_request)
    _respond_check(actor, work_request)
    if work_request.status == WorkRequestStatus.DECLINED:
        return work_request
    if work_request.status != WorkRequestStatus.SENT:
        raise WorkRequestStateInvalid(f"{work_request.number} is {work_request.status}: it cannot be declined")
    reason = _wr_text(reason, field="reason", limit=REASON_MAX)
    _end(actor=actor, work_request=work_request, status=WorkRequestStatus.DECLINED, reason=reason, request=request)
    if work_request.sent_by is not None:
        notify(
            recipients=[work_request.sent_by],
            kind="work_request.declined",
            title=f"{work_request.vendor.name} declined {work_request.number}",
            body=f"{work_request.title}" + (f": {reason}" if reason else ""),
            link=_link(work_request),
            project_id=work_request.project_id,
        )
    return work_request


@transaction.atomic
def work_request_withdraw(
    *, actor: User, work_request: WorkRequest, reason: str = "", request: HttpRequest | None = None
) -> WorkRequest:
    """The project manager takes back a sent request before it is answered; the contractor's users are notified.
    A repeat is a no-op; a draft is simply never sent (``work_request_state_invalid``)."""
    work_request = _locked_wr(work_request)
    require_permission(actor, Perm.WORK_REQUEST_MANAGE, project=work_request.project)
    if work_request.status == WorkRequestStatus.WITHDRAWN:
        return work_request
    if work_request.status != WorkRequestStatus.SENT:
        raise WorkRequestStateInvalid(
            f"only a sent request can be withdrawn; {work_request.number} is {work_request.status}"
        )
    reason = _wr_text(reason, field="reason", limit=REASON_MAX)
    _end(actor=actor, work_request=work_request, status=WorkRequestStatus.WITHDRAWN, reason=reason, request=request)
    notify(
        recipients=_acting_users(work_request),
        kind="work_request.withdrawn",
        title=f"Work request {work_request.number} was withdrawn",
        body=f"{work_request.project.name} withdrew {work_request.title!r}" + (f": {reason}" if reason else "."),
        link=_link(work_request),
        project_id=work_request.project_id,
    )
    return work_request


def work_requests_expire(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Mark sent work requests past their ``expires_at`` as ``expired`` (the periodic job); returns how many.

    Each in its own transaction; a request being answered right now is skipped (``SKIP LOCKED``) and either
    accepted in time or picked up on the next run.
    """
    now = now or timezone.now()
    ids = list(
        WorkRequest.objects.filter(status=WorkRequestStatus.SENT, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    expired = 0
    for pk in ids:
        with transaction.atomic():
            work_request = (
                WorkRequest.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("project", "vendor", "sent_by")
                .filter(pk=pk, status=WorkRequestStatus.SENT, expires_at__lte=now)
                .first()
            )
            if work_request is None:
                continue
            _expire(work_request, now=now)
            expired += 1
    return expired


# -- submissions -------------------------------------------------------------------------------------------


def submission_snapshot(submission: Submission) -> dict[str, object]:
    return {
        "milestone": submission.milestone_id,
        "attempt": submission.attempt,
        "approval_status": submission.approval_status,
        "submitted_by": submission.submitted_by_id,
        "reviewer": submission.reviewer_id,
        "approved_at": submission.approved_at,
        "approver": submission.approver_id,
        "review_note": submission.review_note,
        "invoice": submission.invoice_id,
        "files": [
            {"filename": f.original_filename, "sha256": f.sha256, "size": f.size}
            for f in submission.files.all().order_by("created_at", "id")
        ],
    }


def _locked_milestone(milestone: Milestone) -> tuple[WorkRequest, Milestone]:
    """The work request, then the milestone, locked."""
    work_request = _locked_wr(milestone.work_request_id)
    locked = Milestone.objects.select_for_update(of=("self",)).get(pk=milestone.pk)
    locked.work_request = work_request
    return work_request, locked


def submission_create(
    *,
    actor: User,
    milestone: Milestone,
    note: str = "",
    files: Sequence[UploadIn] = (),
    request: HttpRequest | None = None,
) -> Submission:
    """The contractor submits deliverables (a note and/or files) for a milestone of an accepted work request:
    ``pending`` or ``revision_requested`` → ``submitted`` (attempt 1, 2, …). One open submission per milestone.

    Files are checked like invoice attachments (type from the bytes, size limit, SHA-256) and stored before the
    transaction; a refusal deletes them again. Refusals (nothing written): ``permission_denied``,
    ``work_request_state_invalid`` (not accepted), ``milestone_state_invalid`` (already submitted or approved),
    ``submission_invalid`` (empty, too many files, note too long), ``file_empty``, ``file_too_large``,
    ``file_type_not_allowed``, ``submission_storage_unavailable``.
    """
    _respond_check(actor, milestone.work_request)
    note = _plain_text(note, field="note", limit=SUBMISSION_NOTE_MAX, invalid=SubmissionInvalid)
    if not note and not files:
        raise SubmissionInvalid("a submission carries a note or at least one file", field="note")
    if len(files) > SUBMISSION_FILES_MAX:
        raise SubmissionInvalid(f"a submission has at most {SUBMISSION_FILES_MAX} files", field="files")
    checked = [upload_validate(up.file, filename=up.filename, allowed=ATTACHMENT_TYPES) for up in files]
    submission_id = new_id()
    rows: list[SubmissionFile] = []
    try:
        for upload in checked:
            row = SubmissionFile(
                id=new_id(),
                submission_id=submission_id,
                original_filename=upload.filename,
                content_type=upload.content_type,
                size=upload.size,
                sha256=upload.sha256,
                uploaded_by=actor,
            )
            upload_store(
                row.file,
                upload,
                name_stem=str(row.pk),
                unavailable=SubmissionStorageUnavailable,
                what="submission file",
            )
            rows.append(row)
        with transaction.atomic():
            return _submission_write(
                actor=actor, milestone=milestone, submission_id=submission_id, note=note, rows=rows, request=request
            )
    except BaseException:
        for row in rows:
            row.file.storage.delete(str(row.file.name))
        raise


def _submission_write(
    *,
    actor: User,
    milestone: Milestone,
    submission_id: uuid.UUID,
    note: str,
    rows: list[SubmissionFile],
    request: HttpRequest | None,
) -> Submission:
    work_request, milestone = _locked_milestone(milestone)
    _respond_check(actor, work_request)
    if work_request.status != WorkRequestStatus.ACCEPTED:
        raise WorkRequestStateInvalid(f"{work_request.number} is {work_request.status}: nothing to submit yet")
    if not MilestoneStatus.can_submit(milestone.status):
        raise MilestoneStateInvalid(
            f"milestone {milestone.position} is {milestone.status}: "
            + ("wait for its review" if milestone.status == MilestoneStatus.SUBMITTED else "it is approved")
        )
    attempt = (Submission.objects.filter(milestone=milestone).aggregate(n=Max("attempt"))["n"] or 0) + 1
    now = timezone.now()
    submission = Submission(
        id=submission_id,
        milestone=milestone,
        attempt=attempt,
        note=note,
        submitted_by=actor,
        submitted_at=now,
    )
    try:
        with transaction.atomic():
            submission.save(force_insert=True)
    except IntegrityError as exc:
        raise MilestoneStateInvalid(f"milestone {milestone.position} already has an open submission") from exc
    for row in rows:
        row.submission = submission
        row.save(force_insert=True)
    milestone.status = MilestoneStatus.SUBMITTED
    milestone.save(update_fields=["status", "updated_at"])
    audit.record(
        actor,
        "milestone.submitted",
        submission,
        after=submission_snapshot(submission),
        project=work_request.project,
        request=request,
    )
    events.emit(
        "milestone.submitted",
        aggregate=submission,
        payload={
            "submission_id": submission.pk,
            "milestone_id": milestone.pk,
            "work_request_id": work_request.pk,
            "contractor_id": work_request.vendor_id,
            "attempt": attempt,
            "files": len(rows),
        },
        project=work_request.project,
    )
    reviewers = [u for u in (work_request.sent_by, work_request.created_by) if u is not None]
    notify(
        recipients=reviewers,
        kind="milestone.submitted",
        title=f"{work_request.vendor.name} submitted milestone {milestone.position} of {work_request.number}",
        body=f"{milestone.title} (attempt {attempt}, {len(rows)} file(s)). Review it to approve or ask for a revision.",
        link=f"/milestones/{milestone.pk}",
        project_id=work_request.project_id,
    )
    return submission


@transaction.atomic
def submission_review(
    *,
    actor: User,
    submission: Submission,
    decision: SubmissionStatus | str,
    note: str = "",
    request: HttpRequest | None = None,
) -> Submission:
    """A project manager reviews an open submission.

    * ``approved``: stores ``approval_status``, ``approved_at`` and the approver, and in the same transaction
      creates the milestone's self-billed invoice and submits it (ENCUMBER;
      :func:`payor.invoices.services.invoice_create_self_billed`); the milestone is ``approved`` and linked to it.
    * ``revision_requested`` (a note is required): the contractor may submit again (a new attempt).

    Repeating the decision already taken is a no-op (two reviewers racing: one invoice). Refusals (nothing
    written): ``permission_denied`` (``submission.review``; contractors never hold it),
    ``approval_submitter_cannot_approve``, ``approval_vendor_conflict`` (the reviewer is linked to the
    contractor), ``submission_state_invalid`` (decided otherwise already), ``submission_invalid`` (decision,
    note), and the invoice's submission refusals (vendor compliance, commitment).
    """
    from payor.invoices.services import invoice_create_self_billed

    try:
        decision = SubmissionStatus(decision)
    except ValueError as exc:
        raise SubmissionInvalid("the decision is approved or revision_requested", field="decision") from exc
    if decision == SubmissionStatus.SUBMITTED:
        raise SubmissionInvalid("the decision is approved or revision_requested", field="decision")
    milestone_ref = Milestone.objects.only("pk", "work_request_id").get(pk=submission.milestone_id)
    work_request, milestone = _locked_milestone(milestone_ref)
    submission = Submission.objects.select_for_update(of=("self",)).select_related("submitted_by").get(pk=submission.pk)
    submission.milestone = milestone
    require_permission(actor, Perm.SUBMISSION_REVIEW, project=work_request.project_id)
    if submission.approval_status == decision:
        return submission
    if submission.approval_status != SubmissionStatus.SUBMITTED:
        raise SubmissionStateInvalid(f"attempt {submission.attempt} is already {submission.approval_status}")
    if actor.pk == submission.submitted_by_id:
        raise ApprovalSubmitterCannotApprove("The submitter of a deliverable cannot review it")
    if (
        work_request.vendor_id in vendor_ids_for(actor, work_request.project_id)
        or VendorUser.objects.filter(vendor_id=work_request.vendor_id, user_id=actor.pk).exists()
    ):
        raise ApprovalVendorConflict("You are linked to this contractor: someone else reviews its deliverables")
    note = _plain_text(note, field="note", limit=SUBMISSION_NOTE_MAX, invalid=SubmissionInvalid)
    if decision == SubmissionStatus.REVISION_REQUESTED and not note:
        raise SubmissionInvalid("a revision request needs a note saying what to change", field="note")
    before = submission_snapshot(submission)
    now = timezone.now()
    submission.approval_status = decision
    submission.reviewed_at = now
    submission.reviewer = actor
    submission.review_note = note
    invoice = None
    if decision == SubmissionStatus.APPROVED:
        invoice = invoice_create_self_billed(actor=actor, submission=submission, request=request)
        submission.approved_at = now
        submission.approver = actor
        submission.invoice = invoice
        milestone.invoice = invoice
        milestone.status = MilestoneStatus.APPROVED
    else:
        milestone.status = MilestoneStatus.REVISION_REQUESTED
    submission.save(
        update_fields=[
            "approval_status",
            "reviewed_at",
            "reviewer",
            "review_note",
            "approved_at",
            "approver",
            "invoice",
            "updated_at",
        ]
    )
    milestone.save(update_fields=["status", "invoice", "updated_at"])
    topic = "milestone.approved" if invoice is not None else "milestone.revision_requested"
    audit.record(
        actor,
        topic,
        submission,
        before=before,
        after=submission_snapshot(submission) | {"invoice": None if invoice is None else invoice.pk},
        project=work_request.project,
        request=request,
    )
    payload: dict[str, object] = {
        "submission_id": submission.pk,
        "milestone_id": milestone.pk,
        "work_request_id": work_request.pk,
        "contractor_id": work_request.vendor_id,
        "approval_status": submission.approval_status,
    }
    if invoice is not None:
        payload |= {
            "approved_at": now,
            "approver_id": actor.pk,
            "invoice_id": invoice.pk,
            "amount": milestone.amount,
            "net_payable": invoice.net_payable,
        }
    else:
        payload |= {"note": note}
    events.emit(topic, aggregate=submission, payload=payload, project=work_request.project)
    contractor = [submission.submitted_by, *_acting_users(work_request)]
    if invoice is not None:
        title = f"Milestone {milestone.position} of {work_request.number} approved"
        body = (
            f"{milestone.title} was approved. Self-billed invoice {invoice.number} for "
            f"{invoice.total.amount_str()} {invoice.currency} (net {invoice.net_payable.amount_str()}) is in "
            "approval; it is paid per the agreed terms once approved."
        )
    else:
        title = f"Revision requested: milestone {milestone.position} of {work_request.number}"
        body = f"{milestone.title}: {note}"
    notify(
        recipients=contractor,
        kind=topic,
        title=title,
        body=body,
        link=f"/milestones/{milestone.pk}",
        project_id=work_request.project_id,
    )
    return submission


def milestone_invoice_rejected(
    *, actor: User, invoice: Invoice, reason: str, request: HttpRequest | None = None
) -> Milestone | None:
    """A milestone's self-billed invoice was rejected through the approval matrix: the milestone goes back to
    ``revision_requested`` (its ``invoice`` cleared; the approved submission keeps the link to the rejected
    invoice) so the contractor can submit again and a new approval bills it anew. None for an invoice that bills
    no milestone.

    Called by :func:`payor.invoices.services.invoice_decide` inside its transaction, the contract and the invoice
    locked. It locks only the milestone row, never the work request (whose lock comes before the contract's in
    the review), so the two lock orders cannot cross.
    """
    milestone = (
        Milestone.objects.select_for_update(of=("self",))
        .select_related("work_request", "work_request__project", "work_request__vendor")
        .filter(invoice_id=invoice.pk)
        .first()
    )
    if milestone is None:
        return None
    work_request = milestone.work_request
    before = {"status": milestone.status, "invoice": milestone.invoice_id}
    milestone.status = MilestoneStatus.REVISION_REQUESTED
    milestone.invoice = None
    milestone.save(update_fields=["status", "invoice", "updated_at"])
    audit.record(
        actor,
        "milestone.invoice_rejected",
        milestone,
        before=before,
        after={"status": milestone.status, "invoice": None, "rejected_invoice": invoice.pk, "reason": reason},
        project=work_request.project,
        request=request,
    )
    events.emit(
        "milestone.revision_requested",
        aggregate=milestone,
        payload={
            "milestone_id": milestone.pk,
            "work_request_id": work_request.pk,
            "contractor_id": work_request.vendor_id,
            "approval_status": "revision_requested",
            "invoice_id": invoice.pk,
            "note": reason,
        },
        project=work_request.project,
    )
    last = Submission.objects.filter(milestone=milestone).select_related("submitted_by").order_by("-attempt").first()
    notify(
        recipients=[*([last.submitted_by] if last else []), *_acting_users(work_request)],
        kind="milestone.revision_requested",
        title=f"Milestone {milestone.position} of {work_request.number} needs another submission",
        body=f"Its self-billed invoice {invoice.number} was rejected in approval: {reason}",
        link=f"/milestones/{milestone.pk}",
        project_id=work_request.project_id,
    )
    return milestone
