"""Writes for contracts/POs and change orders: lock, check, write, ledger, audit, enqueue — one transaction each.

Lock order (every service here and the invoice services that touch contracts): the contract row, then the
change order, then budget lines (``budget_allocation_check``, in WBS-code order), then ledger accounts
(``ledger_post``). Re-running a transition that already happened returns the object unchanged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from payor import audit, events
from payor.accounts.models import User
from payor.approvals.decisions import ApprovalItem, approval_decide
from payor.approvals.errors import ApprovalNotAllowed
from payor.approvals.models import ApprovalTarget, Decision
from payor.approvals.selectors import approval_matrix_current
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
)
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Contract,
    ContractAllocation,
    ContractStatus,
    PaymentTermsKind,
)
from payor.core.errors import DomainError
from payor.core.money import Money
from payor.ledger import selectors as ledger_selectors
from payor.ledger import services as ledger
from payor.ledger.errors import LedgerError
from payor.projects.errors import BudgetLineNotFound, BudgetLineNotLeaf
from payor.projects.models import BudgetLine, FundingBucket, Project
from payor.projects.services import budget_allocation_check
from payor.rbac.permissions import Perm, require_permission
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor

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
