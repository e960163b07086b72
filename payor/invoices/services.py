"""Invoice writes: lock, check, write, ledger, audit, enqueue — one transaction each.

Lifecycle (seed 004, design §6)::

    draft ──submit──▶ submitted ──first approval / review started──▶ under_review ──last approval──▶ approved
      ▲                   │                                              │
      └── returned for revision or withdrawn (RELEASE, new round) ◀─────┤
                          └──────────── rejected (RELEASE) ◀─────────────┘

``approved → scheduled → paid → closed`` belong to payment runs (the payments app).

Ledger effects: submission ENCUMBERs each coding line's gross (subtotal share + taxes share) from the
contract's remaining commitment on that budget line, and the payer's fees from available; a rejection, a
return or a withdrawal RELEASEs exactly that back; the last approval moves retention and withholding on
(RETAIN, WITHHOLD). Transfer ids derive from ``invoice:<id>:r<round>``, so a repeated call can never post
twice.

Lock order: the project row (numbering, creation only), the contract, the invoice, the vendor (``FOR SHARE``,
compliance), then ledger accounts — the same order as the contract services (contract, budget lines, ledger).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from payor import audit, events
from payor.accounts.models import User
from payor.approvals.decisions import ApprovalItem, approval_decide, approval_item_plan
from payor.approvals.errors import ApprovalNotAllowed
from payor.approvals.models import ApprovalTarget, Decision
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Contract,
    ContractStatus,
    Submission,
)
from payor.core.errors import PermissionDenied
from payor.core.files import ATTACHMENT_TYPES, upload_store, upload_validate
from payor.core.ids import new_id
from payor.core.money import Money
from payor.invoices.errors import (
    InvoiceChangeOrderPending,
    InvoiceCodingLineNotOnContract,
    InvoiceCodingLineUnknown,
    InvoiceCommitmentExceeded,
    InvoiceContractNotExecuted,
    InvoiceInvalid,
    InvoiceNteExceeded,
    InvoicePeriodInvalid,
    InvoiceReferenceTaken,
    InvoiceSovExceedsNte,
    InvoiceSovScheduledValueChanged,
    InvoiceStateInvalid,
)
from payor.invoices.math import CodingIn, InvoiceFigures, SovLineIn, invoice_figures
from payor.invoices.models import (
    Invoice,
    InvoiceAttachment,
    InvoiceCoding,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
)
from payor.ledger import selectors as ledger_selectors
from payor.ledger import services as ledger
from payor.projects.models import BudgetLine, Project
from payor.rbac.permissions import Perm, has_permission, require_permission, vendor_ids_for
from payor.rbac.roles import ProjectRole
from payor.vendors.compliance import vendor_compliance_check

REFERENCE_MAX = 64
DESCRIPTION_MAX = 4000
ATTACHMENT_DESCRIPTION_MAX = 200
MAX_ATTACHMENTS = 50


class InvoiceStorageUnavailable(InvoiceInvalid):
    code = "invoice_storage_unavailable"
    status = 503
    title = "The attachment could not be stored; try again"


@dataclass(frozen=True)
class InvoiceInput:
    """What a vendor enters: the billing period, SOV lines, coding and the invoice's own figures to check."""

    period_start: dt.date
    period_end: dt.date
    lines: Sequence[SovLineIn]
    coding: Sequence[CodingIn]
    taxes: Money | None = None
    withholds: Money | None = None
    fees: Money | None = None
    vendor_reference: str = ""
    description: str = ""
    claimed_retention: Money | None = None
    claimed_total: Money | None = None


# --------------------------------------------------------------------------------------------------------
# Reading helpers (inside the transaction, under the contract lock)
# --------------------------------------------------------------------------------------------------------


def _billed(contract: Contract, *, excluding: uuid.UUID | None) -> Any:
    query = Invoice.objects.filter(contract=contract, status__in=InvoiceStatus.billed())
    return query.exclude(pk=excluding) if excluding else query


def _previous_by_item(contract: Contract, *, excluding: uuid.UUID | None) -> dict[str, Money]:
    """What the contract's billed invoices (other than ``excluding``) billed per SOV item."""
    rows = (
        InvoiceLine.objects.filter(invoice__in=_billed(contract, excluding=excluding))
        .values("item_code")
        .annotate(billed=Sum("this_period"))
    )
    return {row["item_code"]: Money.of_minor(int(row["billed"]), contract.currency) for row in rows}


def _scheduled_by_item(contract: Contract, *, excluding: uuid.UUID | None) -> dict[str, Money]:
    """The latest scheduled value of every SOV item billed on the contract so far."""
    latest: dict[str, Money] = {}
    lines: Any = (  # raw minor units: values_list bypasses the MoneyField descriptor
        InvoiceLine.objects.filter(invoice__in=_billed(contract, excluding=excluding))
        .order_by("invoice__submitted_at", "position")
        .values_list("item_code", "scheduled_value")
    )
    for code, minor in lines:
        latest[code] = Money.of_minor(int(minor), contract.currency)
    return latest


def _pending_increase(contract: Contract, budget_line_id: uuid.UUID | None = None) -> Money:
    """Positive deltas of the contract's pending change orders (on one budget line, or in all)."""
    if budget_line_id is None:
        rows = ChangeOrder.objects.filter(contract=contract, status=ChangeOrderStatus.PENDING, delta__gt=0)
        total = rows.aggregate(total=Sum("delta"))["total"] or 0
    else:
        lines = ChangeOrderLine.objects.filter(
            change_order__contract=contract,
            change_order__status=ChangeOrderStatus.PENDING,
            budget_line_id=budget_line_id,
            delta__gt=0,
        )
        total = lines.aggregate(total=Sum("delta"))["total"] or 0
    return Money.of_minor(int(total), contract.currency)


def _schedule_check(contract: Contract, lines: Sequence[SovLineIn], *, excluding: uuid.UUID | None) -> None:
    """An SOV item keeps the scheduled value earlier invoices billed it at: restating it would let an item be
    billed past what was agreed. Added scope (a change order) is billed as a new item."""
    scheduled = _scheduled_by_item(contract, excluding=excluding)
    for index, line in enumerate(lines):
        agreed = scheduled.get((line.item_code or "").strip())
        if agreed is not None and line.scheduled_value != agreed:
            raise InvoiceSovScheduledValueChanged(
                f"item {line.item_code} is scheduled at {agreed.amount_str()} on earlier invoices; bill a change "
                "order's scope as a new item",
                item_code=line.item_code,
                scheduled_value=agreed.amount_str(),
                field=f"lines[{index}]",
            )


def _figures(contract: Contract, data: InvoiceInput, *, excluding: uuid.UUID | None) -> InvoiceFigures:
    currency = contract.currency
    zero = Money.zero(currency)
    _schedule_check(contract, data.lines, excluding=excluding)
    return invoice_figures(
        currency=currency,
        lines=data.lines,
        previous=_previous_by_item(contract, excluding=excluding),
        coding=data.coding,
        taxes=data.taxes if data.taxes is not None else zero,
        withholds=data.withholds if data.withholds is not None else zero,
        fees=data.fees if data.fees is not None else zero,
        retention_percent=contract.retention_percent,
        discount_percent=contract.discount_percent,
        claimed_retention=data.claimed_retention,
        claimed_total=data.claimed_total,
    )


def invoice_price(*, contract: Contract, data: InvoiceInput) -> InvoiceFigures:
    """Price a new invoice of ``contract`` exactly as :func:`invoice_create` would, without writing anything (the
    vendor portal's live totals): previous billing per SOV item, retention, taxes, withholding, discount and the
    coding split, with the same refusals (codes and fields) as entering it."""
    return _figures(contract, data, excluding=None)


def _coding_lines_check(contract: Contract, coding: Sequence[CodingIn]) -> None:
    """Each coded line is an open leaf line of the project with an allocation on the contract."""
    ids = [part.budget_line_id for part in coding]
    lines = {
        line.pk: line
        for line in BudgetLine.objects.filter(project=contract.project_id, pk__in=ids, archived_at__isnull=True)
    }
    parents = set(
        BudgetLine.objects.filter(parent_id__in=ids, archived_at__isnull=True).values_list("parent_id", flat=True)
    )
    allocated = set(contract.allocations.values_list("budget_line_id", flat=True))
    for index, line_id in enumerate(ids):
        if line_id not in lines or line_id in parents:
            raise InvoiceCodingLineUnknown(
                f"coding[{index}]: no open leaf budget line {line_id} on this project",
                budget_line_id=str(line_id),
                field=f"coding[{index}]",
            )
        if line_id not in allocated:
            raise InvoiceCodingLineNotOnContract(
                f"coding[{index}]: line {lines[line_id].wbs_code} is not allocated on {contract.number}",
                budget_line_id=str(line_id),
                field=f"coding[{index}]",
            )


def _period_check(start: dt.date, end: dt.date, *, today: dt.date) -> None:
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        raise InvoicePeriodInvalid("the billing period needs a start and an end date", field="period_start")
    if end < start:
        raise InvoicePeriodInvalid("the billing period ends before it starts", field="period_end")
    if end > today:
        raise InvoicePeriodInvalid("the billing period cannot end in the future", field="period_end")


def _submitter_check(actor: User, contract: Contract) -> None:
    """Vendor invoices are submitted by a user acting for the contract's vendor (an active VENDOR role)."""
    require_permission(actor, Perm.INVOICE_SUBMIT, project=contract.project_id)
    if contract.vendor_id not in vendor_ids_for(actor, contract.project_id):
        raise PermissionDenied("You submit invoices only for the vendor you act for on this project")


def _locked_contract(contract_id: uuid.UUID) -> Contract:
    return (
        Contract.objects.select_for_update(of=("self",))
        .select_related("project", "bucket", "vendor")
        .get(pk=contract_id)
    )


def _locked(invoice: Invoice) -> Invoice:
    """The contract, then the invoice, locked (see the module docstring's lock order)."""
    contract = _locked_contract(invoice.contract_id)
    locked = Invoice.objects.select_for_update(of=("self",)).select_related("submitted_by").get(pk=invoice.pk)
    locked.contract = contract
    locked.project = contract.project
    return locked


def _party(contract: Contract) -> ledger.Party:
    return ledger.Party(bucket=contract.bucket, contract_id=contract.pk, vendor_id=contract.vendor_id)


def _key(invoice: Invoice) -> str:
    return f"invoice:{invoice.pk}:r{invoice.round}"


def invoice_snapshot(invoice: Invoice) -> dict[str, object]:
    """What the audit log keeps of an invoice (figures, status, lines and coding)."""
    return {
        "number": invoice.number,
        "contract": invoice.contract_id,
        "vendor": invoice.vendor_id,
        "vendor_reference": invoice.vendor_reference,
        "period": f"{invoice.period_start}/{invoice.period_end}",
        "status": invoice.status,
        "round": invoice.round,
        "subtotal": invoice.subtotal,
        "taxes": invoice.taxes,
        "total": invoice.total,
        "retention": invoice.retention,
        "withholds": invoice.withholds,
        "early_pay_discount": invoice.early_pay_discount,
        "fees": invoice.fees,
        "net_payable": invoice.net_payable,
        "due_on": invoice.due_on,
        "lines": {line.item_code: line.this_period for line in invoice.lines.all()},
        "coding": {str(part.budget_line_id): part.amount for part in invoice.coding.all().order_by("budget_line_id")},
    }


# --------------------------------------------------------------------------------------------------------
# Writing the document
# --------------------------------------------------------------------------------------------------------


def _store_figures(invoice: Invoice, figures: InvoiceFigures) -> None:
    invoice.subtotal = figures.subtotal
    invoice.taxes = figures.taxes
    invoice.total = figures.total
    invoice.retention = figures.retention
    invoice.withholds = figures.withholds
    invoice.early_pay_discount = figures.early_pay_discount
    invoice.net_payable = figures.net_payable
    invoice.fees = figures.fees


def _store_parts(invoice: Invoice, figures: InvoiceFigures) -> None:
    """(Re)write the SOV lines and coding rows from ``figures``."""
    invoice.lines.all().delete()
    invoice.coding.all().delete()
    currency = invoice.currency
    for position, figure in enumerate(figures.lines, start=1):
        line = InvoiceLine(
            invoice=invoice,
            position=position,
            item_code=figure.item_code,
            description=figure.description,
            currency=currency,
            percent_complete=figure.percent_complete,
        )
        line.scheduled_value = figure.scheduled_value
        line.previous = figure.previous
        line.this_period = figure.this_period
        line.retention = figure.retention
        line.save(force_insert=True)
    for part in figures.coding:
        row = InvoiceCoding(invoice=invoice, budget_line_id=part.budget_line_id, currency=currency)
        row.amount = part.amount
        row.taxes = part.taxes
        row.gross = part.gross
        row.retention = part.retention
        row.withholds = part.withholds
        row.save(force_insert=True)


def _text(value: str, *, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit or "\x00" in value:
        raise InvoiceInvalid(f"{field} is at most {limit} characters", field=field)
    return value


def _save(invoice: Invoice, **kwargs: Any) -> None:
    """Save, turning a duplicate vendor invoice number into ``invoice_reference_taken``."""
    try:
        with transaction.atomic():
            invoice.save(**kwargs)
    except IntegrityError as exc:
        if "invoices_vendor_reference_unique" in str(exc):
            raise InvoiceReferenceTaken(
                f"{invoice.vendor_reference} was already billed on this contract",
                vendor_reference=invoice.vendor_reference,
            ) from exc
        raise


@transaction.atomic
def invoice_create(
    *,
    actor: User,
    contract: Contract,
    data: InvoiceInput,
    submit: bool = True,
    request: HttpRequest | None = None,
) -> Invoice:
    """Enter a vendor invoice against an executed contract and, by default, submit it (seed 004's
    ``POST /invoices``). With ``submit=False`` it stays a draft the vendor can change and submit later.

    Refusals write nothing: every figure, line and coding check of :func:`payor.invoices.math.invoice_figures`,
    the coding lines (``invoice_coding_line_unknown``, ``invoice_coding_line_not_on_contract``), the period,
    a duplicate vendor number (``invoice_reference_taken``), then on submission those of :func:`invoice_submit`.
    """
    Project.objects.select_for_update(no_key=True).filter(pk=contract.project_id).first()
    contract = _locked_contract(contract.pk)
    _submitter_check(actor, contract)
    if not ContractStatus.can_change(contract.status):
        raise InvoiceContractNotExecuted(f"{contract.number} is {contract.status}")
    _period_check(data.period_start, data.period_end, today=timezone.localdate())
    figures = _figures(contract, data, excluding=None)
    _coding_lines_check(contract, data.coding)
    count = Invoice.objects.filter(project=contract.project).count()
    invoice = Invoice(
        id=new_id(),
        project=contract.project,
        contract=contract,
        vendor=contract.vendor,
        kind=InvoiceKind.VENDOR,
        number=f"INV-{count + 1:04d}",
        vendor_reference=_text(data.vendor_reference, field="vendor_reference", limit=REFERENCE_MAX),
        period_start=data.period_start,
        period_end=data.period_end,
        description=_text(data.description, field="description", limit=DESCRIPTION_MAX),
        currency=contract.currency,
        retention_percent=contract.retention_percent,
        created_by=actor,
    )
    _store_figures(invoice, figures)
    _save(invoice, force_insert=True)
    _store_parts(invoice, figures)
    audit.record(
        actor, "invoice.created", invoice, after=invoice_snapshot(invoice), project=contract.project, request=request
    )
    if submit:
        return _submit(actor=actor, invoice=invoice, request=request)
    return invoice


def invoice_create_self_billed(*, actor: User, submission: Submission, request: HttpRequest | None = None) -> Invoice:
    """The self-billed invoice of an approved milestone submission (seed 000's invoice-free flow), submitted at once.

    Call inside the review's transaction (``payor.contracts.services.submission_review``), with the work request,
    milestone and submission locked; ``actor`` is the reviewer who approved. The invoice is the payer's document
    on the work request's contract: one SOV line for the milestone (item ``M<position>``, scheduled and billed at
    the milestone amount), coded in full to the milestone's budget line, retention at the contract's percentage,
    no taxes, withholding or fees. It is submitted in the same transaction (vendor compliance, NTE and commitment
    checks, ENCUMBER) with ``submitted_by`` = the contractor user who submitted the deliverable, then follows the
    invoice lifecycle and the approval matrix like any invoice. Refusals are :func:`invoice_submit`'s (nothing is
    written: the caller's transaction rolls back).
    """
    milestone = submission.milestone
    work_request = milestone.work_request
    if work_request.contract_id is None:
        raise InvoiceContractNotExecuted("the work request has no contract")
    Project.objects.select_for_update(no_key=True).filter(pk=work_request.project_id).first()
    contract = _locked_contract(work_request.contract_id)
    if not ContractStatus.can_change(contract.status):
        raise InvoiceContractNotExecuted(f"{contract.number} is {contract.status}")
    today = timezone.localdate()
    accepted_on = timezone.localdate(work_request.accepted_at) if work_request.accepted_at else today
    data = InvoiceInput(
        period_start=min(accepted_on, today),
        period_end=today,
        lines=[
            SovLineIn(
                item_code=f"M{milestone.position}",
                description=milestone.title[:300],
                scheduled_value=milestone.amount,
                this_period=milestone.amount,
            )
        ],
        coding=[CodingIn(milestone.budget_line_id, milestone.amount)],
        description=f"Self-billed: {work_request.number} milestone {milestone.position}, {milestone.title}"[
            :DESCRIPTION_MAX
        ],
    )
    figures = _figures(contract, data, excluding=None)
    _coding_lines_check(contract, data.coding)
    count = Invoice.objects.filter(project=contract.project).count()
    invoice = Invoice(
        id=new_id(),
        project=contract.project,
        contract=contract,
        vendor=contract.vendor,
        kind=InvoiceKind.SELF_BILLED,
        number=f"INV-{count + 1:04d}",
        period_start=data.period_start,
        period_end=data.period_end,
        description=data.description,
        currency=contract.currency,
        retention_percent=contract.retention_percent,
        created_by=actor,
    )
    _store_figures(invoice, figures)
    _save(invoice, force_insert=True)
    _store_parts(invoice, figures)
    audit.record(
        actor,
        "invoice.created",
        invoice,
        after=invoice_snapshot(invoice) | {"kind": invoice.kind, "submission": submission.pk},
        project=contract.project,
        request=request,
    )
    return _submit(actor=actor, invoice=invoice, request=request, submitter=submission.submitted_by)


@transaction.atomic
def invoice_update(*, actor: User, invoice: Invoice, data: InvoiceInput, request: HttpRequest | None = None) -> Invoice:
    """Change a draft (new or returned for revision): lines, coding, figures, period, reference."""
    invoice = _locked(invoice)
    contract = invoice.contract
    _submitter_check(actor, contract)
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceStateInvalid(f"only a draft can be changed; {invoice.number} is {invoice.status}")
    if invoice.kind == InvoiceKind.SELF_BILLED:
        raise InvoiceStateInvalid(
            f"{invoice.number} is self-billed: its figures are the approved milestone's and are not edited"
        )
    before = invoice_snapshot(invoice)
    _period_check(data.period_start, data.period_end, today=timezone.localdate())
    figures = _figures(contract, data, excluding=invoice.pk)
    _coding_lines_check(contract, data.coding)
    invoice.period_start = data.period_start
    invoice.period_end = data.period_end
    invoice.vendor_reference = _text(data.vendor_reference, field="vendor_reference", limit=REFERENCE_MAX)
    invoice.description = _text(data.description, field="description", limit=DESCRIPTION_MAX)
    invoice.retention_percent = contract.retention_percent
    _store_figures(invoice, figures)
    _save(invoice)
    _store_parts(invoice, figures)
    audit.record(
        actor,
        "invoice.updated",
        invoice,
        before=before,
        after=invoice_snapshot(invoice),
        project=contract.project,
        request=request,
    )
    return invoice


def _stored_input(invoice: Invoice) -> InvoiceInput:
    """The draft as entered (this-period amounts, coding and the payer's amounts) for re-pricing at submission."""
    return InvoiceInput(
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        lines=[
            SovLineIn(line.item_code, line.description, line.scheduled_value, this_period=line.this_period)
            for line in invoice.lines.all()
        ],
        coding=[CodingIn(part.budget_line_id, part.amount) for part in invoice.coding.all()],
        taxes=invoice.taxes,
        withholds=invoice.withholds,
        fees=invoice.fees,
    )


def _contract_checks(contract: Contract, invoice: Invoice, figures: InvoiceFigures) -> None:
    """Seed 004's system checks against the contract: SOV within the NTE, billed to date within the NTE
    (or waiting on a pending change order), and each coded line within the remaining commitment."""
    nte = contract.not_to_exceed
    scheduled = _scheduled_by_item(contract, excluding=invoice.pk)
    scheduled.update({line.item_code: line.scheduled_value for line in figures.lines})
    schedule_total = Money.sum(scheduled.values(), contract.currency)
    pending = _pending_increase(contract)
    if schedule_total > nte:
        if schedule_total <= nte + pending:
            raise InvoiceChangeOrderPending(
                f"the schedule of values ({schedule_total.amount_str()}) counts on a change order not approved yet",
                not_to_exceed=nte.amount_str(),
            )
        raise InvoiceSovExceedsNte(
            f"the schedule of values adds up to {schedule_total.amount_str()}; the NTE is {nte.amount_str()}",
            schedule_total=schedule_total.amount_str(),
            not_to_exceed=nte.amount_str(),
        )
    billed = _billed(contract, excluding=invoice.pk).aggregate(total=Sum("total"))["total"] or 0
    to_date = Money.of_minor(int(billed), contract.currency) + figures.total
    if to_date > nte:
        error = InvoiceChangeOrderPending if to_date <= nte + pending else InvoiceNteExceeded
        raise error(
            f"billed to date would be {to_date.amount_str()}; the NTE is {nte.amount_str()}",
            billed_to_date=to_date.amount_str(),
            not_to_exceed=nte.amount_str(),
        )
    remaining = ledger_selectors.contract_committed_by_line(contract_id=contract.pk)
    zero = Money.zero(contract.currency)
    for part in figures.coding:
        room = remaining.get(part.budget_line_id, zero)
        if part.gross > room:
            line = BudgetLine.objects.get(pk=part.budget_line_id)
            line_error: type[InvoiceChangeOrderPending | InvoiceCommitmentExceeded] = (
                InvoiceChangeOrderPending
                if part.gross <= room + _pending_increase(contract, part.budget_line_id)
                else InvoiceCommitmentExceeded
            )
            raise line_error(
                f"line {line.wbs_code}: {part.gross.amount_str()} coded, {room.amount_str()} still committed",
                budget_line_id=str(part.budget_line_id),
                remaining_commitment=room.amount_str(),
            )


def _submit(*, actor: User, invoice: Invoice, request: HttpRequest | None, submitter: User | None = None) -> Invoice:
    """Submit a locked draft: re-price against what is billed now, run every check, ENCUMBER.

    ``submitter`` (default ``actor``) is recorded as ``submitted_by``: for a self-billed invoice, the contractor
    user whose deliverable was approved, so the matrix's submitter-is-not-an-approver rule applies to them.
    """
    contract = invoice.contract
    if not ContractStatus.can_change(contract.status):
        raise InvoiceContractNotExecuted(f"{contract.number} is {contract.status}")
    vendor_compliance_check(vendor=contract.vendor, on=timezone.localdate(), lock=True)
    _period_check(invoice.period_start, invoice.period_end, today=timezone.localdate())
    before = invoice_snapshot(invoice)
    figures = _figures(contract, _stored_input(invoice), excluding=invoice.pk)
    _coding_lines_check(contract, [CodingIn(part.budget_line_id, part.amount) for part in figures.coding])
    _contract_checks(contract, invoice, figures)
    _store_figures(invoice, figures)
    _store_parts(invoice, figures)
    party = _party(contract)
    ledger.encumber(
        party=party,
        lines=[ledger.Line(part.gross, part.budget_line_id) for part in figures.coding],
        key=_key(invoice),
        invoice_id=invoice.pk,
        actor_id=actor.pk,
    )
    ledger.fee_encumber(party=party, amount=figures.fees, key=_key(invoice), invoice_id=invoice.pk, actor_id=actor.pk)
    invoice.status = InvoiceStatus.SUBMITTED
    invoice.submitted_by = submitter or actor
    invoice.submitted_at = timezone.now()
    _save(invoice)
    audit.record(
        actor,
        "invoice.submitted",
        invoice,
        before=before,
        after=invoice_snapshot(invoice),
        project=contract.project,
        request=request,
    )
    events.emit(
        "invoice.submitted",
        aggregate=invoice,
        payload={
            "invoice_id": invoice.pk,
            "contract_id": contract.pk,
            "vendor_id": invoice.vendor_id,
            "round": invoice.round,
            "total": invoice.total,
            "net_payable": invoice.net_payable,
        },
        project=contract.project,
    )
    return invoice


@transaction.atomic
def invoice_submit(*, actor: User, invoice: Invoice, request: HttpRequest | None = None) -> Invoice:
    """Submit a draft (new or revised). Submitting an invoice that is already submitted in this round is a
    no-op (a double click encumbers once). Refusals, nothing written: ``invoice_contract_not_executed``, the
    vendor compliance codes, ``invoice_period_invalid``, ``invoice_sov_over_scheduled``,
    ``invoice_sov_exceeds_nte``, ``invoice_nte_exceeded``, ``invoice_change_order_pending``,
    ``invoice_commitment_exceeded``, ``insufficient_funds`` (fees)."""
    invoice = _locked(invoice)
    _submitter_check(actor, invoice.contract)
    if invoice.status in InvoiceStatus.in_review():
        return invoice
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceStateInvalid(f"{invoice.number} is {invoice.status}")
    return _submit(actor=actor, invoice=invoice, request=request)


# --------------------------------------------------------------------------------------------------------
# Review and decisions
# --------------------------------------------------------------------------------------------------------


def invoice_item(invoice: Invoice) -> ApprovalItem:
    """The invoice as the approval rules see it: its total decides the band."""
    return ApprovalItem(
        project=invoice.project,
        target_type=ApprovalTarget.INVOICE,
        target_id=invoice.pk,
        amount=invoice.total,
        submitter=invoice.submitted_by,
        round=invoice.round,
        vendor_id=invoice.vendor_id,
    )


def _release(actor: User, invoice: Invoice) -> None:
    """Give back what the current round encumbered: each coding line's gross to the commitment, fees to available."""
    party = _party(invoice.contract)
    ledger.encumbrance_release(
        party=party,
        lines=[ledger.Line(part.gross, part.budget_line_id) for part in invoice.coding.all()],
        key=_key(invoice),
        invoice_id=invoice.pk,
        actor_id=actor.pk,
    )
    ledger.fee_release(party=party, amount=invoice.fees, key=_key(invoice), invoice_id=invoice.pk, actor_id=actor.pk)


def _approve(actor: User, invoice: Invoice) -> None:
    """The last stage approved: RETAIN and WITHHOLD per line; due date and discount window from the terms."""
    party = _party(invoice.contract)
    coding = list(invoice.coding.all())
    key = _key(invoice)
    ledger.retain(
        party=party,
        lines=[ledger.Line(part.retention, part.budget_line_id) for part in coding],
        key=key,
        invoice_id=invoice.pk,
        actor_id=actor.pk,
    )
    ledger.withhold(
        party=party,
        lines=[ledger.Line(part.withholds, part.budget_line_id) for part in coding],
        key=key,
        invoice_id=invoice.pk,
        actor_id=actor.pk,
    )
    now = timezone.now()
    approved_on = timezone.localdate(now)
    invoice.status = InvoiceStatus.APPROVED
    invoice.approved_at = now
    invoice.due_on = invoice.contract.due_on(approved_on)
    invoice.discount_until = invoice.contract.discount_until(approved_on) if invoice.early_pay_discount else None
    if invoice.kind == InvoiceKind.SELF_BILLED:
        # Paid on its terms by the payments app (payor.payments.tasks), deferred in this transaction.
        from procrastinate.contrib.django import app as jobs

        jobs.configure_task("payments.invoice.autoschedule").defer(invoice_id=str(invoice.pk))


def _back_to_draft(actor: User, invoice: Invoice, note: str) -> None:
    _release(actor, invoice)
    invoice.status = InvoiceStatus.DRAFT
    invoice.round += 1
    invoice.return_note = note
    invoice.decided_at = timezone.now()


@transaction.atomic
def invoice_decide(
    *,
    actor: User,
    invoice: Invoice,
    role: ProjectRole | str,
    decision: Decision | str,
    note: str = "",
    chain_id: int | None = None,
    signature: str | None = None,
    request: HttpRequest | None = None,
) -> Invoice:
    """Record ``actor``'s decision at the ``role`` stage (the approval rules of
    :func:`payor.approvals.decisions.approval_decide`: matrix band of the total, stage order, limits,
    segregation of duties, EIP-712 signatures at the DAO stage).

    * approved, stages left: ``submitted → under_review``;
    * approved, last stage: ``approved`` (RETAIN, WITHHOLD, due date), event ``invoice.approved``;
    * rejected: ``rejected`` with the note as reason (RELEASE), event ``invoice.rejected``;
    * returned: back to ``draft`` for revision in a new round (RELEASE), event ``invoice.returned``.
    """
    invoice = _locked(invoice)
    if invoice.status not in InvoiceStatus.in_review():
        raise InvoiceStateInvalid(f"{invoice.number} is {invoice.status}: nothing to decide")
    decision = Decision(decision)
    before = invoice_snapshot(invoice)
    _, plan = approval_decide(
        actor=actor,
        item=invoice_item(invoice),
        role=role,
        decision=decision,
        note=note,
        chain_id=chain_id,
        signature=signature,
        request=request,
    )
    note = (note or "").strip()
    if decision is Decision.REJECTED:
        _release(actor, invoice)
        invoice.status = InvoiceStatus.REJECTED
        invoice.rejection_reason = note
        invoice.decided_at = timezone.now()
        if invoice.kind == InvoiceKind.SELF_BILLED:
            from payor.contracts.services import milestone_invoice_rejected  # contracts imports invoices

            milestone_invoice_rejected(actor=actor, invoice=invoice, reason=note, request=request)
    elif decision is Decision.RETURNED:
        _back_to_draft(actor, invoice, note)
    elif plan.complete:
        _approve(actor, invoice)
    else:
        invoice.status = InvoiceStatus.UNDER_REVIEW
    _save(invoice)
    action = {
        InvoiceStatus.REJECTED: "invoice.rejected",
        InvoiceStatus.DRAFT: "invoice.returned",
        InvoiceStatus.APPROVED: "invoice.approved",
    }.get(InvoiceStatus(invoice.status))
    if action is None:
        return invoice
    audit.record(
        actor, action, invoice, before=before, after=invoice_snapshot(invoice), project=invoice.project, request=request
    )
    payload: dict[str, object] = {
        "invoice_id": invoice.pk,
        "contract_id": invoice.contract_id,
        "round": before["round"],
    }
    if action == "invoice.approved":
        payload |= {"net_payable": invoice.net_payable, "due_on": invoice.due_on, "retention": invoice.retention}
    else:
        payload |= {"reason": note}
    events.emit(action, aggregate=invoice, payload=payload, project=invoice.project)
    return invoice


@transaction.atomic
def invoice_review_start(
    *, actor: User, invoice: Invoice, role: ProjectRole | str, request: HttpRequest | None = None
) -> Invoice:
    """A reviewer of the next stage takes a submitted invoice into review (``submitted → under_review``).
    Repeating it, or starting review of an invoice already under review, is a no-op."""
    invoice = _locked(invoice)
    if invoice.status not in InvoiceStatus.in_review():
        raise InvoiceStateInvalid(f"{invoice.number} is {invoice.status}")
    plan = approval_item_plan(invoice_item(invoice))
    next_stage = plan.next_stage
    role = ProjectRole(role)
    if next_stage is None or next_stage.role != role or actor not in next_stage.eligible:
        raise ApprovalNotAllowed(
            f"the {next_stage.role.value if next_stage else 'next'} stage is next: only someone who may approve it "
            "starts the review"
        )
    if invoice.status == InvoiceStatus.UNDER_REVIEW:
        return invoice
    before = invoice_snapshot(invoice)
    invoice.status = InvoiceStatus.UNDER_REVIEW
    _save(invoice)
    audit.record(
        actor,
        "invoice.review_started",
        invoice,
        before=before,
        after=invoice_snapshot(invoice),
        project=invoice.project,
        request=request,
    )
    return invoice


@transaction.atomic
def invoice_withdraw(*, actor: User, invoice: Invoice, note: str = "", request: HttpRequest | None = None) -> Invoice:
    """The vendor takes back an invoice under review (RELEASE) to revise it: back to draft, new round."""
    invoice = _locked(invoice)
    _submitter_check(actor, invoice.contract)
    if invoice.status not in InvoiceStatus.in_review():
        raise InvoiceStateInvalid(
            f"only an invoice under review can be withdrawn; {invoice.number} is {invoice.status}"
        )
    before = invoice_snapshot(invoice)
    _back_to_draft(actor, invoice, _text(note, field="note", limit=DESCRIPTION_MAX))
    _save(invoice)
    audit.record(
        actor,
        "invoice.withdrawn",
        invoice,
        before=before,
        after=invoice_snapshot(invoice),
        project=invoice.project,
        request=request,
    )
    events.emit(
        "invoice.withdrawn",
        aggregate=invoice,
        payload={"invoice_id": invoice.pk, "contract_id": invoice.contract_id, "round": before["round"]},
        project=invoice.project,
    )
    return invoice


# --------------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------------


def attachment_may_add(actor: User, invoice: Invoice) -> bool:
    """The vendor's users, and reviewers who code invoices (PM, finance), add supporting files."""
    if invoice.vendor_id in vendor_ids_for(actor, invoice.project_id):
        return True
    return has_permission(actor, Perm.INVOICE_CODE, project=invoice.project_id)


def invoice_attachment_add(
    *,
    actor: User,
    invoice: Invoice,
    file: IO[bytes] | Any,
    filename: str | None = None,
    description: str = "",
    request: HttpRequest | None = None,
) -> InvoiceAttachment:
    """Store a supporting file (PDF, PNG, JPEG, CSV or XLSX by content; size-limited) on an invoice that is
    not yet approved. Refusals: ``file_empty``, ``file_too_large`` (413), ``file_type_not_allowed`` (415),
    ``invoice_state_invalid``; nothing is stored then. Audited ``invoice.attachment_added``."""
    if not attachment_may_add(actor, invoice):
        raise PermissionDenied("You cannot add files to this invoice")
    description = _text(description, field="description", limit=ATTACHMENT_DESCRIPTION_MAX)
    checked = upload_validate(file, filename=filename, allowed=ATTACHMENT_TYPES)
    attachment = InvoiceAttachment(
        id=new_id(),
        invoice=invoice,
        original_filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        description=description,
        uploaded_by=actor,
    )
    upload_store(
        attachment.file,
        checked,
        name_stem=str(attachment.pk),
        unavailable=InvoiceStorageUnavailable,
        what="invoice attachment",
    )
    try:
        with transaction.atomic():
            locked = _locked(invoice)
            if locked.status not in (InvoiceStatus.DRAFT, *InvoiceStatus.in_review()):
                raise InvoiceStateInvalid(f"{locked.number} is {locked.status}: its file set is closed")
            if locked.attachments.count() >= MAX_ATTACHMENTS:
                raise InvoiceInvalid(f"an invoice has at most {MAX_ATTACHMENTS} attachments", field="file")
            attachment.invoice = locked
            attachment.save(force_insert=True)
            audit.record(
                actor,
                "invoice.attachment_added",
                attachment,
                after={
                    "invoice": locked.pk,
                    "filename": attachment.original_filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "sha256": attachment.sha256,
                },
                project=locked.project,
                request=request,
            )
    except BaseException:
        attachment.file.storage.delete(str(attachment.file.name))
        raise
    return attachment
