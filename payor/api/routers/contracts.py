"""``/api/v1/contracts`` and ``/api/v1/change-orders``: thin edge over ``payor.contracts`` services and selectors.

Reading follows ``payor.contracts.selectors``: a contract (or change order) of a project you cannot see is 404
``contract_not_found`` (``change_order_not_found``); on a visible project you need ``contract.view``, or a VENDOR
role for the contract's vendor, otherwise 403 ``permission_denied``. Writes are the services' (``contract.manage``;
change-order decisions follow the approval matrix). Creating a contract drafts it: executing it (the ledger COMMIT)
is a separate ``POST /contracts/{id}/execute``. POSTs accept ``Idempotency-Key``; every write is audited.
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoints' signatures through its wrapper.
import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import AfterValidator, ConfigDict, Field, model_validator

from payor.accounts.models import User
from payor.api.pagination import Cursor
from payor.api.schemas import MoneyIn, MoneyOut, Problem
from payor.approvals.decisions import NOTE_MAX
from payor.approvals.models import ApprovalDecision, Decision
from payor.approvals.plan import ApprovalPlan, StagePlan
from payor.contracts import selectors, services
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Contract,
    ContractAllocation,
    ContractStatus,
    PaymentTermsKind,
)
from payor.contracts.services import REASON_MAX, TITLE_MAX, Allocation, Terms
from payor.rbac.roles import ProjectRole
from payor.rbac.selectors import project_get_visible

router = Router(tags=["contracts"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}

#: A percentage as a decimal string: up to three integer digits and two decimals ("10", "2.5", "10.00").
PERCENT_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,2})?$"
NUMBER_MAX = 32
SCOPE_MAX = 20000
ALLOCATIONS_MAX = 200
#: Each delta is at most 10^17 minor units (MoneyIn): 50 of them stay far inside the BIGINT column of their sum.
CHANGE_LINES_MAX = 50
#: ``ApprovalDecision.chain_id`` is a BIGINT.
CHAIN_ID_MAX = 2**63 - 1
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


#: Text stored in the database: PostgreSQL refuses NUL, and titles, numbers are one line.
SingleLine = Annotated[str, AfterValidator(_single_line)]
Text = Annotated[str, AfterValidator(_text)]


# --------------------------------------------------------------------------------------------------------------
# Schemas: out
# --------------------------------------------------------------------------------------------------------------


class UserRef(Schema):
    id: UUID
    email: str
    name: str

    @staticmethod
    def resolve_name(user: User) -> str:
        return user.display_name


class VendorRef(Schema):
    id: UUID
    name: str


class PaymentTermsOut(Schema):
    kind: PaymentTermsKind
    net_days: int | None
    discount_percent: str | None = Field(examples=["2.00"])
    discount_days: int | None
    label: str = Field(examples=["2/10 net 30"])

    @classmethod
    def of(cls, contract: Contract) -> "PaymentTermsOut":
        discount = contract.discount_percent
        return cls(
            kind=PaymentTermsKind(contract.terms_kind),
            net_days=contract.net_days,
            discount_percent=None if discount is None else str(discount),
            discount_days=contract.discount_days,
            label=contract.terms_label,
        )


class ContractOut(Schema):
    id: UUID
    project_id: UUID
    vendor: VendorRef
    number: str
    title: str
    status: ContractStatus
    currency: str
    not_to_exceed: MoneyOut = Field(description="The original NTE plus approved change orders")
    original_not_to_exceed: MoneyOut
    retention_percent: str = Field(examples=["10.00"])
    payment_terms: PaymentTermsOut
    start_date: dt.date | None
    end_date: dt.date | None
    created_at: dt.datetime
    executed_at: dt.datetime | None
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_not_to_exceed(contract: Contract) -> MoneyOut:
        return MoneyOut.of(contract.not_to_exceed)

    @staticmethod
    def resolve_original_not_to_exceed(contract: Contract) -> MoneyOut:
        return MoneyOut.of(contract.original_not_to_exceed)

    @staticmethod
    def resolve_retention_percent(contract: Contract) -> str:
        return str(contract.retention_percent)

    @staticmethod
    def resolve_payment_terms(contract: Contract) -> PaymentTermsOut:
        return PaymentTermsOut.of(contract)


class AllocationOut(Schema):
    budget_line_id: UUID
    wbs_code: str
    description: str
    amount: MoneyOut

    @classmethod
    def of(cls, allocation: ContractAllocation) -> "AllocationOut":
        line = allocation.budget_line
        return cls(
            budget_line_id=line.pk,
            wbs_code=line.wbs_code,
            description=line.description,
            amount=MoneyOut.of(allocation.amount),
        )


class ContractFiguresOut(Schema):
    """The contract's ledger figures. committed = remaining_commitment + invoiced;
    invoiced = encumbered + retention + withheld + pending + disbursed."""

    committed: MoneyOut = Field(description="Everything the contract holds against the budget now")
    encumbered: MoneyOut
    retention: MoneyOut
    withheld: MoneyOut
    pending: MoneyOut = Field(description="Scheduled payments not yet executed")
    disbursed: MoneyOut
    invoiced: MoneyOut
    remaining_commitment: MoneyOut = Field(description="Committed and not yet invoiced")

    @classmethod
    def of(cls, figures: selectors.ContractFigures) -> "ContractFiguresOut":
        return cls(**{name: MoneyOut.of(getattr(figures, name)) for name in cls.model_fields})


class ChangeOrderOut(Schema):
    id: UUID
    contract_id: UUID
    number: int
    reason: str
    delta: MoneyOut = Field(description="Signed: positive adds scope, negative removes it")
    approval_amount: MoneyOut = Field(
        description="What approvers decide on: |delta|, or the new NTE when it moves the contract into a higher band"
    )
    status: ChangeOrderStatus
    requested_by: UserRef
    rejection_reason: str
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @staticmethod
    def resolve_delta(change_order: ChangeOrder) -> MoneyOut:
        return MoneyOut.of(change_order.delta)

    @staticmethod
    def resolve_approval_amount(change_order: ChangeOrder) -> MoneyOut:
        return MoneyOut.of(change_order.approval_amount)


class ContractDetailOut(ContractOut):
    scope: str
    created_by: UserRef
    executed_by: UserRef | None
    closed_by: UserRef | None
    allocations: list[AllocationOut] = Field(description="Per budget line, in WBS-code order")
    figures: ContractFiguresOut
    change_orders: list[ChangeOrderOut] = Field(description="By number")

    @staticmethod
    def resolve_allocations(contract: Contract) -> list[AllocationOut]:
        return [AllocationOut.of(allocation) for allocation in selectors.contract_allocations(contract=contract)]

    @staticmethod
    def resolve_figures(contract: Contract) -> ContractFiguresOut:
        return ContractFiguresOut.of(selectors.contract_figures_of(contract=contract))

    @staticmethod
    def resolve_change_orders(contract: Contract) -> list[ChangeOrder]:
        return list(selectors.contract_change_orders(contract=contract))


class ContractRef(Schema):
    id: UUID
    project_id: UUID
    number: str
    title: str
    status: ContractStatus
    vendor: VendorRef
    not_to_exceed: MoneyOut

    @staticmethod
    def resolve_not_to_exceed(contract: Contract) -> MoneyOut:
        return MoneyOut.of(contract.not_to_exceed)


class ChangeOrderLineOut(Schema):
    budget_line_id: UUID
    wbs_code: str
    description: str
    delta: MoneyOut

    @classmethod
    def of(cls, line: ChangeOrderLine) -> "ChangeOrderLineOut":
        budget_line = line.budget_line
        return cls(
            budget_line_id=budget_line.pk,
            wbs_code=budget_line.wbs_code,
            description=budget_line.description,
            delta=MoneyOut.of(line.delta),
        )


class StageOut(Schema):
    """Read from a ``payor.approvals.plan.StagePlan``."""

    position: int
    role: ProjectRole
    signers_required: int
    signers_of: int
    signed: int = Field(description="Distinct signers so far")
    status: Literal["done", "next", "waiting"]
    signers: list[UserRef]

    @staticmethod
    def resolve_signers_of(stage: StagePlan) -> int:
        return stage.stage.signers_of

    @staticmethod
    def resolve_status(stage: StagePlan) -> str:
        return stage.status.value

    @staticmethod
    def resolve_signers(stage: StagePlan) -> list[User]:
        return list(stage.signers)


class ApprovalPlanOut(Schema):
    """Where the change order's approval stands under the project's current approval matrix.

    Read from a ``payor.approvals.plan.ApprovalPlan``.
    """

    amount: MoneyOut
    matrix_version: int
    band: int = Field(description="The band's position in the matrix (1 for the lowest)")
    complete: bool
    next_role: ProjectRole | None
    stages: list[StageOut]

    @staticmethod
    def resolve_amount(plan: ApprovalPlan) -> MoneyOut:
        return MoneyOut.of(plan.amount)

    @staticmethod
    def resolve_band(plan: ApprovalPlan) -> int:
        return plan.band_position

    @staticmethod
    def resolve_next_role(plan: ApprovalPlan) -> ProjectRole | None:
        next_stage = plan.next_stage
        return None if next_stage is None else next_stage.role

    @staticmethod
    def resolve_stages(plan: ApprovalPlan) -> list[StagePlan]:
        return list(plan.stages)


class DecisionOut(Schema):
    id: UUID
    round: int
    role: ProjectRole
    decision: Decision
    approver: UserRef
    note: str
    amount: MoneyOut
    matrix_version: int
    band: int
    decided_at: dt.datetime
    chain_id: int | None
    signer_address: str | None = Field(description="The linked wallet that signed (DAO multisig stages)")

    @staticmethod
    def resolve_amount(decision: ApprovalDecision) -> MoneyOut:
        return MoneyOut.of(decision.amount)

    @staticmethod
    def resolve_band(decision: ApprovalDecision) -> int:
        return decision.band_position

    @staticmethod
    def resolve_signer_address(decision: ApprovalDecision) -> str | None:
        return decision.signer_address or None


class ChangeOrderDetailOut(ChangeOrderOut):
    contract: ContractRef
    lines: list[ChangeOrderLineOut] = Field(description="Per budget line, in WBS-code order")
    approval: ApprovalPlanOut
    timeline: list[DecisionOut] = Field(description="Every decision, oldest first")

    @staticmethod
    def resolve_lines(change_order: ChangeOrder) -> list[ChangeOrderLineOut]:
        return [ChangeOrderLineOut.of(line) for line in selectors.change_order_lines(change_order=change_order)]

    @staticmethod
    def resolve_approval(change_order: ChangeOrder) -> ApprovalPlan:
        return selectors.change_order_plan(change_order=change_order)

    @staticmethod
    def resolve_timeline(change_order: ChangeOrder) -> list[ApprovalDecision]:
        return selectors.change_order_timeline(change_order=change_order)


class TypedDataOut(Schema):
    """EIP-712 typed data for ``eth_signTypedData_v4``."""

    types: dict[str, list[dict[str, str]]]
    primaryType: str
    domain: dict[str, Any]
    message: dict[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Schemas: in
# --------------------------------------------------------------------------------------------------------------


class PaymentTermsIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or read-only field is an error, not ignored

    kind: PaymentTermsKind
    net_days: int | None = Field(default=None, ge=0, le=365, description="net_days and early_pay")
    discount_percent: str | None = Field(
        default=None,
        pattern=PERCENT_PATTERN,
        examples=["2.00"],
        description="early_pay only: the discount, a decimal string above 0 and below 100",
    )
    discount_days: int | None = Field(default=None, ge=0, le=365, description="early_pay only, at most net_days")

    @model_validator(mode="after")
    def fields_of_the_kind(self) -> Self:
        if self.kind == PaymentTermsKind.ON_APPROVAL and self.net_days is not None:
            raise ValueError("on_approval terms take no net_days")
        if self.kind != PaymentTermsKind.EARLY_PAY and (
            self.discount_percent is not None or self.discount_days is not None
        ):
            raise ValueError("only early_pay terms take discount_percent and discount_days")
        return self

    def terms(self) -> Terms:
        return Terms(
            kind=self.kind,
            net_days=self.net_days,
            discount_percent=None if self.discount_percent is None else Decimal(self.discount_percent),
            discount_days=self.discount_days,
        )


class AllocationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    budget_line_id: UUID
    amount: MoneyIn


class ContractIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field (or "execute") is an error, not ignored

    project_id: UUID
    vendor_id: UUID = Field(description="One of the project organization's vendors")
    title: SingleLine = Field(min_length=1, max_length=TITLE_MAX, examples=["Riparian planting, phase 1"])
    scope: Text = Field(default="", max_length=SCOPE_MAX)
    not_to_exceed: MoneyIn = Field(description="In the project currency; fully allocated to budget lines")
    retention_percent: str = Field(
        default="10.00",
        pattern=PERCENT_PATTERN,
        examples=["10.00"],
        description="A decimal string from 0 to 100 with at most 2 decimals (never a JSON number)",
    )
    payment_terms: PaymentTermsIn | None = Field(default=None, description="Default: net 30")
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    allocations: list[AllocationIn] = Field(
        min_length=1, max_length=ALLOCATIONS_MAX, description="Open leaf budget lines; the amounts add up to the NTE"
    )
    number: SingleLine | None = Field(
        default=None, max_length=NUMBER_MAX, description="Unique in the project; default PO-0001, PO-0002…"
    )


class ChangeOrderLineIn(Schema):
    model_config = ConfigDict(extra="forbid")

    budget_line_id: UUID
    delta: MoneyIn = Field(description="Signed: positive adds to the line, negative releases from it")


class ChangeOrderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=REASON_MAX)
    lines: list[ChangeOrderLineIn] = Field(min_length=1, max_length=CHANGE_LINES_MAX)


class DecisionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    role: ProjectRole = Field(description="The stage you decide for (the next stage)")
    decision: Literal["approved", "rejected"]
    note: Text = Field(default="", max_length=NOTE_MAX, description="Required to reject")
    chain_id: int | None = Field(default=None, ge=1, le=CHAIN_ID_MAX, description="DAO multisig stages")
    signature: str | None = Field(
        default=None,
        max_length=132,
        description="DAO multisig stages: the EIP-712 signature (0x + 130 hex) of GET /change-orders/{id}/typed-data",
    )


class TypedDataQuery(Schema):
    role: ProjectRole = Field(default=ProjectRole.DAO_MULTISIG, description="The stage signed for")
    decision: Literal["approved", "rejected"] = "approved"
    chain_id: int = Field(ge=1, le=CHAIN_ID_MAX, description="The EIP-712 domain's chain id")


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _contract(request: HttpRequest, contract_id: UUID) -> Contract:
    return selectors.contract_get_visible(viewer=request.user, contract_id=contract_id)


def _change_order(request: HttpRequest, change_order_id: UUID) -> ChangeOrder:
    return selectors.change_order_get_visible(viewer=request.user, change_order_id=change_order_id)


# --------------------------------------------------------------------------------------------------------------
# Contracts
# --------------------------------------------------------------------------------------------------------------


@router.post(
    "/contracts",
    response={201: ContractDetailOut, **ERRORS},
    summary="Draft a contract/PO with its NTE allocated to budget lines (contract.manage); nothing is committed yet",
)
def create_contract(request: HttpRequest, payload: ContractIn) -> Status[Contract]:
    project = project_get_visible(viewer=request.user, project_id=payload.project_id)
    vendor = selectors.contract_vendor_get(viewer=request.user, project=project, vendor_id=payload.vendor_id)
    contract = services.contract_create(
        actor=request.user,  # type: ignore[arg-type]
        project=project,
        vendor=vendor,
        title=payload.title,
        scope=payload.scope,
        not_to_exceed=payload.not_to_exceed.money(),
        allocations=[Allocation(a.budget_line_id, a.amount.money()) for a in payload.allocations],
        retention_percent=payload.retention_percent,
        terms=None if payload.payment_terms is None else payload.payment_terms.terms(),
        number=payload.number,
        start_date=payload.start_date,
        end_date=payload.end_date,
        request=request,
    )
    return Status(201, _contract(request, contract.pk))


@router.get(
    "/contracts",
    response={200: list[ContractOut], **ERRORS},
    summary="Contracts you may read, newest first (contract.view, or your own vendor's as a VENDOR user)",
)
@paginate(Cursor)
def list_contracts(
    request: HttpRequest,
    project_id: UUID | None = None,
    vendor_id: UUID | None = None,
    status: ContractStatus | None = None,
) -> object:
    return selectors.contract_list(viewer=request.user, project_id=project_id, vendor_id=vendor_id, status=status)


@router.get(
    "/contracts/{contract_id}",
    response={200: ContractDetailOut, **ERRORS},
    summary="A contract with its payment terms, allocations, ledger figures and change orders",
)
def get_contract(request: HttpRequest, contract_id: UUID) -> Contract:
    return _contract(request, contract_id)


@router.post(
    "/contracts/{contract_id}/execute",
    response={200: ContractDetailOut, **ERRORS},
    summary="Execute a draft: check the budget caps and commit the NTE in the ledger (contract.manage)",
)
def execute_contract(request: HttpRequest, contract_id: UUID) -> Contract:
    contract = services.contract_execute(
        actor=request.user,  # type: ignore[arg-type]
        contract=_contract(request, contract_id),
        request=request,
    )
    return _contract(request, contract.pk)


@router.post(
    "/contracts/{contract_id}/cancel",
    response={200: ContractDetailOut, **ERRORS},
    summary="Cancel a draft (contract.manage)",
)
def cancel_contract(request: HttpRequest, contract_id: UUID) -> Contract:
    contract = services.contract_cancel(
        actor=request.user,  # type: ignore[arg-type]
        contract=_contract(request, contract_id),
        request=request,
    )
    return _contract(request, contract.pk)


@router.post(
    "/contracts/{contract_id}/close",
    response={200: ContractDetailOut, **ERRORS},
    summary="Close an executed contract and release what is still committed (contract.manage)",
)
def close_contract(request: HttpRequest, contract_id: UUID) -> Contract:
    contract = services.contract_close(
        actor=request.user,  # type: ignore[arg-type]
        contract=_contract(request, contract_id),
        request=request,
    )
    return _contract(request, contract.pk)


# --------------------------------------------------------------------------------------------------------------
# Change orders
# --------------------------------------------------------------------------------------------------------------


@router.post(
    "/contracts/{contract_id}/change-orders",
    response={201: ChangeOrderDetailOut, **ERRORS},
    summary="Propose a change order: signed per-line deltas, decided through the approval matrix (contract.manage)",
)
def create_change_order(request: HttpRequest, contract_id: UUID, payload: ChangeOrderIn) -> Status[ChangeOrder]:
    contract = _contract(request, contract_id)
    change_order = services.change_order_create(
        actor=request.user,  # type: ignore[arg-type]
        contract=contract,
        reason=payload.reason,
        lines=[Allocation(line.budget_line_id, line.delta.money()) for line in payload.lines],
        request=request,
    )
    return Status(201, _change_order(request, change_order.pk))


@router.get(
    "/contracts/{contract_id}/change-orders",
    response={200: list[ChangeOrderOut], **ERRORS},
    summary="A contract's change orders, newest first",
)
@paginate(Cursor)
def list_change_orders(request: HttpRequest, contract_id: UUID) -> object:
    return selectors.change_order_list(viewer=request.user, contract=_contract(request, contract_id))


@router.get(
    "/change-orders/{change_order_id}",
    response={200: ChangeOrderDetailOut, **ERRORS},
    summary="A change order with its lines, approval plan (stages, signatures so far) and decision timeline",
)
def get_change_order(request: HttpRequest, change_order_id: UUID) -> ChangeOrder:
    return _change_order(request, change_order_id)


@router.post(
    "/change-orders/{change_order_id}/decisions",
    response={200: ChangeOrderDetailOut, **ERRORS},
    summary="Approve or reject the next stage of a change order; DAO multisig stages carry an EIP-712 signature",
)
def decide_change_order(request: HttpRequest, change_order_id: UUID, payload: DecisionIn) -> ChangeOrder:
    change_order = services.change_order_decide(
        actor=request.user,  # type: ignore[arg-type]
        change_order=_change_order(request, change_order_id),
        role=payload.role,
        decision=payload.decision,
        note=payload.note,
        chain_id=payload.chain_id,
        signature=payload.signature,
        request=request,
    )
    return _change_order(request, change_order.pk)


@router.get(
    "/change-orders/{change_order_id}/typed-data",
    response={200: TypedDataOut, **ERRORS},
    summary="The EIP-712 typed data a DAO signer signs (eth_signTypedData_v4) to decide a pending change order",
)
def change_order_typed_data(
    request: HttpRequest, change_order_id: UUID, query: Query[TypedDataQuery]
) -> dict[str, Any]:
    return selectors.change_order_typed_data(
        change_order=_change_order(request, change_order_id),
        role=query.role,
        decision=query.decision,
        chain_id=query.chain_id,
    )
