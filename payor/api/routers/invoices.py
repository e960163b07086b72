"""``/api/v1/invoices``: thin edge over ``payor.invoices`` services and selectors.

Reading follows ``payor.invoices.selectors``: an invoice is visible to holders of ``invoice.view_all`` on its
project and to the users acting for its vendor there; anyone else gets 404 ``invoice_not_found`` (existence is
not leaked). A vendor's user sees stage roles and statuses but not who approved (names, emails, signer
addresses), nor the ledger effects and funds block (treasury figures). Writes are the services' (the vendor's
users enter, change, submit and withdraw; decisions follow the approval matrix, DAO stages with an EIP-712
signature from ``GET /invoices/{id}/typed-data``). Writes (POST, PUT, PATCH) accept ``Idempotency-Key``; every write
is audited.
Amounts are ``{"amount": "1250.00", "currency": "USD"}`` (decimal strings; JSON numbers are refused), and so are
percentages (``"41.67"``).
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoints' signatures through its wrapper.
import base64
import datetime as dt
import re
from typing import Annotated, Any, Literal
from uuid import UUID

from django.http import FileResponse, HttpRequest
from django.urls import reverse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import AfterValidator, ConfigDict, Field

from payor.accounts.models import User
from payor.api.pagination import Cursor
from payor.api.schemas import MoneyIn, MoneyOut, Problem
from payor.approvals.decisions import NOTE_MAX
from payor.approvals.models import ApprovalDecision, Decision
from payor.approvals.plan import ApprovalPlan
from payor.core.errors import ValidationFailed
from payor.core.money import Money
from payor.invoices import math as invoice_math
from payor.invoices import selectors, services
from payor.invoices.errors import InvoiceStatusInvalid
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceCoding, InvoiceKind, InvoiceLine, InvoiceStatus
from payor.invoices.services import DESCRIPTION_MAX, REFERENCE_MAX, InvoiceInput
from payor.rbac.roles import ProjectRole

router = Router(tags=["invoices"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}
UPLOAD_ERRORS: dict[int, type[Problem]] = {**ERRORS, 413: Problem, 415: Problem, 503: Problem}

#: A percentage as a decimal string: up to three integer digits and two decimals ("41.67", "100").
PERCENT_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,2})?$"
#: ``ApprovalDecision.chain_id`` is a BIGINT.
CHAIN_ID_MAX = 2**63 - 1
SIGNATURE_MAX = 132
_SINGLE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _single_line(value: str) -> str:
    if _SINGLE_LINE_FORBIDDEN.search(value):
        raise ValueError("must be one line without control characters")
    return value


def _text(value: str) -> str:
    if _TEXT_FORBIDDEN.search(value):
        raise ValueError("must not contain NUL or control characters")
    return value


#: Text stored in the database: PostgreSQL refuses NUL; codes, references and SOV descriptions are one line.
SingleLine = Annotated[str, AfterValidator(_single_line)]
Text = Annotated[str, AfterValidator(_text)]


#: ``PATCH /invoices/{id}/status`` targets: each names one service call.
STATUS_TARGETS = ("under_review", "approved", "rejected", "draft")


# --------------------------------------------------------------------------------------------------------------
# Schemas: out
# --------------------------------------------------------------------------------------------------------------


class PersonRef(Schema):
    id: UUID
    email: str
    name: str

    @classmethod
    def of(cls, user: User | None) -> "PersonRef | None":
        return None if user is None else cls(id=user.pk, email=user.email, name=user.display_name)


class VendorRef(Schema):
    id: UUID
    name: str


class ContractRef(Schema):
    id: UUID
    number: str
    title: str


class InvoiceSummaryOut(Schema):
    id: UUID
    number: str = Field(examples=["INV-0001"])
    project_id: UUID
    vendor: VendorRef
    contract: ContractRef
    vendor_reference: str
    period_start: dt.date
    period_end: dt.date
    status: InvoiceStatus
    round: int
    total: MoneyOut
    net_payable: MoneyOut
    due_on: dt.date | None
    submitted_at: dt.datetime | None

    @staticmethod
    def resolve_total(invoice: Invoice) -> MoneyOut:
        return MoneyOut.of(invoice.total)

    @staticmethod
    def resolve_net_payable(invoice: Invoice) -> MoneyOut:
        return MoneyOut.of(invoice.net_payable)


class PaymentTermsOut(Schema):
    kind: str = Field(examples=["early_pay"])
    net_days: int | None
    discount_percent: str | None = Field(examples=["2.00"])
    discount_days: int | None
    label: str = Field(examples=["2/10 net 30"])


class SovLineOut(Schema):
    position: int
    item_code: str
    description: str
    scheduled_value: MoneyOut
    previous: MoneyOut = Field(description="Billed on this item by the contract's earlier invoices")
    this_period: MoneyOut
    percent_complete: str = Field(description="(previous + this period) / scheduled value, rounded down")
    retention: MoneyOut = Field(description="This line's share of the invoice's retention")
    billed_to_date: MoneyOut = Field(description="previous + this period")
    balance_to_finish: MoneyOut = Field(description="scheduled value - billed to date")

    @classmethod
    def of(cls, line: InvoiceLine) -> "SovLineOut":
        billed = line.previous + line.this_period
        return cls(
            position=line.position,
            item_code=line.item_code,
            description=line.description,
            scheduled_value=MoneyOut.of(line.scheduled_value),
            previous=MoneyOut.of(line.previous),
            this_period=MoneyOut.of(line.this_period),
            percent_complete=str(line.percent_complete),
            retention=MoneyOut.of(line.retention),
            billed_to_date=MoneyOut.of(billed),
            balance_to_finish=MoneyOut.of(line.scheduled_value - billed),
        )


class CodingOut(Schema):
    budget_line_id: UUID
    wbs_code: str
    description: str
    amount: MoneyOut = Field(description="The part of the subtotal charged to the line")
    taxes: MoneyOut
    gross: MoneyOut = Field(description="amount + taxes: encumbered on the line at submission")
    retention: MoneyOut
    withholds: MoneyOut

    @classmethod
    def of(cls, part: InvoiceCoding) -> "CodingOut":
        line = part.budget_line
        return cls(
            budget_line_id=line.pk,
            wbs_code=line.wbs_code,
            description=line.description,
            **{
                name: MoneyOut.of(getattr(part, name))
                for name in ("amount", "taxes", "gross", "retention", "withholds")
            },
        )


class AttachmentOut(Schema):
    id: UUID
    invoice_id: UUID
    original_filename: str
    content_type: str = Field(description="Detected from the file's content")
    size: int
    sha256: str
    description: str
    uploaded_by: PersonRef | None = Field(description="Null for a vendor's user when someone else's")
    uploaded_at: dt.datetime
    download_url: str

    @classmethod
    def of(cls, attachment: InvoiceAttachment, view: selectors.InvoiceView) -> "AttachmentOut":
        return cls(
            id=attachment.pk,
            invoice_id=attachment.invoice_id,
            original_filename=attachment.original_filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
            description=attachment.description,
            uploaded_by=PersonRef.of(view.shows(attachment.uploaded_by)),
            uploaded_at=attachment.created_at,
            download_url=reverse(
                "api-v1:invoice_attachment_download",
                kwargs={"invoice_id": attachment.invoice_id, "attachment_id": attachment.pk},
            ),
        )


class StageOut(Schema):
    position: int
    role: ProjectRole
    signers_required: int
    signers_of: int
    signed: int = Field(description="Distinct signers so far")
    status: Literal["done", "next", "waiting"]
    signers: list[PersonRef] | None = Field(description="Who signed; null for a vendor's users")
    eligible: list[PersonRef] | None = Field(
        description="The next stage of an invoice in review: who may sign it. Null for other stages and for a "
        "vendor's users"
    )


class ApprovalPlanOut(Schema):
    """The current round's approvals under the project's current approval matrix (for a draft: what it needs)."""

    amount: MoneyOut
    matrix_version: int
    band: int = Field(description="The band's position in the matrix (1 for the lowest)")
    complete: bool
    next_role: ProjectRole | None
    stages: list[StageOut]

    @classmethod
    def of(cls, plan: ApprovalPlan, view: selectors.InvoiceView, *, in_review: bool) -> "ApprovalPlanOut":
        next_stage = plan.next_stage if in_review else None

        def people(users: tuple[User, ...]) -> list[PersonRef] | None:
            return [PersonRef(id=u.pk, email=u.email, name=u.display_name) for u in users] if view.internal else None

        return cls(
            amount=MoneyOut.of(plan.amount),
            matrix_version=plan.matrix_version,
            band=plan.band_position,
            complete=plan.complete,
            next_role=None if plan.next_stage is None else plan.next_stage.role,
            stages=[
                StageOut(
                    position=stage.position,
                    role=stage.role,
                    signers_required=stage.signers_required,
                    signers_of=stage.stage.signers_of,
                    signed=stage.signed,
                    status=stage.status.value,
                    signers=people(stage.signers),
                    eligible=people(stage.eligible) if stage is next_stage else None,
                )
                for stage in plan.stages
            ],
        )


class DecisionOut(Schema):
    id: UUID
    round: int
    role: ProjectRole
    decision: Decision
    approver: PersonRef | None = Field(description="Null for a vendor's users")
    note: str
    amount: MoneyOut
    matrix_version: int
    band: int
    decided_at: dt.datetime
    chain_id: int | None
    signer_address: str | None = Field(
        description="The linked wallet that signed (DAO multisig stages); null otherwise and for a vendor's users"
    )

    @classmethod
    def of(cls, decision: ApprovalDecision, view: selectors.InvoiceView) -> "DecisionOut":
        return cls(
            id=decision.pk,
            round=decision.round,
            role=ProjectRole(decision.role),
            decision=Decision(decision.decision),
            approver=PersonRef.of(decision.approver) if view.internal else None,
            note=decision.note,
            amount=MoneyOut.of(decision.amount),
            matrix_version=decision.matrix_version,
            band=decision.band_position,
            decided_at=decision.decided_at,
            chain_id=decision.chain_id,
            signer_address=(decision.signer_address or None) if view.internal else None,
        )


class LedgerEffectOut(Schema):
    id: str = Field(description="The transfer id, derived from the business event")
    code: str = Field(examples=["ENCUMBER"])
    phase: str
    amount: MoneyOut
    from_account: str = Field(description="Kind of the debited account", examples=["committed"])
    to_account: str = Field(description="Kind of the credited account", examples=["encumbered"])
    budget_line_id: UUID | None
    wbs_code: str | None
    posted_at: dt.datetime

    @classmethod
    def of(cls, effect: selectors.LedgerEffect) -> "LedgerEffectOut":
        transfer, line = effect.transfer, effect.budget_line
        return cls(
            id=transfer.pk,
            code=transfer.code,
            phase=transfer.phase,
            amount=MoneyOut.of(effect.amount),
            from_account=effect.from_kind,
            to_account=effect.to_kind,
            budget_line_id=transfer.budget_line_id,
            wbs_code=None if line is None else line.wbs_code,
            posted_at=transfer.created_at,
        )


class FundsLineOut(Schema):
    budget_line_id: UUID
    wbs_code: str
    coded: MoneyOut = Field(description="The invoice's gross on the line")
    remaining_commitment: MoneyOut = Field(description="What the contract still has committed on the line now")
    fits: bool = Field(description="Encumbered already, or (a draft) the gross fits the remaining commitment")


class FundsOut(Schema):
    """Seed 004's funds-availability widget."""

    bucket_available: MoneyOut = Field(description="The project bucket's available funds")
    funds_required: MoneyOut = Field(description="total - withholds - early-pay discount + fees")
    fees: MoneyOut = Field(description="Borne by the payer, from available funds")
    encumbered: bool = Field(description="Submitted or later: the money was encumbered at submission")
    covered: bool | None = Field(
        description="Submitted or later: true. A draft: every coded line fits the contract's remaining commitment "
        "and the fees fit available. Rejected: null"
    )
    lines: list[FundsLineOut]

    @classmethod
    def of(cls, funds: selectors.FundsAvailability) -> "FundsOut":
        return cls(
            bucket_available=MoneyOut.of(funds.bucket_available),
            funds_required=MoneyOut.of(funds.funds_required),
            fees=MoneyOut.of(funds.fees),
            encumbered=funds.encumbered,
            covered=funds.covered,
            lines=[
                FundsLineOut(
                    budget_line_id=line.budget_line.pk,
                    wbs_code=line.budget_line.wbs_code,
                    coded=MoneyOut.of(line.coded),
                    remaining_commitment=MoneyOut.of(line.remaining_commitment),
                    fits=line.fits,
                )
                for line in funds.lines
            ],
        )


_FIGURES = ("subtotal", "taxes", "total", "retention", "withholds", "early_pay_discount", "net_payable", "fees")


class InvoiceDetailOut(Schema):
    """Seed 004's Invoice Detail: the document, its figures, SOV lines, coding, attachments, approvals timeline,
    ledger effects and funds availability. Parts a viewer may not see are null."""

    id: UUID
    number: str
    project_id: UUID
    contract: ContractRef
    vendor: VendorRef
    kind: InvoiceKind
    vendor_reference: str
    period_start: dt.date
    period_end: dt.date
    description: str
    status: InvoiceStatus
    round: int = Field(description="Review round: a return for revision starts a new one")
    currency: str
    retention_percent: str = Field(examples=["10.00"])
    subtotal: MoneyOut
    taxes: MoneyOut
    total: MoneyOut = Field(description="subtotal + taxes")
    retention: MoneyOut
    withholds: MoneyOut
    early_pay_discount: MoneyOut
    net_payable: MoneyOut = Field(description="total - retention - withholds - early-pay discount")
    fees: MoneyOut
    funds_required: MoneyOut = Field(description="total - withholds - early-pay discount + fees")
    payment_terms: PaymentTermsOut
    due_on: dt.date | None = Field(description="Set at approval from the payment terms")
    discount_until: dt.date | None = Field(description="Last day the early-pay discount applies")
    submitted_by: PersonRef | None
    submitted_at: dt.datetime | None
    approved_at: dt.datetime | None
    decided_at: dt.datetime | None = Field(description="When it was last rejected or returned")
    rejection_reason: str
    return_note: str
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: list[SovLineOut]
    coding: list[CodingOut] = Field(description="Per budget line, in WBS-code order")
    attachments: list[AttachmentOut]
    approval: ApprovalPlanOut | None
    timeline: list[DecisionOut] = Field(description="Every decision of every round, oldest first")
    ledger: list[LedgerEffectOut] | None = Field(description="The ledger transfers (needs ledger.view)")
    funds: FundsOut | None = Field(description="Funds availability (needs project.view_totals)")

    @classmethod
    def of(cls, detail: selectors.InvoiceDetail) -> "InvoiceDetailOut":
        invoice, view = detail.invoice, detail.view
        contract = invoice.contract
        discount = contract.discount_percent
        return cls(
            id=invoice.pk,
            number=invoice.number,
            project_id=invoice.project_id,
            contract=ContractRef(id=contract.pk, number=contract.number, title=contract.title),
            vendor=VendorRef(id=invoice.vendor.pk, name=invoice.vendor.name),
            kind=InvoiceKind(invoice.kind),
            vendor_reference=invoice.vendor_reference,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            description=invoice.description,
            status=InvoiceStatus(invoice.status),
            round=invoice.round,
            currency=invoice.currency,
            retention_percent=str(invoice.retention_percent),
            **{name: MoneyOut.of(getattr(invoice, name)) for name in _FIGURES},
            funds_required=MoneyOut.of(invoice.funds_required),
            payment_terms=PaymentTermsOut(
                kind=contract.terms_kind,
                net_days=contract.net_days,
                discount_percent=None if discount is None else str(discount),
                discount_days=contract.discount_days,
                label=contract.terms_label,
            ),
            due_on=invoice.due_on,
            discount_until=invoice.discount_until,
            submitted_by=PersonRef.of(view.shows(invoice.submitted_by)),
            submitted_at=invoice.submitted_at,
            approved_at=invoice.approved_at,
            decided_at=invoice.decided_at,
            rejection_reason=invoice.rejection_reason,
            return_note=invoice.return_note,
            created_at=invoice.created_at,
            updated_at=invoice.updated_at,
            lines=[SovLineOut.of(line) for line in detail.lines],
            coding=[CodingOut.of(part) for part in detail.coding],
            attachments=[AttachmentOut.of(attachment, view) for attachment in detail.attachments],
            approval=None
            if detail.plan is None
            else ApprovalPlanOut.of(detail.plan, view, in_review=invoice.status in InvoiceStatus.in_review()),
            timeline=[DecisionOut.of(decision, view) for decision in detail.timeline],
            ledger=None if detail.ledger is None else [LedgerEffectOut.of(effect) for effect in detail.ledger],
            funds=None if detail.funds is None else FundsOut.of(detail.funds),
        )


class TypedDataOut(Schema):
    """EIP-712 typed data for ``eth_signTypedData_v4``."""

    types: dict[str, list[dict[str, str]]]
    primaryType: str  # the EIP-712 member name
    domain: dict[str, Any]
    message: dict[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Schemas: in
# --------------------------------------------------------------------------------------------------------------


class SovLineIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    item_code: SingleLine = Field(min_length=1, max_length=invoice_math.ITEM_CODE_MAX, examples=["1"])
    description: SingleLine = Field(min_length=1, max_length=invoice_math.DESCRIPTION_MAX)
    scheduled_value: MoneyIn
    this_period: MoneyIn | None = Field(default=None, description="What this invoice bills on the item; or…")
    percent_complete: str | None = Field(
        default=None,
        pattern=PERCENT_PATTERN,
        examples=["41.67"],
        description="…the cumulative percentage complete, a decimal string 0-100 (never a JSON number); this "
        "period is then scheduled x percent (half up) minus what was billed before",
    )

    def line(self) -> invoice_math.SovLineIn:
        return invoice_math.SovLineIn(
            item_code=self.item_code,
            description=self.description,
            scheduled_value=self.scheduled_value.money(),
            this_period=None if self.this_period is None else self.this_period.money(),
            percent_complete=self.percent_complete,
        )


class CodingIn(Schema):
    model_config = ConfigDict(extra="forbid")

    budget_line_id: UUID = Field(description="A leaf budget line allocated on the contract")
    amount: MoneyIn


def _money(value: MoneyIn | None) -> Money | None:
    return None if value is None else value.money()


class InvoiceDataIn(Schema):
    """The invoice as the vendor enters it. ``retention`` and ``total``, when given, are the vendor's own figures:
    checked to the cent (``invoice_retention_mismatch``, ``invoice_total_mismatch``)."""

    model_config = ConfigDict(extra="forbid")

    period_start: dt.date
    period_end: dt.date = Field(description="Not in the future")
    vendor_reference: SingleLine = Field(
        default="", max_length=REFERENCE_MAX, description="Your invoice number; unique per contract"
    )
    description: Text = Field(default="", max_length=DESCRIPTION_MAX)
    lines: list[SovLineIn] = Field(min_length=1, max_length=invoice_math.MAX_LINES)
    coding: list[CodingIn] = Field(
        min_length=1, max_length=invoice_math.MAX_LINES, description="Adds up to the subtotal"
    )
    taxes: MoneyIn | None = Field(default=None, description="Sales tax / VAT charged (default 0)")
    withholds: MoneyIn | None = Field(default=None, description="Tax withheld (default 0)")
    fees: MoneyIn | None = Field(default=None, description="Payment fees the payer bears (default 0)")
    retention: MoneyIn | None = Field(default=None, description="Your stated retention, checked to the cent")
    total: MoneyIn | None = Field(default=None, description="Your stated total, checked to the cent")

    def data(self) -> InvoiceInput:
        return InvoiceInput(
            period_start=self.period_start,
            period_end=self.period_end,
            lines=[line.line() for line in self.lines],
            coding=[invoice_math.CodingIn(part.budget_line_id, part.amount.money()) for part in self.coding],
            taxes=_money(self.taxes),
            withholds=_money(self.withholds),
            fees=_money(self.fees),
            vendor_reference=self.vendor_reference,
            description=self.description,
            claimed_retention=_money(self.retention),
            claimed_total=_money(self.total),
        )


class InvoiceIn(InvoiceDataIn):
    contract_id: UUID = Field(description="An executed contract of the vendor you act for")
    submit: bool = Field(default=True, description="false: save a draft to change and submit later")


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    note: Text = Field(default="", max_length=DESCRIPTION_MAX)


class StatusIn(Schema):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(
        max_length=32,
        json_schema_extra={"enum": list(STATUS_TARGETS)},
        description="under_review: take it into review at your stage; approved: approve your stage (the invoice "
        "stays under_review while stages remain); rejected: reject it (a note is required); draft: return it for "
        "revision (a note is required). Anything else is 422 invoice_status_invalid",
    )
    role: ProjectRole = Field(description="The stage you act for (the next stage)")
    note: Text = Field(default="", max_length=NOTE_MAX)
    chain_id: int | None = Field(default=None, ge=1, le=CHAIN_ID_MAX, description="DAO multisig stages")
    signature: str | None = Field(
        default=None,
        max_length=SIGNATURE_MAX,
        description="DAO multisig stages: the EIP-712 signature (0x + 130 hex) of GET /invoices/{id}/typed-data",
    )


class ListQuery(Schema):
    status: list[str] | None = Field(
        default=None,
        description="Repeat it or give a comma-separated list: draft, submitted, under_review, approved, "
        "scheduled, paid, closed, rejected",
    )
    vendor_id: UUID | None = None
    project_id: UUID | None = None
    contract_id: UUID | None = None
    due_before: dt.date | None = Field(default=None, description="Due on or before this date")
    due_after: dt.date | None = Field(default=None, description="Due on or after this date")

    def statuses(self) -> list[str] | None:
        if not self.status:
            return None
        names = [name.strip() for value in self.status for name in value.split(",") if name.strip()]
        unknown = sorted({name for name in names if name not in InvoiceStatus.values})
        if unknown:
            raise ValidationFailed(
                f"unknown status {', '.join(unknown)[:200]}; one of {', '.join(InvoiceStatus.values)}",
                field="status",
            )
        return names or None


class TypedDataQuery(Schema):
    role: ProjectRole = Field(default=ProjectRole.DAO_MULTISIG, description="The stage signed for")
    decision: Literal["approved", "rejected", "returned"] = "approved"
    chain_id: int = Field(ge=1, le=CHAIN_ID_MAX, description="The EIP-712 domain's chain id")


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _invoice(request: HttpRequest, invoice_id: UUID) -> Invoice:
    return selectors.invoice_get_visible(viewer=request.user, invoice_id=invoice_id)


def _detail(request: HttpRequest, invoice_id: UUID) -> InvoiceDetailOut:
    return InvoiceDetailOut.of(selectors.invoice_detail(viewer=request.user, invoice_id=invoice_id))


# --------------------------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------------------------


@router.post(
    "/invoices",
    response={201: InvoiceDetailOut, **ERRORS},
    summary="Enter an invoice against an executed contract of your vendor and submit it (ENCUMBER), or save a draft",
)
def create_invoice(request: HttpRequest, payload: InvoiceIn) -> Status[InvoiceDetailOut]:
    contract = selectors.invoice_contract_get(viewer=request.user, contract_id=payload.contract_id)
    invoice = services.invoice_create(
        actor=request.user,  # type: ignore[arg-type]
        contract=contract,
        data=payload.data(),
        submit=payload.submit,
        request=request,
    )
    return Status(201, _detail(request, invoice.pk))


@router.get(
    "/invoices",
    response={200: list[InvoiceSummaryOut], **ERRORS},
    summary="Invoices you may see, newest first (filters: status, vendor, project, contract, due date)",
)
@paginate(Cursor)
def list_invoices(request: HttpRequest, filters: Query[ListQuery]) -> object:
    return selectors.invoice_list(
        viewer=request.user,
        statuses=filters.statuses(),
        vendor_id=filters.vendor_id,
        project_id=filters.project_id,
        contract_id=filters.contract_id,
        due_before=filters.due_before,
        due_after=filters.due_after,
    )


@router.get(
    "/invoices/{invoice_id}",
    response={200: InvoiceDetailOut, **ERRORS},
    summary="An invoice: figures, SOV lines, coding, attachments, approval plan and timeline, ledger effects, funds",
)
def get_invoice(request: HttpRequest, invoice_id: UUID) -> InvoiceDetailOut:
    return _detail(request, invoice_id)


@router.put(
    "/invoices/{invoice_id}",
    response={200: InvoiceDetailOut, **ERRORS},
    summary="Replace a draft (new or returned for revision): period, lines, coding, figures",
)
def update_invoice(request: HttpRequest, invoice_id: UUID, payload: InvoiceDataIn) -> InvoiceDetailOut:
    invoice = services.invoice_update(
        actor=request.user,  # type: ignore[arg-type]
        invoice=_invoice(request, invoice_id),
        data=payload.data(),
        request=request,
    )
    return _detail(request, invoice.pk)


@router.post(
    "/invoices/{invoice_id}/submit",
    response={200: InvoiceDetailOut, **ERRORS},
    summary="Submit a draft: re-priced, checked against the contract and ENCUMBERED (a repeat is a no-op)",
)
def submit_invoice(request: HttpRequest, invoice_id: UUID) -> InvoiceDetailOut:
    invoice = services.invoice_submit(
        actor=request.user,  # type: ignore[arg-type]
        invoice=_invoice(request, invoice_id),
        request=request,
    )
    return _detail(request, invoice.pk)


@router.post(
    "/invoices/{invoice_id}/withdraw",
    response={200: InvoiceDetailOut, **ERRORS},
    summary="Take back an invoice under review to revise it (RELEASE; back to draft in a new round)",
)
def withdraw_invoice(request: HttpRequest, invoice_id: UUID, payload: NoteIn) -> InvoiceDetailOut:
    invoice = services.invoice_withdraw(
        actor=request.user,  # type: ignore[arg-type]
        invoice=_invoice(request, invoice_id),
        note=payload.note,
        request=request,
    )
    return _detail(request, invoice.pk)


@router.patch(
    "/invoices/{invoice_id}/status",
    response={200: InvoiceDetailOut, **ERRORS},
    summary="Review, approve your stage, reject, or return for revision (draft); DAO stages carry a signature",
)
def set_invoice_status(request: HttpRequest, invoice_id: UUID, payload: StatusIn) -> InvoiceDetailOut:
    if payload.status not in STATUS_TARGETS:
        raise InvoiceStatusInvalid(
            f"status {payload.status!r} cannot be set here; one of {', '.join(STATUS_TARGETS)}",
            field="status",
        )
    invoice = _invoice(request, invoice_id)
    actor: User = request.user  # type: ignore[assignment]
    if payload.status == "under_review":
        invoice = services.invoice_review_start(actor=actor, invoice=invoice, role=payload.role, request=request)
    else:
        decision = {"approved": Decision.APPROVED, "rejected": Decision.REJECTED, "draft": Decision.RETURNED}
        invoice = services.invoice_decide(
            actor=actor,
            invoice=invoice,
            role=payload.role,
            decision=decision[payload.status],
            note=payload.note,
            chain_id=payload.chain_id,
            signature=payload.signature,
            request=request,
        )
    return _detail(request, invoice.pk)


@router.get(
    "/invoices/{invoice_id}/typed-data",
    response={200: TypedDataOut, **ERRORS},
    summary="The EIP-712 typed data a DAO signer signs (eth_signTypedData_v4) to decide an invoice in review",
)
def invoice_typed_data(request: HttpRequest, invoice_id: UUID, query: Query[TypedDataQuery]) -> dict[str, Any]:
    return selectors.invoice_typed_data(
        invoice=_invoice(request, invoice_id), role=query.role, decision=query.decision, chain_id=query.chain_id
    )


# --------------------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------------------


@router.post(
    "/invoices/{invoice_id}/attachments",
    response={201: AttachmentOut, **UPLOAD_ERRORS},
    summary="Attach a supporting file (multipart; PDF, PNG, JPEG, CSV or XLSX by content) to an unapproved invoice",
)
def add_attachment(
    request: HttpRequest, invoice_id: UUID, file: File[UploadedFile], description: Form[str] = ""
) -> Status[AttachmentOut]:
    invoice = _invoice(request, invoice_id)
    attachment = services.invoice_attachment_add(
        actor=request.user,  # type: ignore[arg-type]
        invoice=invoice,
        file=file,
        filename=file.name,
        description=description,
        request=request,
    )
    view = selectors.invoice_view(viewer=request.user, invoice=invoice, people=[attachment.uploaded_by_id])
    return Status(201, AttachmentOut.of(attachment, view))


@router.get(
    "/invoices/{invoice_id}/attachments/{attachment_id}",
    response={200: None, **ERRORS},
    url_name="invoice_attachment_download",
    summary="Download an attachment (whoever sees the invoice); every download is audited",
    openapi_extra={"responses": {200: {"description": "The file", "content": {"application/octet-stream": {}}}}},
)
def download_attachment(request: HttpRequest, invoice_id: UUID, attachment_id: UUID) -> FileResponse:
    attachment = selectors.invoice_attachment_get(
        viewer=request.user, invoice=_invoice(request, invoice_id), attachment_id=attachment_id
    )
    handle = selectors.invoice_attachment_download(
        viewer=request.user,  # type: ignore[arg-type]
        attachment=attachment,
        request=request,
    )
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.original_filename, content_type=attachment.content_type
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    # RFC 9530: the SHA-256 of the file as stored and recorded in the audit log.
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(attachment.sha256)).decode()}:"
    return response
