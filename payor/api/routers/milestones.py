"""The milestone flow's API: work requests, their acceptance, milestones, submissions and reviews.

Thin edge over ``payor.contracts`` services and selectors (seed 000's invoice-free flow). Reading follows
``payor.contracts.selectors``: the company (``contract.view`` on the project) reads every work request of the
project; a contractor's user reads only their own vendor's, once sent; anyone else gets 404
(``work_request_not_found``, ``milestone_not_found``, ``submission_not_found``), whether or not it exists.
A contractor's user does not see who reviewed (only that and when), nor who drafted or sent the request.

Writes: the project manager drafts (``POST /projects/{id}/work-requests``, ``PUT /work-requests/{id}``), sends
and withdraws (``work_request.manage``); the contractor's users accept (with the ``terms_sha256`` they were shown,
optionally an EIP-712 signature of ``GET /work-requests/{id}/typed-data``), decline and submit deliverables
(``work_request.respond``); project managers review (``submission.review``). Approving a submission creates the
milestone's self-billed invoice (``/invoices/{id}``), which then follows the approval matrix. Writes accept
``Idempotency-Key``; every write is audited. Amounts are ``{"amount": "1250.00", "currency": "USD"}``.
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoints' signatures through its wrapper.
import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from django.http import FileResponse, HttpRequest
from django.urls import reverse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from payor.accounts.models import User
from payor.api.pagination import Cursor
from payor.api.routers.contracts import CHAIN_ID_MAX, PERCENT_PATTERN, PaymentTermsIn, SingleLine, Text
from payor.api.schemas import MoneyIn, MoneyOut, Problem
from payor.contracts import selectors, services
from payor.contracts.models import (
    Milestone,
    MilestoneStatus,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    WorkRequest,
    WorkRequestStatus,
)
from payor.contracts.services import (
    MILESTONE_TEXT_MAX,
    MILESTONES_MAX,
    REASON_MAX,
    SCOPE_MAX,
    SUBMISSION_NOTE_MAX,
    TITLE_MAX,
    MilestoneIn,
    UploadIn,
)
from payor.core.errors import ValidationFailed
from payor.core.money import Money
from payor.rbac.selectors import project_get_visible

router = Router(tags=["milestones"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}
UPLOAD_ERRORS: dict[int, type[Problem]] = {**ERRORS, 413: Problem, 415: Problem, 503: Problem}
SIGNATURE_MAX = 132


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


class Ref(Schema):
    id: UUID
    name: str


class PaymentTermsOut(Schema):
    kind: str = Field(examples=["net_days"])
    net_days: int | None
    discount_percent: str | None
    discount_days: int | None
    label: str = Field(examples=["Net 7"])


class BudgetLineRef(Schema):
    id: UUID
    wbs_code: str


class InvoiceRef(Schema):
    id: UUID
    number: str
    status: str
    total: MoneyOut
    net_payable: MoneyOut
    retention: MoneyOut
    due_on: dt.date | None


class MilestoneOut(Schema):
    id: UUID
    position: int
    title: str
    description: str
    acceptance_criteria: str
    amount: MoneyOut
    due_date: dt.date | None
    budget_line: BudgetLineRef
    status: MilestoneStatus
    invoice: InvoiceRef | None = Field(description="The self-billed invoice, once the milestone is approved")

    @classmethod
    def of(cls, milestone: Milestone) -> "MilestoneOut":
        invoice = milestone.invoice
        return cls(
            id=milestone.pk,
            position=milestone.position,
            title=milestone.title,
            description=milestone.description,
            acceptance_criteria=milestone.acceptance_criteria,
            amount=MoneyOut.of(milestone.amount),
            due_date=milestone.due_date,
            budget_line=BudgetLineRef(id=milestone.budget_line_id, wbs_code=milestone.budget_line.wbs_code),
            status=MilestoneStatus(milestone.status),
            invoice=None
            if invoice is None
            else InvoiceRef(
                id=invoice.pk,
                number=invoice.number,
                status=invoice.status,
                total=MoneyOut.of(invoice.total),
                net_payable=MoneyOut.of(invoice.net_payable),
                retention=MoneyOut.of(invoice.retention),
                due_on=invoice.due_on,
            ),
        )


def _terms(work_request: WorkRequest) -> PaymentTermsOut:
    discount = work_request.discount_percent
    return PaymentTermsOut(
        kind=work_request.terms_kind,
        net_days=work_request.net_days,
        discount_percent=None if discount is None else str(discount),
        discount_days=work_request.discount_days,
        label=work_request.terms_label,
    )


class _WorkRequestFields(Schema):
    id: UUID
    number: str = Field(examples=["WR-0001"])
    project: Ref
    contractor: Ref
    title: str
    status: WorkRequestStatus
    total: MoneyOut = Field(description="The milestones' sum: the contract's not-to-exceed at acceptance")
    payment_terms: PaymentTermsOut
    retention_percent: str
    expires_at: dt.datetime | None
    sent_at: dt.datetime | None
    accepted_at: dt.datetime | None


class WorkRequestSummaryOut(_WorkRequestFields):
    @staticmethod
    def resolve_project(work_request: WorkRequest) -> Ref:
        return Ref(id=work_request.project_id, name=work_request.project.name)

    @staticmethod
    def resolve_contractor(work_request: WorkRequest) -> Ref:
        return Ref(id=work_request.vendor_id, name=work_request.vendor.name)

    @staticmethod
    def resolve_total(work_request: WorkRequest) -> MoneyOut:
        minor = getattr(work_request, "total_minor", None)
        if minor is None:
            return MoneyOut.of(services.work_request_total(work_request))
        return MoneyOut.of(Money.of_minor(int(minor), work_request.currency))

    @staticmethod
    def resolve_payment_terms(work_request: WorkRequest) -> PaymentTermsOut:
        return _terms(work_request)

    @staticmethod
    def resolve_retention_percent(work_request: WorkRequest) -> str:
        return str(work_request.retention_percent)


class ContractRef(Schema):
    id: UUID
    number: str
    status: str


class WorkRequestDetailOut(_WorkRequestFields):
    scope: str
    milestones: list[MilestoneOut]
    terms_sha256: str | None = Field(description="SHA-256 (hex) of terms_canonical; send it back to accept")
    terms_canonical: str | None = Field(description="The frozen terms as canonical JSON (set when sent)")
    terms: dict[str, Any] | None = Field(description="The same terms, parsed")
    contract: ContractRef | None = Field(description="The contract created and executed at acceptance")
    created_by: PersonRef | None = Field(description="Null for the contractor's users")
    sent_by: PersonRef | None = Field(description="Null for the contractor's users")
    accepted_by: PersonRef | None
    signer_address: str | None = Field(description="The linked wallet that signed the acceptance (EIP-712)")
    chain_id: int | None
    ended_at: dt.datetime | None = Field(description="Declined, withdrawn or expired at")
    end_reason: str

    @classmethod
    def detail(cls, work_request: WorkRequest, *, internal: bool) -> "WorkRequestDetailOut":
        summary = WorkRequestSummaryOut.from_orm(work_request)
        contract = work_request.contract
        return cls(
            **summary.model_dump(),
            scope=work_request.scope,
            milestones=[MilestoneOut.of(m) for m in selectors.work_request_milestones(work_request=work_request)],
            terms_sha256=work_request.terms_sha256 or None,
            terms_canonical=work_request.terms_json or None,
            terms=json.loads(work_request.terms_json) if work_request.terms_json else None,
            contract=None
            if contract is None
            else ContractRef(id=contract.pk, number=contract.number, status=contract.status),
            created_by=PersonRef.of(work_request.created_by) if internal else None,
            sent_by=PersonRef.of(work_request.sent_by) if internal else None,
            accepted_by=PersonRef.of(work_request.accepted_by),
            signer_address=work_request.signer_address or None,
            chain_id=work_request.chain_id,
            ended_at=work_request.ended_at,
            end_reason=work_request.end_reason,
        )


class SubmissionFileOut(Schema):
    id: UUID
    original_filename: str
    content_type: str = Field(description="Detected from the file's content")
    size: int
    sha256: str
    uploaded_at: dt.datetime
    download_url: str

    @classmethod
    def of(cls, row: SubmissionFile) -> "SubmissionFileOut":
        return cls(
            id=row.pk,
            original_filename=row.original_filename,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            uploaded_at=row.created_at,
            download_url=reverse(
                "api-v1:submission_file_download", kwargs={"submission_id": row.submission_id, "file_id": row.pk}
            ),
        )


class SubmissionOut(Schema):
    """Seed 000's stored data: ``submission_id`` (id), ``approval_status``, ``approved_at``, ``approver_id``."""

    id: UUID
    milestone_id: UUID
    attempt: int
    note: str
    submitted_by: PersonRef | None
    submitted_at: dt.datetime
    approval_status: SubmissionStatus
    reviewed_at: dt.datetime | None
    review_note: str
    approved_at: dt.datetime | None
    approver_id: UUID | None = Field(description="Null for the contractor's users")
    approver: PersonRef | None = Field(description="Null for the contractor's users")
    files: list[SubmissionFileOut]

    @classmethod
    def of(cls, submission: Submission, files: list[SubmissionFile], *, internal: bool) -> "SubmissionOut":
        return cls(
            id=submission.pk,
            milestone_id=submission.milestone_id,
            attempt=submission.attempt,
            note=submission.note,
            submitted_by=PersonRef.of(submission.submitted_by),
            submitted_at=submission.submitted_at,
            approval_status=SubmissionStatus(submission.approval_status),
            reviewed_at=submission.reviewed_at,
            review_note=submission.review_note,
            approved_at=submission.approved_at,
            approver_id=submission.approver_id if internal else None,
            approver=PersonRef.of(submission.approver) if internal else None,
            files=[SubmissionFileOut.of(row) for row in files],
        )


class PaymentOut(Schema):
    invoice_status: str | None = Field(description="The self-billed invoice's status (null before approval)")
    disbursement_status: str | None = Field(description="Its latest disbursement: scheduled, executed, failed…")
    amount: MoneyOut | None
    scheduled_on: dt.date | None
    executed_on: dt.date | None
    rail_reference: str


class WorkRequestRef(Schema):
    id: UUID
    number: str
    title: str
    status: WorkRequestStatus


class MilestoneDetailOut(MilestoneOut):
    work_request: WorkRequestRef
    submissions: list[SubmissionOut] = Field(description="Every attempt, oldest first")
    payment: PaymentOut

    @classmethod
    def detail(cls, detail: selectors.MilestoneDetail) -> "MilestoneDetailOut":
        milestone = detail.milestone
        wr = milestone.work_request
        pay = detail.payment
        return cls(
            **MilestoneOut.of(milestone).model_dump(),
            work_request=WorkRequestRef(
                id=wr.pk, number=wr.number, title=wr.title, status=WorkRequestStatus(wr.status)
            ),
            submissions=[
                SubmissionOut.of(s, detail.files.get(s.pk, []), internal=detail.internal) for s in detail.submissions
            ],
            payment=PaymentOut(
                invoice_status=pay.invoice_status,
                disbursement_status=pay.disbursement_status,
                amount=None if pay.amount is None else MoneyOut.of(pay.amount),
                scheduled_on=pay.scheduled_on,
                executed_on=pay.executed_on,
                rail_reference=pay.rail_reference,
            ),
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


class MilestoneInSchema(Schema):
    model_config = ConfigDict(extra="forbid")

    title: SingleLine = Field(min_length=1, max_length=TITLE_MAX)
    description: Text = Field(default="", max_length=MILESTONE_TEXT_MAX)
    acceptance_criteria: Text = Field(default="", max_length=MILESTONE_TEXT_MAX)
    amount: MoneyIn = Field(description="Positive, in the project currency")
    due_date: dt.date | None = None
    budget_line_id: UUID = Field(description="An open leaf budget line: the milestone's budget allocation")

    def data(self) -> MilestoneIn:
        return MilestoneIn(
            title=self.title,
            amount=self.amount.money(),
            budget_line_id=self.budget_line_id,
            description=self.description,
            acceptance_criteria=self.acceptance_criteria,
            due_date=self.due_date,
        )


class WorkRequestDataIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: SingleLine = Field(min_length=1, max_length=TITLE_MAX, examples=["Riparian planting, plot A"])
    scope: Text = Field(default="", max_length=SCOPE_MAX)
    retention_percent: str = Field(
        default="0.00", pattern=PERCENT_PATTERN, description="A decimal string from 0 to 100 (never a JSON number)"
    )
    payment_terms: PaymentTermsIn | None = Field(
        default=None, description='Default: on approval. "7 days after approval" is {"kind": "net_days", "net_days": 7}'
    )
    expires_at: dt.datetime | None = Field(default=None, description="Acceptance is refused from then on")
    milestones: list[MilestoneInSchema] = Field(min_length=1, max_length=MILESTONES_MAX)

    def fields(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "scope": self.scope,
            "retention_percent": Decimal(self.retention_percent),
            "terms": None if self.payment_terms is None else self.payment_terms.terms(),
            "expires_at": self.expires_at,
            "milestones": [m.data() for m in self.milestones],
        }


class WorkRequestIn(WorkRequestDataIn):
    vendor_id: UUID = Field(description="The contractor: a vendor of the project's organization with linked users")


class AcceptIn(Schema):
    model_config = ConfigDict(extra="forbid")

    terms_sha256: str = Field(
        min_length=64, max_length=66, description="The terms_sha256 you were shown (what you accept)"
    )
    signature: str | None = Field(
        default=None,
        max_length=SIGNATURE_MAX,
        description="Optional: the EIP-712 signature (0x + 130 hex) of GET /work-requests/{id}/typed-data by one "
        "of your linked wallets",
    )
    chain_id: int | None = Field(default=None, ge=1, le=CHAIN_ID_MAX, description="With a signature")


class ReasonIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(default="", max_length=REASON_MAX)


class ReviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "revision_requested"]
    note: Text = Field(default="", max_length=SUBMISSION_NOTE_MAX, description="Required for a revision request")


class ListQuery(Schema):
    status: list[str] | None = Field(
        default=None, description="Repeat it or give a comma-separated list: " + ", ".join(WorkRequestStatus.values)
    )
    project_id: UUID | None = None
    vendor_id: UUID | None = None

    def statuses(self) -> list[str] | None:
        if not self.status:
            return None
        names = [name.strip() for value in self.status for name in value.split(",") if name.strip()]
        unknown = sorted({name for name in names if name not in WorkRequestStatus.values})
        if unknown:
            raise ValidationFailed(
                f"unknown status {', '.join(unknown)[:200]}; one of {', '.join(WorkRequestStatus.values)}",
                field="status",
            )
        return names or None


class TypedDataQuery(Schema):
    chain_id: int = Field(ge=1, le=CHAIN_ID_MAX, description="The EIP-712 domain's chain id")


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _wr(request: HttpRequest, work_request_id: UUID) -> WorkRequest:
    return selectors.work_request_get_visible(viewer=request.user, work_request_id=work_request_id)


def _detail(request: HttpRequest, work_request_id: UUID) -> WorkRequestDetailOut:
    work_request = _wr(request, work_request_id)
    internal = selectors.work_request_is_internal(viewer=request.user, work_request=work_request)
    return WorkRequestDetailOut.detail(work_request, internal=internal)


def _milestone_detail(request: HttpRequest, milestone_id: UUID) -> MilestoneDetailOut:
    return MilestoneDetailOut.detail(selectors.milestone_detail(viewer=request.user, milestone_id=milestone_id))


def _actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------------------
# Work requests
# --------------------------------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/work-requests",
    response={201: WorkRequestDetailOut, **ERRORS},
    summary="Draft a work request to one contractor: scope, milestones (budget lines), payment terms, retention",
)
def create_work_request(request: HttpRequest, project_id: UUID, payload: WorkRequestIn) -> Status[WorkRequestDetailOut]:
    project = project_get_visible(viewer=request.user, project_id=project_id)
    vendor = selectors.work_request_vendor_get(viewer=request.user, project=project, vendor_id=payload.vendor_id)
    work_request = services.work_request_create(
        actor=_actor(request), project=project, vendor=vendor, request=request, **payload.fields()
    )
    return Status(201, _detail(request, work_request.pk))


@router.get(
    "/projects/{project_id}/work-requests",
    response={200: list[WorkRequestSummaryOut], **ERRORS},
    summary="The project's work requests you may read, newest first",
)
@paginate(Cursor)
def list_project_work_requests(request: HttpRequest, project_id: UUID, filters: Query[ListQuery]) -> object:
    rows = selectors.work_request_list(
        viewer=request.user, project_id=project_id, statuses=filters.statuses(), vendor_id=filters.vendor_id
    )
    return rows


@router.get(
    "/work-requests",
    response={200: list[WorkRequestSummaryOut], **ERRORS},
    summary="Work requests you may read, newest first (a contractor's inbox); filters: status, project, vendor",
)
@paginate(Cursor)
def list_work_requests(request: HttpRequest, filters: Query[ListQuery]) -> object:
    return selectors.work_request_list(
        viewer=request.user,
        project_id=filters.project_id,
        statuses=filters.statuses(),
        vendor_id=filters.vendor_id,
    )


@router.get(
    "/work-requests/{work_request_id}",
    response={200: WorkRequestDetailOut, **ERRORS},
    summary="A work request: terms (frozen canonical JSON and its SHA-256 once sent), milestones, contract",
)
def get_work_request(request: HttpRequest, work_request_id: UUID) -> WorkRequestDetailOut:
    return _detail(request, work_request_id)


@router.put(
    "/work-requests/{work_request_id}",
    response={200: WorkRequestDetailOut, **ERRORS},
    summary="Replace a draft's terms and milestones",
)
def update_work_request(
    request: HttpRequest, work_request_id: UUID, payload: WorkRequestDataIn
) -> WorkRequestDetailOut:
    work_request = services.work_request_update(
        actor=_actor(request), work_request=_wr(request, work_request_id), request=request, **payload.fields()
    )
    return _detail(request, work_request.pk)


@router.post(
    "/work-requests/{work_request_id}/send",
    response={200: WorkRequestDetailOut, **ERRORS},
    summary="Send a draft: its terms are frozen (canonical JSON + SHA-256) and the contractor's users notified",
)
def send_work_request(request: HttpRequest, work_request_id: UUID) -> WorkRequestDetailOut:
    services.work_request_send(actor=_actor(request), work_request=_wr(request, work_request_id), request=request)
    return _detail(request, work_request_id)


@router.post(
    "/work-requests/{work_request_id}/accept",
    response={200: WorkRequestDetailOut, **ERRORS},
    summary="Accept the terms (their SHA-256, optionally signed): a contract is executed and the funds COMMITTED",
)
def accept_work_request(request: HttpRequest, work_request_id: UUID, payload: AcceptIn) -> WorkRequestDetailOut:
    services.work_request_accept(
        actor=_actor(request),
        work_request=_wr(request, work_request_id),
        terms_sha256=payload.terms_sha256,
        signature=payload.signature,
        chain_id=payload.chain_id,
        request=request,
    )
    return _detail(request, work_request_id)


@router.post(
    "/work-requests/{work_request_id}/decline",
    response={200: WorkRequestDetailOut, **ERRORS},
    summary="Decline a sent work request (optional reason)",
)
def decline_work_request(request: HttpRequest, work_request_id: UUID, payload: ReasonIn) -> WorkRequestDetailOut:
    services.work_request_decline(
        actor=_actor(request), work_request=_wr(request, work_request_id), reason=payload.reason, request=request
    )
    return _detail(request, work_request_id)


@router.post(
    "/work-requests/{work_request_id}/withdraw",
    response={200: WorkRequestDetailOut, **ERRORS},
    summary="Withdraw a sent work request before it is answered (optional reason)",
)
def withdraw_work_request(request: HttpRequest, work_request_id: UUID, payload: ReasonIn) -> WorkRequestDetailOut:
    services.work_request_withdraw(
        actor=_actor(request), work_request=_wr(request, work_request_id), reason=payload.reason, request=request
    )
    return _detail(request, work_request_id)


@router.get(
    "/work-requests/{work_request_id}/typed-data",
    response={200: TypedDataOut, **ERRORS},
    summary="The EIP-712 typed data a contractor signs (eth_signTypedData_v4) to accept the frozen terms",
)
def work_request_typed_data(
    request: HttpRequest, work_request_id: UUID, query: Query[TypedDataQuery]
) -> dict[str, Any]:
    return selectors.work_request_acceptance_typed_data(
        viewer=request.user, work_request=_wr(request, work_request_id), chain_id=query.chain_id
    )


# --------------------------------------------------------------------------------------------------------------
# Milestones and submissions
# --------------------------------------------------------------------------------------------------------------


@router.get(
    "/milestones/{milestone_id}",
    response={200: MilestoneDetailOut, **ERRORS},
    summary="A milestone with its submissions and reviews, its self-billed invoice and payment status",
)
def get_milestone(request: HttpRequest, milestone_id: UUID) -> MilestoneDetailOut:
    return _milestone_detail(request, milestone_id)


@router.post(
    "/milestones/{milestone_id}/submissions",
    response={201: MilestoneDetailOut, **UPLOAD_ERRORS},
    summary="Submit deliverables for a milestone (multipart: note and files; PDF, PNG, JPEG, CSV or XLSX by content)",
)
def submit_milestone(
    request: HttpRequest,
    milestone_id: UUID,
    note: Form[str] = "",
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
) -> Status[MilestoneDetailOut]:
    milestone = selectors.milestone_get_visible(viewer=request.user, milestone_id=milestone_id)
    services.submission_create(
        actor=_actor(request),
        milestone=milestone,
        note=note,
        files=[UploadIn(file=f, filename=f.name) for f in files or []],
        request=request,
    )
    return Status(201, _milestone_detail(request, milestone_id))


@router.post(
    "/submissions/{submission_id}/review",
    response={200: MilestoneDetailOut, **ERRORS},
    summary="Approve a submission (a self-billed invoice is created and submitted) or request a revision (note)",
)
def review_submission(request: HttpRequest, submission_id: UUID, payload: ReviewIn) -> MilestoneDetailOut:
    submission = selectors.submission_get_visible(viewer=request.user, submission_id=submission_id)
    services.submission_review(
        actor=_actor(request), submission=submission, decision=payload.decision, note=payload.note, request=request
    )
    return _milestone_detail(request, submission.milestone_id)


@router.get(
    "/submissions/{submission_id}/files/{file_id}",
    response={200: None, **ERRORS},
    url_name="submission_file_download",
    summary="Download a deliverable file (whoever reads the work request); every download is audited",
    openapi_extra={"responses": {200: {"description": "The file", "content": {"application/octet-stream": {}}}}},
)
def download_submission_file(request: HttpRequest, submission_id: UUID, file_id: UUID) -> FileResponse:
    submission = selectors.submission_get_visible(viewer=request.user, submission_id=submission_id)
    row = selectors.submission_file_get(viewer=request.user, submission=submission, file_id=file_id)
    handle = selectors.submission_file_download(viewer=_actor(request), row=row, request=request)
    response = FileResponse(handle, as_attachment=True, filename=row.original_filename, content_type=row.content_type)
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(row.sha256)).decode()}:"
    return response
