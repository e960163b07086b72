"""``/api/v1/disbursements`` and ``/api/v1/vendors/{id}/stripe-account``: thin edges over ``payor.payments``.

Reading follows ``payor.payments.selectors``: ``payment.view_all`` on the project (finance, treasurer, PM,
auditor) reads every disbursement; a vendor's user reads their own vendor's; anyone else who sees the project gets
403, the rest 404. A disbursement shows its status, references, every attempt on its rail with its error, the
connected account's payouts since it executed, and the seed-000 transaction record (amount, contractor, company,
project, milestone, approved_at, transaction id).

The Stripe account endpoints create the vendor's connected account (once) and return a fresh onboarding link;
the vendor's own users or ``vendor.manage`` may call them.
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoints' signatures through its wrapper.
import datetime as dt
from typing import Annotated
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from payor.accounts.models import User
from payor.api.pagination import Cursor
from payor.api.schemas import MoneyOut, Problem
from payor.payments import rail_services, selectors
from payor.payments.models import ConnectedAccount, Disbursement, DisbursementStatus, PaymentAttempt, Payout
from payor.vendors.selectors import vendor_get

router = Router(tags=["payments"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}
URL_MAX = 2000


class AttemptOut(Schema):
    number: int
    idempotency_key: str
    rail: str
    status: str
    provider_reference: str
    error_code: str
    error_message: str
    tries: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    next_try_at: dt.datetime | None

    @classmethod
    def of(cls, attempt: PaymentAttempt) -> "AttemptOut":
        return cls(
            number=attempt.number,
            idempotency_key=attempt.idempotency_key,
            rail=attempt.rail,
            status=attempt.status,
            provider_reference=attempt.provider_reference,
            error_code=attempt.error_code,
            error_message=attempt.error_message,
            tries=attempt.tries,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            next_try_at=attempt.next_try_at,
        )


class PayoutOut(Schema):
    payout_id: str
    status: str
    amount: MoneyOut
    failure_code: str
    failure_message: str
    at: dt.datetime | None

    @classmethod
    def of(cls, payout: Payout) -> "PayoutOut":
        return cls(
            payout_id=payout.payout_id,
            status=payout.status,
            amount=MoneyOut.of(payout.amount),
            failure_code=payout.failure_code,
            failure_message=payout.failure_message,
            at=payout.event_created_at,
        )


class Named(Schema):
    id: UUID
    name: str


class MilestoneOut(Schema):
    id: UUID
    title: str


class TransactionOut(Schema):
    """Seed 000's transaction record."""

    amount: MoneyOut
    contractor: Named
    company: Named
    project: Named
    milestone: MilestoneOut | None
    approved_at: dt.datetime | None
    transaction_id: str


def _who(user: User | None, system: bool) -> str | None:
    if system:
        return "system"
    return None if user is None else user.email


class DisbursementOut(Schema):
    id: UUID
    invoice_id: UUID
    invoice_number: str
    project_id: UUID
    vendor_id: UUID
    method: str
    status: str
    amount: MoneyOut
    discount_taken: MoneyOut
    fees: MoneyOut
    scheduled_on: dt.date
    executed_on: dt.date | None
    rail_reference: str
    failure_reason: str
    scheduled_by: str = Field(description='"system" when a job scheduled it (a self-billed invoice), else the email')
    executed_by: str | None = Field(description='"system" when the rail confirmed it, else the email, or null')

    @staticmethod
    def resolve_invoice_number(d: Disbursement) -> str:
        return d.invoice.number

    @staticmethod
    def resolve_amount(d: Disbursement) -> MoneyOut:
        return MoneyOut.of(d.amount)

    @staticmethod
    def resolve_discount_taken(d: Disbursement) -> MoneyOut:
        return MoneyOut.of(d.discount_taken)

    @staticmethod
    def resolve_fees(d: Disbursement) -> MoneyOut:
        return MoneyOut.of(d.fees)

    @staticmethod
    def resolve_scheduled_by(d: Disbursement) -> str:
        return _who(d.created_by, d.scheduled_by_system) or ""

    @staticmethod
    def resolve_executed_by(d: Disbursement) -> str | None:
        return _who(d.executed_by, d.executed_via_rail)


class DisbursementDetailOut(DisbursementOut):
    attempts: list[AttemptOut]
    payouts: list[PayoutOut] = Field(description="The connected account's payouts since the payment executed")
    transaction: TransactionOut

    @staticmethod
    def resolve_attempts(d: Disbursement) -> list[AttemptOut]:
        return [AttemptOut.of(a) for a in d.attempts.order_by("number")]

    @staticmethod
    def resolve_payouts(d: Disbursement) -> list[PayoutOut]:
        if d.executed_on is None or d.method != "stripe_connect":
            return []
        rows = Payout.objects.filter(account__vendor_id=d.vendor_id, created_at__date__gte=d.executed_on)
        return [PayoutOut.of(p) for p in rows.order_by("-id")[:20]]

    @staticmethod
    def resolve_transaction(d: Disbursement) -> TransactionOut:
        project = d.project
        return TransactionOut(
            amount=MoneyOut.of(d.amount),
            contractor=Named(id=d.vendor_id, name=d.vendor.name),
            company=Named(id=project.organization_id, name=project.organization.name),
            project=Named(id=project.pk, name=project.name),
            milestone=None if d.milestone_id is None else MilestoneOut(id=d.milestone_id, title=d.milestone_title),
            approved_at=d.approved_at,
            transaction_id=d.rail_reference,
        )


class ListQuery(Schema):
    project_id: UUID | None = None
    invoice_id: UUID | None = None
    status: DisbursementStatus | None = None


@router.get(
    "/disbursements",
    response={200: list[DisbursementOut], **ERRORS},
    summary="Disbursements you may see, newest first (filters: project, invoice, status)",
)
@paginate(Cursor)
def list_disbursements(request: HttpRequest, filters: Query[ListQuery]) -> object:
    rows = selectors.disbursement_list(
        viewer=request.user, project_id=filters.project_id, invoice_id=filters.invoice_id, status=filters.status
    )
    return rows.select_related("created_by", "executed_by")


@router.get(
    "/disbursements/{disbursement_id}",
    response={200: DisbursementDetailOut, **ERRORS},
    summary="A disbursement: status, references, attempts with their errors, payouts, the transaction record",
)
def get_disbursement(request: HttpRequest, disbursement_id: UUID) -> object:
    return selectors.disbursement_get_visible(viewer=request.user, disbursement_id=disbursement_id)


class StripeAccountIn(Schema):
    return_url: Annotated[str, Field(min_length=1, max_length=URL_MAX, pattern=r"^https?://\S+$")]
    refresh_url: Annotated[str, Field(min_length=1, max_length=URL_MAX, pattern=r"^https?://\S+$")]


class StripeAccountOut(Schema):
    vendor_id: UUID
    account_id: str
    details_submitted: bool
    transfers_capability: str
    payouts_enabled: bool
    updated_from_event_at: dt.datetime | None
    onboarding_url: str | None = None
    onboarding_expires_at: dt.datetime | None = None

    @classmethod
    def of(cls, account: ConnectedAccount, **extra: object) -> "StripeAccountOut":
        return cls(
            vendor_id=account.vendor_id,
            account_id=account.account_id,
            details_submitted=account.details_submitted,
            transfers_capability=account.transfers_capability,
            payouts_enabled=account.payouts_enabled,
            updated_from_event_at=account.updated_from_event_at,
            **extra,  # type: ignore[arg-type]
        )


@router.post(
    "/vendors/{vendor_id}/stripe-account",
    response={201: StripeAccountOut, 502: Problem, **ERRORS},
    summary="Create the vendor's Stripe connected account (once) and a fresh onboarding link",
)
def create_stripe_account(request: HttpRequest, vendor_id: UUID, payload: StripeAccountIn) -> Status[StripeAccountOut]:
    vendor = vendor_get(viewer=request.user, vendor_id=vendor_id)
    onboarding = rail_services.connected_account_create(
        actor=request.user,  # type: ignore[arg-type]
        vendor=vendor,
        return_url=payload.return_url,
        refresh_url=payload.refresh_url,
        request=request,
    )
    return Status(
        201,
        StripeAccountOut.of(
            onboarding.account, onboarding_url=onboarding.url, onboarding_expires_at=onboarding.expires_at
        ),
    )


@router.get(
    "/vendors/{vendor_id}/stripe-account",
    response={200: StripeAccountOut, **ERRORS},
    summary="The vendor's Stripe connected account and its capabilities (from account.updated)",
)
def get_stripe_account(request: HttpRequest, vendor_id: UUID) -> StripeAccountOut:
    vendor = vendor_get(viewer=request.user, vendor_id=vendor_id)
    account = rail_services.connected_account_get(viewer=request.user, vendor=vendor)  # type: ignore[arg-type]
    return StripeAccountOut.of(account)
