"""Payment writes: schedule, execute, fail or cancel a disbursement; close a paid invoice.

One transaction each: lock, check, write, ledger, audit, enqueue. The invoice side of the lifecycle
(design §6)::

    approved ──schedule──▶ scheduled ──execute──▶ paid ──close──▶ closed
        ▲                      │
        └──── fail / cancel ───┘

Ledger effects (design §5), with transfer ids derived from ``disbursement:<id>`` so a repeated call never posts
twice:

* **schedule** — per coded budget line, what the line pays (:func:`payor.payments.math.payment_split`) moves
  encumbered → disbursed as a **pending** transfer (``ledger.disbursement_schedule``; the disbursed account
  carries ``scheduled_on.year``); the payer's fees, encumbered at submission on the contract with no budget line,
  move the same way to a disbursed account of the contract **without a vendor**, so the vendor's paid figure
  (``ledger.selectors.vendor_paid``, the 1099 total) counts only what the vendor received.
* **execute** — the pending transfers are posted (``ledger.disbursement_execute``). When the early-pay discount
  was taken, its share of each coded line is released encumbered → committed now (``ledger.encumbrance_release``):
  the contract did not have to pay it, so its commitment may be billed again.
* **fail / cancel** — the pending transfers are voided (``ledger.disbursement_fail``): everything is encumbered
  again exactly as at approval.

*Why the discount is released at execution, not at scheduling*: released at scheduling, it would be back in the
contract's commitment while the payment is in flight, where another invoice could encumber it; a failure would
then have to re-encumber it and could be refused (``commitment_exceeded``), leaving the invoice neither paid nor
payable. Kept encumbered until the payment is final, a failure only voids pending transfers, which cannot be
refused. So: after a failure or cancellation the invoice is ``approved`` with exactly its approval-time
encumbrance; after execution everything of the invoice except its retention and withholding has left
``encumbered``. The discount is decided when the payment is scheduled (``scheduled_on <= discount_until``);
the rail pays on ``scheduled_on``, so a later ``executed_on`` (the day its confirmation is recorded) does not
undo it.

Lock order: the contract, the project (``FOR KEY SHARE``), the invoice, the disbursement, the vendor (``FOR SHARE``,
compliance), then ledger accounts — the invoice services' order (contract, invoice, vendor, ledger) with the
disbursement after its invoice. The project's key-share lock is what every row inserted here (the disbursement,
new ledger accounts) takes anyway through its foreign key; taking it up front, before the vendor, means a payment
never holds the vendor and then waits on the project. (Contract and invoice services lock only their own rows,
``select_for_update(of=("self",))``: locking a contract joined to its project, vendor and bucket used to lock
those rows too and deadlocked with the vendor's compliance share lock.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone
from procrastinate.contrib.django import app as jobs

from payor import audit, events
from payor.accounts.models import User
from payor.contracts.models import Contract
from payor.core.ids import new_id
from payor.core.money import Money
from payor.invoices.errors import InvoiceNotFound, InvoiceStateInvalid
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_snapshot
from payor.ledger import services as ledger
from payor.ledger.models import AccountKind, Transfer, TransferCode, TransferPhase
from payor.payments.errors import (
    DisbursementAlreadyScheduled,
    DisbursementAttemptInFlight,
    DisbursementDateInvalid,
    DisbursementInvalid,
    DisbursementInvoiceNotApproved,
    DisbursementMethodInvalid,
    DisbursementNotFound,
    DisbursementReferenceConflict,
    DisbursementStateInvalid,
    DisbursementVendorConflict,
    InvoiceRetentionHeld,
)
from payor.payments.math import CodedPart, PaymentSplit, payment_split
from payor.payments.models import (
    AttemptStatus,
    Disbursement,
    DisbursementMethod,
    DisbursementStatus,
    PaymentAttempt,
    Rail,
)
from payor.projects.models import Project
from payor.rbac.permissions import Perm, require_permission, vendor_ids_for
from payor.receipts import services as receipts
from payor.vendors.compliance import vendor_compliance_check
from payor.vendors.models import Vendor

__all__ = [
    "SYSTEM",
    "Actor",
    "SystemActor",
    "disbursement_cancel",
    "disbursement_execute",
    "disbursement_fail",
    "disbursement_schedule",
    "disbursement_snapshot",
    "disbursement_split",
    "invoice_close",
    "invoice_retention_held",
]

REFERENCE_MAX = 200
REASON_MAX = 2000


class SystemActor:
    """The platform itself acting — the rail jobs and webhooks, never a user or an API call. It holds no
    permission check (the job's trigger was one: an approved invoice, a scheduled payment, a verified webhook)
    and is audited as ``system``."""

    pk = None
    label = "system"

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()
Actor = User | SystemActor


def _audit(actor: Actor, action: str, subject: object, **kwargs: object) -> None:
    if isinstance(actor, SystemActor):
        audit.record(None, action, subject, actor_label=actor.label, **kwargs)  # type: ignore[arg-type]
    else:
        audit.record(actor, action, subject, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------
# Locks and reads (inside the transaction)
# --------------------------------------------------------------------------------------------------------


def _project_key_share(project_id: uuid.UUID) -> None:
    """``FOR KEY SHARE`` on the project row, right after the contract lock (see the module docstring)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {Project._meta.db_table} WHERE id = %s FOR KEY SHARE", [project_id])  # noqa: S608


def _locked_invoice(invoice_id: uuid.UUID) -> Invoice:
    """The invoice's contract, the project (key share), then the invoice, locked ``FOR UPDATE`` (only their own
    rows)."""
    contract_id = Invoice.objects.filter(pk=invoice_id).values_list("contract_id", flat=True).first()
    if contract_id is None:
        raise InvoiceNotFound()
    contract = (
        Contract.objects.select_for_update(of=("self",))
        .select_related("project", "bucket", "vendor")
        .get(pk=contract_id)
    )
    _project_key_share(contract.project_id)
    invoice = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice_id)
    invoice.contract = contract
    invoice.project = contract.project
    invoice.vendor = contract.vendor
    return invoice


@dataclass(frozen=True)
class _Locked:
    disbursement: Disbursement
    invoice: Invoice


def _locked_disbursement(disbursement_id: uuid.UUID) -> _Locked:
    """Contract, invoice, then the disbursement (the module's lock order)."""
    invoice_id = Disbursement.objects.filter(pk=disbursement_id).values_list("invoice_id", flat=True).first()
    if invoice_id is None:
        raise DisbursementNotFound()
    invoice = _locked_invoice(invoice_id)
    disbursement = Disbursement.objects.select_for_update(of=("self",)).get(pk=disbursement_id)
    disbursement.invoice = invoice
    disbursement.project = invoice.project
    disbursement.vendor = invoice.vendor
    return _Locked(disbursement, invoice)


def _payer_check(actor: Actor, invoice: Invoice, perm: Perm) -> None:
    """``perm`` on the invoice's project, and not acting for its vendor (design §7: nobody pays their own vendor).
    The system actor is not checked (see :class:`SystemActor`)."""
    if isinstance(actor, SystemActor):
        return
    require_permission(actor, perm, project=invoice.project_id)
    if invoice.vendor_id in vendor_ids_for(actor, invoice.project_id):
        raise DisbursementVendorConflict(vendor_id=str(invoice.vendor_id))


def _party(invoice: Invoice) -> ledger.Party:
    contract = invoice.contract
    return ledger.Party(bucket=contract.bucket, contract_id=contract.pk, vendor_id=contract.vendor_id)


def _date(value: object, *, field: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise DisbursementDateInvalid(f"{field} must be a date", field=field)
    return value


def _text(value: str | None, *, field: str, limit: int, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise DisbursementInvalid(f"{field} is required", field=field)
    if len(text) > limit or "\x00" in text:
        raise DisbursementInvalid(f"{field} is at most {limit} characters", field=field)
    return text


def _method(method: str | None, vendor: Vendor) -> str:
    """The vendor's bank method by default; otherwise it or ``manual`` (a rail the vendor has no details for
    would only fail)."""
    chosen = vendor.bank_method if method is None else str(method).strip().lower()
    allowed = {vendor.bank_method, DisbursementMethod.MANUAL.value}
    if chosen not in DisbursementMethod.values or chosen not in allowed:
        raise DisbursementMethodInvalid(
            f"pay {vendor.name} by {vendor.bank_method} (its bank method) or manual, not {method}",
            field="method",
            allowed=sorted(allowed),
        )
    return chosen


def _milestone(invoice: Invoice) -> tuple[uuid.UUID | None, str]:
    """The milestone a self-billed invoice pays (``Milestone.invoice``, reverse ``invoice.milestone``): its id and
    title, for the disbursement's transaction record; none for a vendor invoice."""
    milestone = getattr(invoice, "milestone", None)  # the reverse one-to-one raises an AttributeError when absent
    if milestone is None:
        return None, ""
    return milestone.pk, str(getattr(milestone, "title", ""))[:300]


def disbursement_split(*, invoice: Invoice, scheduled_on: dt.date) -> PaymentSplit:
    """What paying ``invoice`` on ``scheduled_on`` sends to the vendor and moves per coded line (a read: no lock).

    The early-pay discount is taken when the invoice has one and ``scheduled_on <= discount_until``.
    """
    currency = invoice.currency
    parts = [
        CodedPart(row.budget_line_id, row.gross - row.retention - row.withholds)
        for row in invoice.coding.order_by("id")
    ]
    take = (
        invoice.early_pay_discount.is_positive
        and invoice.discount_until is not None
        and scheduled_on <= invoice.discount_until
    )
    return payment_split(
        currency=currency,
        parts=parts,
        net_payable=invoice.net_payable,
        early_pay_discount=invoice.early_pay_discount,
        take_discount=take,
    )


def _active(invoice: Invoice) -> Disbursement | None:
    return Disbursement.objects.filter(invoice_id=invoice.pk, status__in=DisbursementStatus.active()).first()


def disbursement_snapshot(disbursement: Disbursement) -> dict[str, object]:
    """What the audit log keeps of a disbursement."""
    return {
        "invoice": disbursement.invoice_id,
        "vendor": disbursement.vendor_id,
        "method": disbursement.method,
        "status": disbursement.status,
        "amount": disbursement.amount,
        "discount_taken": disbursement.discount_taken,
        "fees": disbursement.fees,
        "scheduled_on": disbursement.scheduled_on,
        "executed_on": disbursement.executed_on,
        "rail_reference": disbursement.rail_reference,
        "failure_reason": disbursement.failure_reason,
    }


def _invoice_status(
    actor: Actor, invoice: Invoice, status: InvoiceStatus, action: str, request: HttpRequest | None
) -> None:
    """Move the locked invoice to ``status`` and audit it as ``action``."""
    before = invoice_snapshot(invoice)
    invoice.status = status
    invoice.save(update_fields=["status", "updated_at"])
    _audit(
        actor, action, invoice, before=before, after=invoice_snapshot(invoice), project=invoice.project, request=request
    )


# --------------------------------------------------------------------------------------------------------
# Ledger
# --------------------------------------------------------------------------------------------------------


def _fees_schedule(party: ledger.Party, disbursement: Disbursement, year: int, actor: Actor) -> None:
    """The payer's fees: encumbered (contract, vendor, no budget line: where ``ledger.fee_encumber`` put them) →
    disbursed of the contract with no vendor, pending beside the vendor's transfers."""
    fees = disbursement.fees
    if not fees.is_positive:
        return
    ledger.transfer_post(
        ledger.TransferSpec(
            id=f"disbursement:{disbursement.pk}:schedule:fees",
            code=TransferCode.DISBURSE,
            amount=fees,
            debit=ledger.account_ensure(
                bucket=party.bucket,
                kind=AccountKind.ENCUMBERED,
                contract_id=party.contract_id,
                vendor_id=party.vendor_id,
            ),
            credit=ledger.account_ensure(
                bucket=party.bucket, kind=AccountKind.DISBURSED, contract_id=party.contract_id, year=year
            ),
            phase=TransferPhase.PENDING,
            refs=ledger.Refs(
                contract_id=party.contract_id, invoice_id=disbursement.invoice_id, disbursement_id=disbursement.pk
            ),
            actor_id=actor.pk,
            memo="payment fees",
        )
    )


def _discount_release(party: ledger.Party, disbursement: Disbursement, invoice: Invoice, actor: Actor) -> None:
    """At execution: the discount taken goes back from encumbered to the contract's commitment, per coded line."""
    if not disbursement.discount_taken.is_positive:
        return
    split = disbursement_split(invoice=invoice, scheduled_on=disbursement.scheduled_on)
    if split.discount_taken != disbursement.discount_taken:  # the coding is frozen once approved
        raise RuntimeError(f"disbursement {disbursement.pk}: the discount split no longer matches")
    ledger.encumbrance_release(
        party=party,
        lines=[ledger.Line(share.amount, share.budget_line_id) for share in split.released],
        key=f"disbursement:{disbursement.pk}",
        invoice_id=invoice.pk,
        actor_id=actor.pk,
    )


# --------------------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------------------


@transaction.atomic
def disbursement_schedule(
    *,
    actor: Actor,
    invoice: Invoice,
    scheduled_on: dt.date,
    method: str | None = None,
    request: HttpRequest | None = None,
) -> Disbursement:
    """Schedule the payment of an approved invoice (``payment_run.create``, the treasurer): ``approved →
    scheduled``, the paid amount pending in the ledger (module docstring). Scheduling an invoice that already
    has this very payment scheduled (same date and method) returns it: a double click schedules once.

    Refusals, nothing written: ``permission_denied``, ``disbursement_vendor_conflict``,
    ``disbursement_date_invalid`` (in the past), ``disbursement_already_scheduled`` (another payment holds the
    invoice), ``disbursement_invoice_not_approved``, the vendor compliance codes on ``scheduled_on``,
    ``disbursement_method_invalid``.
    """
    invoice = _locked_invoice(invoice.pk)
    _payer_check(actor, invoice, Perm.PAYMENT_RUN_CREATE)
    scheduled_on = _date(scheduled_on, field="scheduled_on")
    if scheduled_on < timezone.localdate():
        raise DisbursementDateInvalid(f"{scheduled_on.isoformat()} is in the past", field="scheduled_on")
    vendor = invoice.vendor
    active = _active(invoice)
    if active is not None:
        if (
            active.status == DisbursementStatus.SCHEDULED
            and active.scheduled_on == scheduled_on
            and active.method == _method(method, vendor)
        ):
            return active
        raise DisbursementAlreadyScheduled(
            f"{invoice.number} already has a payment {active.status} for {active.scheduled_on.isoformat()}",
            disbursement_id=str(active.pk),
        )
    if invoice.status != InvoiceStatus.APPROVED:
        raise DisbursementInvoiceNotApproved(
            f"{invoice.number} is {invoice.status}", invoice_id=str(invoice.pk), status=invoice.status
        )
    vendor_compliance_check(vendor=vendor, on=scheduled_on, lock=True)
    chosen = _method(method, vendor)  # after the compliance lock: the vendor row was re-read under FOR SHARE
    split = disbursement_split(invoice=invoice, scheduled_on=scheduled_on)
    disbursement = Disbursement(
        id=new_id(),
        project=invoice.project,
        invoice=invoice,
        vendor=vendor,
        currency=invoice.currency,
        method=chosen,
        scheduled_on=scheduled_on,
        created_by=None if isinstance(actor, SystemActor) else actor,
        scheduled_by_system=isinstance(actor, SystemActor),
        approved_at=invoice.approved_at,
    )
    disbursement.milestone_id, disbursement.milestone_title = _milestone(invoice)
    disbursement.amount = split.amount
    disbursement.discount_taken = split.discount_taken
    disbursement.fees = invoice.fees
    disbursement.save(force_insert=True)
    party = _party(invoice)
    ledger.disbursement_schedule(
        party=party,
        lines=[ledger.Line(share.amount, share.budget_line_id) for share in split.paid],
        disbursement_id=disbursement.pk,
        year=scheduled_on.year,
        invoice_id=invoice.pk,
        actor_id=actor.pk,
    )
    _fees_schedule(party, disbursement, scheduled_on.year, actor)
    _audit(
        actor,
        "disbursement.scheduled",
        disbursement,
        after=disbursement_snapshot(disbursement),
        project=invoice.project,
        request=request,
    )
    _invoice_status(actor, invoice, InvoiceStatus.SCHEDULED, "invoice.scheduled", request)
    events.emit(
        "invoice.scheduled",
        aggregate=invoice,
        payload={
            "invoice_id": invoice.pk,
            "contract_id": invoice.contract_id,
            "vendor_id": invoice.vendor_id,
            "disbursement_id": disbursement.pk,
            "method": disbursement.method,
            "scheduled_on": scheduled_on,
            "amount": disbursement.amount,
            "discount_taken": disbursement.discount_taken,
            "fees": disbursement.fees,
        },
        project=invoice.project,
    )
    if disbursement.method in Rail.values and scheduled_on <= timezone.localdate():
        # Due today on a rail: paid right away (the periodic payments.disbursement.pay_due would within a minute).
        jobs.configure_task("payments.disbursement.submit", queueing_lock=f"disb-{disbursement.pk}").defer(
            disbursement_id=str(disbursement.pk)
        )
    return disbursement


@transaction.atomic
def disbursement_execute(
    *,
    actor: Actor,
    disbursement: Disbursement,
    rail_reference: str,
    executed_on: dt.date | None = None,
    request: HttpRequest | None = None,
) -> Disbursement:
    """Record that the rail executed the payment (``payment_run.execute``): the pending transfers are posted, a
    taken discount is released to the commitment, the disbursement is ``executed`` and the invoice ``paid``.
    Repeating it with the same reference is a no-op.

    Refusals, nothing written: ``permission_denied``, ``disbursement_vendor_conflict``, ``disbursement_invalid``
    (no reference), ``disbursement_date_invalid`` (in the future or before it was scheduled),
    ``disbursement_reference_conflict`` (already executed with another reference), ``disbursement_state_invalid``
    (failed or cancelled).
    """
    locked = _locked_disbursement(disbursement.pk)
    disbursement, invoice = locked.disbursement, locked.invoice
    _payer_check(actor, invoice, Perm.PAYMENT_RUN_EXECUTE)
    reference = _text(rail_reference, field="rail_reference", limit=REFERENCE_MAX, required=True)
    if disbursement.status == DisbursementStatus.EXECUTED:
        if disbursement.rail_reference == reference:
            return disbursement
        raise DisbursementReferenceConflict(
            f"executed on {disbursement.executed_on} with reference {disbursement.rail_reference}",
            rail_reference=disbursement.rail_reference,
        )
    if disbursement.status != DisbursementStatus.SCHEDULED or invoice.status != InvoiceStatus.SCHEDULED:
        raise DisbursementStateInvalid(f"the disbursement is {disbursement.status}", status=disbursement.status)
    today = timezone.localdate()
    executed_on = today if executed_on is None else _date(executed_on, field="executed_on")
    if executed_on > today or executed_on < timezone.localdate(disbursement.created_at):
        raise DisbursementDateInvalid(
            f"{executed_on.isoformat()} is in the future or before the payment was scheduled", field="executed_on"
        )
    before = disbursement_snapshot(disbursement)
    ledger.disbursement_execute(disbursement_id=disbursement.pk, actor_id=actor.pk)
    _discount_release(_party(invoice), disbursement, invoice, actor)
    disbursement.status = DisbursementStatus.EXECUTED
    disbursement.executed_on = executed_on
    disbursement.executed_by = None if isinstance(actor, SystemActor) else actor
    disbursement.executed_via_rail = isinstance(actor, SystemActor)
    disbursement.rail_reference = reference
    disbursement.save()
    _audit(
        actor,
        "disbursement.executed",
        disbursement,
        before=before,
        after=disbursement_snapshot(disbursement),
        project=invoice.project,
        request=request,
    )
    _invoice_status(actor, invoice, InvoiceStatus.PAID, "invoice.paid", request)
    events.emit(
        "payment.executed",
        aggregate=disbursement,
        payload={
            "disbursement_id": disbursement.pk,
            "invoice_id": invoice.pk,
            "vendor_id": disbursement.vendor_id,
            "method": disbursement.method,
            "amount": disbursement.amount,
            "fees": disbursement.fees,
            "executed_on": executed_on,
            "rail_reference": reference,
        },
        project=invoice.project,
    )
    events.emit(
        "invoice.paid",
        aggregate=invoice,
        payload={
            "invoice_id": invoice.pk,
            "contract_id": invoice.contract_id,
            "disbursement_id": disbursement.pk,
            "amount": disbursement.amount,
            "discount_taken": disbursement.discount_taken,
        },
        project=invoice.project,
    )
    receipts.receipt_issue(actor=actor, disbursement=disbursement)  # numbered here, rendered after commit
    return disbursement


def _end(
    *,
    actor: Actor,
    disbursement: Disbursement,
    invoice: Invoice,
    status: DisbursementStatus,
    reason: str,
    request: HttpRequest | None,
) -> Disbursement:
    """Fail or cancel a scheduled disbursement: void its pending transfers, the invoice back to ``approved``."""
    before = disbursement_snapshot(disbursement)
    ledger.disbursement_fail(disbursement_id=disbursement.pk, actor_id=actor.pk)
    disbursement.status = status
    disbursement.failure_reason = reason
    disbursement.save()
    _audit(
        actor,
        f"disbursement.{status.value}",
        disbursement,
        before=before,
        after=disbursement_snapshot(disbursement),
        project=invoice.project,
        request=request,
    )
    _invoice_status(actor, invoice, InvoiceStatus.APPROVED, "invoice.unscheduled", request)
    events.emit(
        "payment.failed",
        aggregate=disbursement,
        payload={
            "disbursement_id": disbursement.pk,
            "invoice_id": invoice.pk,
            "vendor_id": disbursement.vendor_id,
            "status": status.value,
            "amount": disbursement.amount,
            "reason": reason,
        },
        project=invoice.project,
    )
    return disbursement


def _scheduled_check(disbursement: Disbursement, invoice: Invoice) -> None:
    if disbursement.status != DisbursementStatus.SCHEDULED or invoice.status != InvoiceStatus.SCHEDULED:
        raise DisbursementStateInvalid(f"the disbursement is {disbursement.status}", status=disbursement.status)


def _no_attempt_in_flight(actor: Actor, disbursement: Disbursement) -> None:
    """A person may not cancel or fail a payment a rail may have made (an open attempt); the rail jobs settle it."""
    if isinstance(actor, SystemActor):
        return
    open_statuses = (*AttemptStatus.open(), AttemptStatus.SUBMITTED, AttemptStatus.SUCCEEDED)
    attempt = PaymentAttempt.objects.filter(disbursement_id=disbursement.pk, status__in=open_statuses).first()
    if attempt is not None:
        raise DisbursementAttemptInFlight(
            f"attempt {attempt.idempotency_key} is {attempt.status}", attempt=attempt.idempotency_key
        )


@transaction.atomic
def disbursement_fail(
    *, actor: Actor, disbursement: Disbursement, reason: str, request: HttpRequest | None = None
) -> Disbursement:
    """Record that the rail failed the payment (``payment_run.execute``): ``failed`` with its reason, the pending
    transfers voided (the money is encumbered again), the invoice ``approved`` again and payable by a new
    disbursement. Failing a failed one again is a no-op. Refusals: ``permission_denied``,
    ``disbursement_invalid`` (no reason), ``disbursement_state_invalid`` (executed or cancelled)."""
    locked = _locked_disbursement(disbursement.pk)
    disbursement, invoice = locked.disbursement, locked.invoice
    if not isinstance(actor, SystemActor):
        require_permission(actor, Perm.PAYMENT_RUN_EXECUTE, project=invoice.project_id)
    if disbursement.status == DisbursementStatus.FAILED:
        return disbursement
    _scheduled_check(disbursement, invoice)
    _no_attempt_in_flight(actor, disbursement)
    reason = _text(reason, field="reason", limit=REASON_MAX, required=True)
    return _end(
        actor=actor,
        disbursement=disbursement,
        invoice=invoice,
        status=DisbursementStatus.FAILED,
        reason=reason,
        request=request,
    )


@transaction.atomic
def disbursement_cancel(
    *, actor: User, disbursement: Disbursement, reason: str = "", request: HttpRequest | None = None
) -> Disbursement:
    """Take back a scheduled payment before it executes (``payment_run.create``, the treasurer): like a failure,
    but ``canceled``. Cancelling a cancelled one again is a no-op. Refusals: ``permission_denied``,
    ``disbursement_state_invalid`` (executed or failed)."""
    locked = _locked_disbursement(disbursement.pk)
    disbursement, invoice = locked.disbursement, locked.invoice
    require_permission(actor, Perm.PAYMENT_RUN_CREATE, project=invoice.project_id)
    if disbursement.status == DisbursementStatus.CANCELED:
        return disbursement
    _scheduled_check(disbursement, invoice)
    _no_attempt_in_flight(actor, disbursement)
    reason = _text(reason, field="reason", limit=REASON_MAX, required=False)
    return _end(
        actor=actor,
        disbursement=disbursement,
        invoice=invoice,
        status=DisbursementStatus.CANCELED,
        reason=reason,
        request=request,
    )


def invoice_retention_held(*, invoice: Invoice) -> Money:
    """What the ledger still holds in retention for ``invoice``: retained at approval (transfers referencing the
    invoice into a retention account) less what was released from retention referencing it."""
    posted = Transfer.objects.filter(invoice_id=invoice.pk, phase__in=[TransferPhase.SINGLE, TransferPhase.POST])
    into = posted.filter(credit_account__kind=AccountKind.RETENTION).aggregate(total=Sum("amount"))["total"] or 0
    out = posted.filter(debit_account__kind=AccountKind.RETENTION).aggregate(total=Sum("amount"))["total"] or 0
    return Money.of_minor(int(into) - int(out), invoice.currency)


@transaction.atomic
def invoice_close(*, actor: User, invoice: Invoice, request: HttpRequest | None = None) -> Invoice:
    """Close a paid invoice (``payment_run.execute``): ``paid → closed``, event ``invoice.closed``. Closing a
    closed invoice is a no-op. Refusals: ``permission_denied``, ``invoice_state_invalid`` (not paid),
    ``invoice_retention_held`` (its retention is still held; the retention-release flow comes with the gates)."""
    invoice = _locked_invoice(invoice.pk)
    require_permission(actor, Perm.PAYMENT_RUN_EXECUTE, project=invoice.project_id)
    if invoice.status == InvoiceStatus.CLOSED:
        return invoice
    if invoice.status != InvoiceStatus.PAID:
        raise InvoiceStateInvalid(f"only a paid invoice can be closed; {invoice.number} is {invoice.status}")
    held = invoice_retention_held(invoice=invoice)
    if held.is_positive:
        raise InvoiceRetentionHeld(
            f"{held.amount_str()} of {invoice.number} is still retained", retention_held=held.amount_str()
        )
    _invoice_status(actor, invoice, InvoiceStatus.CLOSED, "invoice.closed", request)
    events.emit(
        "invoice.closed",
        aggregate=invoice,
        payload={"invoice_id": invoice.pk, "contract_id": invoice.contract_id},
        project=invoice.project,
    )
    return invoice
