"""Paying disbursements over a rail, the webhook inbox, Stripe Connect onboarding (writes).

**Paying** (:func:`disbursement_submit`, run by the ``payments.disbursement.submit`` and
``payments.disbursement.pay_due`` jobs), for one scheduled disbursement due today or earlier on a rail method:

1. a session-level advisory lock on the disbursement (one submitter at a time; released if the worker dies);
2. transaction 1: lock the disbursement, re-check it, take its open :class:`PaymentAttempt` (``pending``,
   ``unknown``, ``failed_retryable``: a earlier try whose outcome is not known) or create the next one with the
   deterministic key ``disb-<disbursement id>-<n>``; mark the try; **commit** — a worker killed after this point
   leaves the attempt as evidence and the next run retries it with the same key;
3. call the rail outside any transaction;
4. transaction 2: record the outcome — success: the attempt ``succeeded`` with the transfer id, the disbursement
   executed by the system (the pending DISBURSE posted, the invoice paid, ``payment.executed``); terminal
   refusal: the attempt ``failed_terminal``, the disbursement failed with ``<code>: <message>`` (voided, the invoice
   ``approved`` again, ``payment.failed``); retryable: the attempt ``unknown`` (timeouts, 5xx: the payment may
   have been made) or ``failed_retryable`` (rate limits), retried later with the same key, so the provider replays
   the first answer instead of paying twice.

A ``transfer.created`` webhook records the same success through the transfer's metadata (``attempt_key``), so a
webhook arriving before the API answer, or the answer arriving twice, is harmless: executing an executed
disbursement with the same reference is a no-op.

**Webhooks**: :func:`webhook_receive` verifies the signature (the rail adapter, the official SDK), stores the
event once in the inbox (unique on ``(rail, external_id)``) and defers ``payments.webhook.process``;
:func:`webhook_process` applies it once (``processed_at``). Events older than what an account already shows are
ignored, so out-of-order deliveries are harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from payor import audit, events
from payor.accounts.models import User
from payor.core.errors import DomainError
from payor.core.money import Money
from payor.invoices.models import Invoice, InvoiceStatus
from payor.ledger import services as ledger
from payor.payments import services
from payor.payments.errors import (
    DisbursementNotFound,
    StripeAccountNotFound,
    StripeAccountUnavailable,
    WebhookSignatureInvalid,
)
from payor.payments.models import (
    AttemptStatus,
    ConnectedAccount,
    Disbursement,
    DisbursementStatus,
    PaymentAttempt,
    Payout,
    Rail,
    WebhookEvent,
)
from payor.payments.rails.base import (
    PaymentOrder,
    PaymentRail,
    RailError,
    RailEvent,
    RailRetryableError,
    RailSignatureError,
    RailStatus,
    RailTerminalError,
)
from payor.payments.services import SYSTEM
from payor.rbac.permissions import Perm
from payor.receipts import services as receipts
from payor.vendors.access import vendor_permission_require, vendor_user_linked
from payor.vendors.models import Vendor

logger = logging.getLogger(__name__)

__all__ = [
    "RAIL_METHODS",
    "connected_account_create",
    "disbursement_submit",
    "disbursements_pay_due",
    "invoice_autoschedule",
    "rail_for",
    "webhook_process",
    "webhook_receive",
    "webhooks_sweep",
]

#: Disbursement methods paid through a rail adapter (the others are recorded by people).
RAIL_METHODS: Mapping[str, str] = {"stripe_connect": Rail.STRIPE_CONNECT}
#: Retries of an open attempt before it waits for a person (Stripe keeps idempotency keys for 24 hours).
MAX_TRIES = 8
REASON_MAX = services.REASON_MAX


def rail_for(method: str) -> PaymentRail:
    """The rail adapter paying ``method`` (the SDK is imported only there)."""
    if method == Rail.STRIPE_CONNECT:
        from payor.payments.rails.stripe.client import stripe_rail

        return stripe_rail()
    raise ValueError(f"no rail pays {method!r}")


def attempt_key(disbursement_id: uuid.UUID, number: int) -> str:
    return f"disb-{disbursement_id}-{number}"


def _backoff(tries: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(30 * 2 ** max(tries - 1, 0), 3600))


# --------------------------------------------------------------------------------------------------------
# Scheduling a self-billed invoice on its terms
# --------------------------------------------------------------------------------------------------------


def invoice_autoschedule(*, invoice_id: uuid.UUID) -> Disbursement | None:
    """Schedule an approved self-billed invoice on its due date (its payment terms) with the vendor's bank method,
    as the system. Due today or earlier (terms "on approval"): paid right away (``disbursement_schedule`` defers
    ``payments.disbursement.submit`` in the same transaction). A refusal (vendor compliance, say) leaves the
    invoice ``approved`` and is audited as ``disbursement.autoschedule_refused`` with its code."""
    invoice = Invoice.objects.filter(pk=invoice_id).select_related("project").first()
    if invoice is None or invoice.status != InvoiceStatus.APPROVED:
        return None
    today = timezone.localdate()
    on = max(invoice.due_on or today, today)
    try:
        with transaction.atomic():
            # Due today on a rail: disbursement_schedule defers payments.disbursement.submit itself.
            return services.disbursement_schedule(actor=SYSTEM, invoice=invoice, scheduled_on=on)
    except DomainError as exc:
        with transaction.atomic():
            audit.record(
                None,
                "disbursement.autoschedule_refused",
                invoice,
                after={"code": exc.code, "detail": exc.detail},
                project=invoice.project_id,
                actor_label="system",
            )
        logger.warning("invoice %s not scheduled: %s (%s)", invoice_id, exc.detail, exc.code)
        return None


# --------------------------------------------------------------------------------------------------------
# Paying
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    attempt_id: uuid.UUID
    order: PaymentOrder
    method: str


def _advisory_key(disbursement_id: uuid.UUID) -> int:
    return int.from_bytes(disbursement_id.bytes[:8], "big", signed=True)


def _try_lock(disbursement_id: uuid.UUID) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_key(disbursement_id)])
        return bool(cursor.fetchone()[0])


def _unlock(disbursement_id: uuid.UUID) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_advisory_key(disbursement_id)])


def _order(disbursement: Disbursement, key: str, destination: str) -> PaymentOrder:
    invoice = disbursement.invoice
    return PaymentOrder(
        idempotency_key=key,
        amount_minor=disbursement.amount.minor,
        currency=disbursement.currency,
        destination=destination,
        group=f"project-{disbursement.project_id}",
        description=f"Payor {invoice.number}",
        metadata={
            "disbursement_id": str(disbursement.pk),
            "attempt_key": key,
            "invoice_id": str(invoice.pk),
            "project_id": str(disbursement.project_id),
            "vendor_id": str(disbursement.vendor_id),
        },
    )


def _prepare(disbursement_id: uuid.UUID, *, now: dt.datetime, force: bool) -> _Prepared | str:
    """Transaction 1: the attempt to make (committed before the rail is called), or why there is none."""
    with transaction.atomic():
        try:
            locked = services._locked_disbursement(disbursement_id)
        except DisbursementNotFound:
            return "not_found"
        disbursement = locked.disbursement
        if disbursement.status != DisbursementStatus.SCHEDULED:
            return disbursement.status
        if disbursement.method not in RAIL_METHODS:
            return "no_rail"
        if disbursement.scheduled_on > timezone.localdate(now):
            return "not_due"
        attempts = PaymentAttempt.objects.select_for_update().filter(disbursement_id=disbursement.pk)
        latest = attempts.order_by("-number").first()
        if latest is not None and latest.status == AttemptStatus.SUCCEEDED:
            return "succeeded"  # recorded by _record_success (the disbursement follows in the same transaction)
        account = ConnectedAccount.objects.filter(vendor_id=disbursement.vendor_id).first()
        if latest is not None and latest.status in AttemptStatus.open():
            if not force and latest.next_try_at is not None and latest.next_try_at > now:
                return "waiting"
            if not force and latest.next_try_at is None and latest.tries >= MAX_TRIES:
                return "needs_attention"
            attempt = latest
        else:
            number = (attempts.aggregate(n=Max("number"))["n"] or 0) + 1
            attempt = PaymentAttempt(
                disbursement=disbursement,
                number=number,
                idempotency_key=attempt_key(disbursement.pk, number),
                rail=RAIL_METHODS[disbursement.method],
            )
        if account is None:
            # Nothing was sent anywhere: fail now, with the reason the vendor and the payer can act on.
            attempt.status = AttemptStatus.FAILED_TERMINAL
            attempt.error_code = "stripe_account_missing"
            attempt.error_message = f"{disbursement.vendor.name} has no Stripe connected account"
            attempt.finished_at = now
            attempt.save()
            services.disbursement_fail(
                actor=SYSTEM,
                disbursement=disbursement,
                reason=f"{attempt.error_code}: {attempt.error_message}",
            )
            return "failed"
        order = _order(disbursement, attempt.idempotency_key, account.account_id)
        attempt.tries += 1
        attempt.started_at = now
        attempt.next_try_at = None
        attempt.request_summary = {
            "amount": order.amount_minor,
            "currency": order.currency,
            "destination": order.destination,
            "transfer_group": order.group,
        }
        if attempt.status != AttemptStatus.PENDING:
            attempt.status = AttemptStatus.PENDING
        attempt.save()
        return _Prepared(attempt.pk, order, disbursement.method)


def _record_success(attempt_id: uuid.UUID, reference: str, summary: Mapping[str, Any]) -> str:
    """The rail made the payment: the attempt succeeded and the disbursement is executed (idempotent)."""
    with transaction.atomic():
        disbursement_id = PaymentAttempt.objects.values_list("disbursement_id", flat=True).get(pk=attempt_id)
        locked = services._locked_disbursement(disbursement_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status != AttemptStatus.SUCCEEDED:
            attempt.status = AttemptStatus.SUCCEEDED
            attempt.provider_reference = reference
            attempt.response_summary = dict(summary)
            attempt.error_code = ""
            attempt.error_message = ""
            attempt.finished_at = timezone.now()
            attempt.next_try_at = None
            attempt.save()
        disbursement = locked.disbursement
        if disbursement.status == DisbursementStatus.SCHEDULED:
            services.disbursement_execute(actor=SYSTEM, disbursement=disbursement, rail_reference=reference)
            return "executed"
        return disbursement.status


def _record_terminal(attempt_id: uuid.UUID, error: RailError) -> str:
    with transaction.atomic():
        disbursement_id = PaymentAttempt.objects.values_list("disbursement_id", flat=True).get(pk=attempt_id)
        locked = services._locked_disbursement(disbursement_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status == AttemptStatus.SUCCEEDED:
            return "succeeded"  # a webhook confirmed it meanwhile: the refusal was of a replay, nothing to undo
        attempt.status = AttemptStatus.FAILED_TERMINAL
        attempt.error_code = error.code or "rail_refused"
        attempt.error_message = error.message[:REASON_MAX]
        attempt.finished_at = timezone.now()
        attempt.next_try_at = None
        attempt.save()
        if locked.disbursement.status == DisbursementStatus.SCHEDULED:
            services.disbursement_fail(
                actor=SYSTEM,
                disbursement=locked.disbursement,
                reason=f"{attempt.error_code}: {attempt.error_message}"[:REASON_MAX],
            )
        return "failed"


def _record_retryable(attempt_id: uuid.UUID, error: RailError, *, unknown: bool) -> str:
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status == AttemptStatus.SUCCEEDED:
            return "succeeded"
        attempt.status = AttemptStatus.UNKNOWN if unknown else AttemptStatus.FAILED_RETRYABLE
        attempt.error_code = error.code or "rail_error"
        attempt.error_message = error.message[:REASON_MAX]
        attempt.next_try_at = timezone.now() + _backoff(attempt.tries) if attempt.tries < MAX_TRIES else None
        attempt.save()
        return "retry" if attempt.next_try_at is not None else "needs_attention"


def disbursement_submit(*, disbursement_id: uuid.UUID | str, force: bool = False) -> str:
    """Pay one scheduled disbursement on its rail (see the module docstring). Safe to run twice and
    concurrently. Returns what happened: ``executed``, ``failed``, ``retry``, ``waiting`` (an open attempt's retry
    time has not come; ``force`` retries now), ``busy`` (another worker holds it), ``not_due``, ``no_rail``,
    ``needs_attention`` (out of retries), or the disbursement's status when there is nothing to do."""
    pk = uuid.UUID(str(disbursement_id))
    if not _try_lock(pk):
        logger.info("disbursement %s: busy (another worker is paying it)", pk)
        return "busy"
    try:
        outcome = _submit(pk, force=force)
    finally:
        _unlock(pk)
    logger.info("disbursement %s: %s", pk, outcome)
    return outcome


def _submit(pk: uuid.UUID, *, force: bool) -> str:
    prepared = _prepare(pk, now=timezone.now(), force=force)
    if isinstance(prepared, str):
        return prepared
    rail = rail_for(prepared.method)
    try:
        result = rail.submit(prepared.order)
    except RailTerminalError as exc:
        return _record_terminal(prepared.attempt_id, exc)
    except RailRetryableError as exc:
        unknown = exc.code in ("rail_unreachable", "rail_unavailable", "") or (exc.http_status or 0) >= 500
        return _record_retryable(prepared.attempt_id, exc, unknown=unknown)
    if result.status == RailStatus.SUCCEEDED:
        return _record_success(prepared.attempt_id, result.reference, {**result.summary, "replayed": result.replayed})
    return _record_retryable(
        prepared.attempt_id,
        RailRetryableError(f"the rail answered {result.provider_status}", code="rail_status_" + result.status),
        unknown=True,
    )


def disbursements_pay_due(*, today: dt.date | None = None, limit: int = 200) -> dict[str, str]:
    """Submit every scheduled rail disbursement due on or before ``today`` (the periodic job). Returns the
    outcome per disbursement id."""
    day = today or timezone.localdate()
    ids = list(
        Disbursement.objects.filter(
            status=DisbursementStatus.SCHEDULED, method__in=list(RAIL_METHODS), scheduled_on__lte=day
        )
        .order_by("scheduled_on", "id")
        .values_list("id", flat=True)[:limit]
    )
    return {str(pk): disbursement_submit(disbursement_id=pk) for pk in ids}


# --------------------------------------------------------------------------------------------------------
# Reversal
# --------------------------------------------------------------------------------------------------------


def disbursement_reverse(*, disbursement: Disbursement, reason: str, key: str) -> Disbursement:
    """The rail reversed an executed payment: the disbursed money moves back to encumbered (new REVERSE
    transfers), the disbursement is ``failed`` with the reason (its transfer id kept as ``rail_reference``), the
    invoice ``approved`` again and payable anew; event ``payment.failed``. Repeating it is a no-op."""
    with transaction.atomic():
        locked = services._locked_disbursement(disbursement.pk)
        disbursement, invoice = locked.disbursement, locked.invoice
        if disbursement.status != DisbursementStatus.EXECUTED:
            return disbursement
        before = services.disbursement_snapshot(disbursement)
        ledger.disbursement_reverse(disbursement_id=disbursement.pk, key=key)
        disbursement.status = DisbursementStatus.FAILED
        disbursement.failure_reason = reason[:REASON_MAX]
        disbursement.executed_on = None
        disbursement.executed_by = None
        disbursement.executed_via_rail = False
        disbursement.save()
        audit.record(
            None,
            "disbursement.reversed",
            disbursement,
            before=before,
            after=services.disbursement_snapshot(disbursement),
            project=invoice.project,
            actor_label="system",
        )
        receipts.receipt_credit_note_issue(disbursement=disbursement, reason=disbursement.failure_reason)
        if invoice.status == InvoiceStatus.PAID:
            services._invoice_status(SYSTEM, invoice, InvoiceStatus.APPROVED, "invoice.unscheduled", None)
        events.emit(
            "payment.failed",
            aggregate=disbursement,
            payload={
                "disbursement_id": disbursement.pk,
                "invoice_id": invoice.pk,
                "vendor_id": disbursement.vendor_id,
                "status": "reversed",
                "amount": disbursement.amount,
                "reason": disbursement.failure_reason,
            },
            project=invoice.project,
        )
        return disbursement


# --------------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------------


def webhook_receive(*, rail: str, payload: bytes, headers: Mapping[str, str]) -> tuple[WebhookEvent, bool]:
    """Verify and store a webhook (once per provider event id); defer its processing. Returns the inbox row and
    whether it is new. ``webhook_signature_invalid`` (400, with the precise code) when it does not verify:
    nothing stored."""
    try:
        event = rail_for(rail).parse_webhook(payload, headers)
    except RailSignatureError as exc:
        raise WebhookSignatureInvalid(exc.message, code=exc.code or None) from exc
    from payor.payments.tasks import webhook_process_job

    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                rail=rail,
                external_id=event.external_id,
                type=event.type,
                payload=dict(event.payload),
                signature_verified=True,
                event_created_at=event.created,
                received_at=timezone.now(),
            )
            webhook_process_job.defer(event_id=str(row.pk))
            return row, True
    except IntegrityError:
        return WebhookEvent.objects.get(rail=rail, external_id=event.external_id), False


def _event_of(row: WebhookEvent) -> RailEvent:
    data = row.payload
    return RailEvent(
        external_id=row.external_id,
        type=row.type,
        created=row.event_created_at or row.received_at,
        object=(data.get("data") or {}).get("object") or {},
        payload=data,
    )


def _transfer_attempt(obj: Mapping[str, Any]) -> PaymentAttempt | None:
    metadata = obj.get("metadata") or {}
    key = metadata.get("attempt_key")
    attempt = PaymentAttempt.objects.filter(idempotency_key=key).first() if key else None
    if attempt is None and obj.get("id"):
        attempt = PaymentAttempt.objects.filter(provider_reference=obj["id"]).first()
    return attempt


def _on_transfer(event: RailEvent) -> str:
    obj = event.object
    attempt = _transfer_attempt(obj)
    if attempt is None:
        return "ignored: no attempt for this transfer"
    reference = str(obj["id"])
    summary = {key: obj.get(key) for key in ("id", "amount", "currency", "destination", "transfer_group")}
    outcome = _record_success(attempt.pk, reference, summary)
    from payor.payments.rails.stripe.client import map_status

    if event.type == "transfer.reversed" and map_status(obj) != RailStatus.REVERSED:
        # A partial reversal: the payment stands in part; a person decides (no automatic ledger move).
        return f"ignored: partial reversal of {reference} ({obj.get('amount_reversed')} of {obj.get('amount')})"
    if map_status(obj) == RailStatus.REVERSED:
        disbursement = Disbursement.objects.get(pk=attempt.disbursement_id)
        if disbursement.rail_reference == reference:
            disbursement_reverse(
                disbursement=disbursement,
                reason=f"transfer_reversed: Stripe reversed transfer {reference}",
                key=f"disbursement:{disbursement.pk}:reverse:{reference}",
            )
            return "reversed"
    return outcome


def _account_apply(event: RailEvent, account_id: str, apply: Any) -> str:
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().filter(account_id=account_id).first()
        if account is None:
            return "ignored: unknown account"
        return str(apply(account))


def _on_account(event: RailEvent) -> str:
    obj = event.object

    def apply(account: ConnectedAccount) -> str:
        if account.updated_from_event_at is not None and event.created < account.updated_from_event_at:
            return "ignored: older than the account's state"
        account.details_submitted = bool(obj.get("details_submitted"))
        account.payouts_enabled = bool(obj.get("payouts_enabled"))
        account.transfers_capability = str((obj.get("capabilities") or {}).get("transfers") or "inactive")[:20]
        account.updated_from_event_at = event.created
        account.save()
        return "updated"

    return _account_apply(event, str(obj.get("id", "")), apply)


def _on_payout(event: RailEvent) -> str:
    obj = event.object

    def apply(account: ConnectedAccount) -> str:
        payout = Payout.objects.select_for_update().filter(payout_id=str(obj.get("id"))).first()
        if payout is not None and payout.event_created_at and event.created < payout.event_created_at:
            return "ignored: older than the payout's state"
        currency = str(obj.get("currency") or "usd").upper()
        payout = payout or Payout(account=account, payout_id=str(obj["id"]))
        payout.status = str(obj.get("status") or "")[:20]
        payout.currency = currency
        payout.amount = Money.of_minor(int(obj.get("amount") or 0), currency)
        payout.failure_code = str(obj.get("failure_code") or "")[:100]
        payout.failure_message = str(obj.get("failure_message") or "")
        payout.event_created_at = event.created
        payout.save()
        return f"payout {payout.status}"

    return _account_apply(event, str(event.payload.get("account") or ""), apply)


_HANDLERS = {
    "transfer.created": _on_transfer,
    "transfer.updated": _on_transfer,
    "transfer.reversed": _on_transfer,
    "account.updated": _on_account,
    "payout.paid": _on_payout,
    "payout.failed": _on_payout,
    "payout.canceled": _on_payout,
}


def webhook_process(*, event_id: uuid.UUID | str) -> str:
    """Apply one inbox event, once (the ``payments.webhook.process`` job). An error is kept on the row
    (``attempts``, ``last_error``) and raised, so the job retries it."""
    failure: Exception | None = None
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if row is None or row.processed_at is not None:
            return "done"
        handler = _HANDLERS.get(row.type)
        row.attempts += 1
        try:
            with transaction.atomic():
                outcome = handler(_event_of(row)) if handler is not None else "ignored: type not handled"
        except Exception as exc:  # kept on the row, then raised for the job's retry
            failure = exc
            row.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            row.save(update_fields=["attempts", "last_error", "updated_at"])
        else:
            row.processed_at = timezone.now()
            row.last_error = outcome if outcome.startswith("ignored") else ""
            row.save(update_fields=["attempts", "processed_at", "last_error", "updated_at"])
    if failure is not None:
        logger.warning("webhook %s failed: %s", event_id, failure)
        raise failure
    return outcome


def webhooks_sweep(*, older_than: dt.timedelta = dt.timedelta(minutes=5), max_attempts: int = 20) -> dict[str, str]:
    """Process inbox events still unprocessed after ``older_than`` (their job ran out of retries, or was lost):
    the periodic safety net. Returns the outcome (or the error) per event id."""
    cutoff = timezone.now() - older_than
    ids = list(
        WebhookEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=max_attempts)
        .order_by("received_at")
        .values_list("id", flat=True)[:200]
    )
    outcomes: dict[str, str] = {}
    for pk in ids:
        try:
            outcomes[str(pk)] = webhook_process(event_id=pk)
        except Exception as exc:  # kept on the row by webhook_process; the next sweep tries again
            outcomes[str(pk)] = f"error: {exc.__class__.__name__}"
    return outcomes


# --------------------------------------------------------------------------------------------------------
# Stripe Connect onboarding
# --------------------------------------------------------------------------------------------------------


def _may_manage(actor: User, vendor: Vendor) -> None:
    if vendor_user_linked(actor, vendor):
        return
    vendor_permission_require(actor, Perm.VENDOR_MANAGE, vendor=vendor)


@dataclass(frozen=True)
class Onboarding:
    account: ConnectedAccount
    url: str
    expires_at: dt.datetime | None


def connected_account_create(
    *, actor: User, vendor: Vendor, return_url: str, refresh_url: str, request: HttpRequest | None = None
) -> Onboarding:
    """The vendor's Stripe connected account (created once: an Express account asking for ``transfers``, keyed
    ``vendor-<id>-account`` at Stripe) and a fresh onboarding link. Who: the vendor's own users, or
    ``vendor.manage``. Stripe refusing or unreachable: ``stripe_unavailable`` (502), nothing stored."""
    _may_manage(actor, vendor)
    from payor.payments.rails.stripe.client import stripe_rail

    rail = stripe_rail()
    account = ConnectedAccount.objects.filter(vendor_id=vendor.pk).first()
    try:
        if account is None:
            data = rail.account_create(
                vendor_id=str(vendor.pk),
                country=vendor.country,
                email=vendor.email,
                idempotency_key=f"vendor-{vendor.pk}-account",
            )
            with transaction.atomic():
                Vendor.objects.select_for_update().get(pk=vendor.pk)
                account = ConnectedAccount.objects.filter(vendor_id=vendor.pk).first()
                if account is None:
                    account = ConnectedAccount.objects.create(
                        vendor=vendor,
                        account_id=str(data["id"]),
                        details_submitted=bool(data.get("details_submitted")),
                        payouts_enabled=bool(data.get("payouts_enabled")),
                        transfers_capability=str((data.get("capabilities") or {}).get("transfers") or "inactive"),
                        created_by=actor,
                    )
                    audit.record(
                        actor,
                        "vendor.stripe_account_created",
                        account,
                        after={"vendor": vendor.pk, "account_id": account.account_id},
                        request=request,
                    )
        link = rail.account_link_create(account_id=account.account_id, refresh_url=refresh_url, return_url=return_url)
    except RailError as exc:
        raise StripeAccountUnavailable(exc.message, rail_code=exc.code) from exc
    expires = link.get("expires_at")
    return Onboarding(
        account=account,
        url=str(link["url"]),
        expires_at=dt.datetime.fromtimestamp(int(expires), tz=dt.UTC) if expires else None,
    )


def connected_account_get(*, viewer: User, vendor: Vendor) -> ConnectedAccount:
    """The vendor's connected account, for its users or ``vendor.manage``: ``stripe_account_not_found`` when
    there is none."""
    _may_manage(viewer, vendor)
    account = ConnectedAccount.objects.filter(vendor_id=vendor.pk).first()
    if account is None:
        raise StripeAccountNotFound()
    return account
