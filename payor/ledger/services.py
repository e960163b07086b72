"""Writes to the ledger: post transfers, resolve pending ones, and the business flows of design §5.

Everything goes through ``transfers_post``, one call of the ``ledger_post``
SQL function per linked batch. Outside a transaction the call is its own
transaction and serialization failures or deadlocks are retried; inside one
(the usual case: a business service's lock-check-write-ledger-audit-enqueue
block) it runs in a savepoint, so a refusal leaves the outer transaction
usable and the caller decides.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg.errors
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from payor.core.money import Money
from payor.ledger.errors import (
    AccountNotFound,
    BalanceExceeded,
    CommitmentExceeded,
    InsufficientFunds,
    LedgerContention,
    LedgerError,
    LedgerTampering,
    PendingAlreadyResolved,
    TransferConflict,
    TransferInvalid,
)
from payor.ledger.models import Account, AccountKind, Transfer, TransferCode, TransferPhase
from payor.projects.models import FundingBucket

RETRIES = 5
RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable)


@dataclass(frozen=True)
class Refs:
    """Business references carried by a transfer (and inherited by its post/void)."""

    budget_line_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    vendor_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    milestone_id: uuid.UUID | None = None
    disbursement_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TransferSpec:
    """One transfer to post. ``id`` is derived from the business event, e.g. ``invoice:<uuid>:encumber``."""

    id: str
    code: str
    amount: Money | None = None
    debit: Account | None = None
    credit: Account | None = None
    phase: str = TransferPhase.SINGLE
    pending_id: str | None = None
    timeout_at: dt.datetime | None = None
    refs: Refs = field(default_factory=Refs)
    actor_id: uuid.UUID | None = None
    memo: str = ""

    def as_json(self, batch_id: uuid.UUID | None) -> dict[str, object]:
        data: dict[str, object] = {"id": self.id, "phase": self.phase, "code": self.code}
        if self.memo:
            data["memo"] = self.memo[:200]
        if self.phase in (TransferPhase.SINGLE, TransferPhase.PENDING):
            if self.debit is None or self.credit is None or self.amount is None:
                raise TransferInvalid(
                    "single and pending transfers need debit, credit and amount", code="transfer_incomplete"
                )
            data.update(
                debit_account_id=self.debit.pk,
                credit_account_id=self.credit.pk,
                amount=self.amount.minor,
                currency=self.amount.code,
            )
        else:
            if not self.pending_id:
                raise TransferInvalid("post and void need the pending transfer's id", code="transfer_incomplete")
            data["pending_id"] = self.pending_id
            if self.amount is not None:
                data["amount"] = self.amount.minor
        if self.timeout_at is not None:
            data["timeout_at"] = self.timeout_at.isoformat()
        if batch_id is not None:
            data["batch_id"] = str(batch_id)
        if self.actor_id is not None:
            data["actor_id"] = str(self.actor_id)
        for name, value in vars(self.refs).items():
            if value is not None:
                data[name] = str(value)
        return data


@dataclass(frozen=True)
class Posted:
    id: str
    seq: int
    created: bool


_CONSTRAINT_ERRORS: dict[str, type[LedgerError]] = {
    "ledger_available_debits_within_credits": InsufficientFunds,
    "ledger_committed_debits_within_credits": CommitmentExceeded,
}
_CODE_ERRORS: dict[str, type[LedgerError] | type[TransferConflict] | type[AccountNotFound]] = {
    "transfer_exists_with_different_fields": TransferConflict,
    "account_not_found": AccountNotFound,
}
_CODE_DETAILS = {
    "transfer_batch_empty": "A batch needs at least one transfer",
    "transfer_id_repeated_in_batch": "A batch names the same transfer id twice",
    "transfer_id_invalid": "A transfer id is 1-200 characters",
    "transfer_phase_invalid": "The phase must be single, pending, post or void",
    "pending_transfer_not_found": "No pending transfer with this id",
    "pending_transfer_not_pending": "The referenced transfer is not a pending transfer",
    "post_amount_exceeds_pending": "A post cannot move more than the pending amount",
    "pending_transfer_expired": "The pending transfer timed out; it can only be voided",
    "transfer_amount_invalid": "The amount must be positive",
    "transfer_accounts_same": "Debit and credit accounts must differ",
    "currency_mismatch": "The accounts and the amount must share one currency",
    "transfer_crosses_projects": "Both accounts must belong to the same project",
    "timeout_only_for_pending": "Only pending transfers can time out",
    "timeout_in_past": "A pending transfer's timeout must be in the future",
}


def _translate(exc: DatabaseError) -> Exception:
    cause = exc.__cause__
    if isinstance(cause, psycopg.errors.CheckViolation):
        constraint = cause.diag.constraint_name or ""
        if constraint.startswith("ledger_") and constraint.endswith("_debits_within_credits"):
            error = _CONSTRAINT_ERRORS.get(constraint, BalanceExceeded)
            kind = constraint.removeprefix("ledger_").removesuffix("_debits_within_credits")
            return error(None, account_kind=kind)
    if (
        isinstance(cause, psycopg.errors.UniqueViolation)
        and cause.diag.constraint_name == "ledger_transfer_pending_resolved_once"
    ):
        return PendingAlreadyResolved()
    if isinstance(cause, psycopg.Error) and cause.sqlstate == "PY001":
        code = cause.diag.message_primary or "ledger_error"
        error_class = _CODE_ERRORS.get(code, TransferInvalid)
        return error_class(_CODE_DETAILS.get(code), code=code, transfer_id=cause.diag.message_detail)
    if isinstance(cause, psycopg.Error) and cause.sqlstate == "PY002":
        return LedgerTampering(cause.diag.message_primary)
    return exc


def _call(payload: str) -> list[Posted]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT transfer_id, transfer_seq, created FROM ledger_post(%s::jsonb)", [payload])
        return [Posted(id=row[0], seq=row[1], created=row[2]) for row in cursor.fetchall()]


def transfers_post(specs: Sequence[TransferSpec], *, linked: bool = True) -> list[Posted]:
    """Post transfers as one linked batch: all succeed or none does. Idempotent per transfer id."""
    batch_id = uuid.uuid4() if linked and len(specs) > 1 else None
    payload = json.dumps([spec.as_json(batch_id) for spec in specs])
    if connection.in_atomic_block:
        try:
            with transaction.atomic():
                return _call(payload)
        except DatabaseError as exc:
            if isinstance(exc.__cause__, RETRYABLE):
                raise LedgerContention() from exc
            raise _translate(exc) from exc
    for attempt in range(RETRIES):
        try:
            return _call(payload)
        except DatabaseError as exc:
            if isinstance(exc.__cause__, RETRYABLE) and attempt < RETRIES - 1:
                time.sleep(0.002 * (2**attempt))
                continue
            if isinstance(exc.__cause__, RETRYABLE):
                raise LedgerContention() from exc
            raise _translate(exc) from exc
    raise LedgerContention()  # pragma: no cover - the loop always returns or raises


def transfer_post(spec: TransferSpec) -> Posted:
    return transfers_post([spec])[0]


def pending_post(
    *, id: str, pending_id: str, code: str, amount: Money | None = None, actor_id: uuid.UUID | None = None
) -> Posted:
    """Post a pending transfer, fully or partly (the rest is released back to its debit account)."""
    return transfer_post(
        TransferSpec(
            id=id, code=code, phase=TransferPhase.POST, pending_id=pending_id, amount=amount, actor_id=actor_id
        )
    )


def pending_void(
    *, id: str, pending_id: str, code: str = TransferCode.RELEASE, actor_id: uuid.UUID | None = None
) -> Posted:
    return transfer_post(
        TransferSpec(id=id, code=code, phase=TransferPhase.VOID, pending_id=pending_id, actor_id=actor_id)
    )


# --------------------------------------------------------------------------- accounts


def account_ensure(
    *,
    bucket: FundingBucket,
    kind: str,
    budget_line_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    vendor_id: uuid.UUID | None = None,
    year: int | None = None,
) -> Account:
    """The bucket's account of ``kind`` for these dimensions, created (at zero) on first use.

    Its flags come from its kind (a trigger sets them): internal accounts never overdraw.
    """
    if kind not in AccountKind.values:
        raise TransferInvalid(f"unknown account kind {kind!r}", code="account_kind_invalid")
    lookup = {
        "bucket": bucket,
        "kind": kind,
        "budget_line_id": budget_line_id,
        "contract_id": contract_id,
        "vendor_id": vendor_id,
        "year": year,
    }
    account = Account.objects.filter(**lookup).first()
    if account is not None:
        return account
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ledger_account (
                project_id, bucket_id, currency, kind, budget_line_id, contract_id, vendor_id, year,
                debits_pending, debits_posted, credits_pending, credits_posted, created_at
            )
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 0, now())
            ON CONFLICT DO NOTHING
            """,
            [
                bucket.project_id,
                bucket.pk,
                bucket.currency,
                kind,
                budget_line_id,
                contract_id,
                vendor_id,
                year,
            ],
        )
    return Account.objects.get(**lookup)


# --------------------------------------------------------------------------- business flows (design §5)
#
# Each flow takes a ``key`` naming the business event (``contract:<uuid>``,
# ``invoice:<uuid>:submission:2``, ``disbursement:<uuid>``…) from which the
# transfer ids are derived, so repeating a flow is a no-op and a different
# event can never collide with it.


@dataclass(frozen=True)
class Line:
    """An amount on one budget line (an allocation, an invoice coding line)."""

    amount: Money
    budget_line_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Party:
    """Where committed money belongs: the bucket, the contract and the vendor."""

    bucket: FundingBucket
    contract_id: uuid.UUID | None = None
    vendor_id: uuid.UUID | None = None


def _acct(party: Party, kind: str, line: Line, *, year: int | None = None) -> Account:
    return account_ensure(
        bucket=party.bucket,
        kind=kind,
        budget_line_id=line.budget_line_id,
        contract_id=party.contract_id,
        vendor_id=party.vendor_id,
        year=year,
    )


def _line_key(line: Line) -> str:
    return str(line.budget_line_id) if line.budget_line_id else "unallocated"


def _moves(
    *,
    key: str,
    step: str,
    code: str,
    party: Party,
    lines: Sequence[Line],
    source: str,
    target: str,
    actor_id: uuid.UUID | None,
    invoice_id: uuid.UUID | None = None,
    disbursement_id: uuid.UUID | None = None,
    phase: str = TransferPhase.SINGLE,
    target_year: int | None = None,
    timeout_at: dt.datetime | None = None,
) -> list[Posted]:
    specs = [
        TransferSpec(
            id=f"{key}:{step}:{_line_key(line)}",
            code=code,
            amount=line.amount,
            debit=_acct(party, source, line),
            credit=_acct(party, target, line, year=target_year),
            phase=phase,
            timeout_at=timeout_at,
            refs=Refs(
                budget_line_id=line.budget_line_id,
                contract_id=party.contract_id,
                vendor_id=party.vendor_id,
                invoice_id=invoice_id,
                disbursement_id=disbursement_id,
            ),
            actor_id=actor_id,
        )
        for line in lines
        if line.amount.is_positive
    ]
    return transfers_post(specs) if specs else []


def fund(*, bucket: FundingBucket, amount: Money, key: str, actor_id: uuid.UUID | None = None) -> Posted:
    """Project funded (Lift Bond proceeds, treasury allocation, pre-purchase): funding → available."""
    return transfer_post(
        TransferSpec(
            id=f"{key}:fund",
            code=TransferCode.FUND,
            amount=amount,
            debit=account_ensure(bucket=bucket, kind=AccountKind.FUNDING),
            credit=account_ensure(bucket=bucket, kind=AccountKind.AVAILABLE),
            actor_id=actor_id,
        )
    )


def commit(
    *, party: Party, lines: Sequence[Line], key: str, actor_id: uuid.UUID | None = None, refs: Refs | None = None
) -> list[Posted]:
    """Contract executed / work request accepted: available → committed, per allocation.

    Refused with ``insufficient_funds`` when available cannot cover it.
    """
    specs = [
        TransferSpec(
            id=f"{key}:commit:{_line_key(line)}",
            code=TransferCode.COMMIT,
            amount=line.amount,
            debit=account_ensure(bucket=party.bucket, kind=AccountKind.AVAILABLE),
            credit=_acct(party, AccountKind.COMMITTED, line),
            refs=Refs(
                **{
                    **vars(refs or Refs(contract_id=party.contract_id, vendor_id=party.vendor_id)),
                    "budget_line_id": line.budget_line_id,
                }
            ),
            actor_id=actor_id,
        )
        for line in lines
        if line.amount.is_positive
    ]
    return transfers_post(specs) if specs else []


def change_order(*, party: Party, lines: Sequence[Line], key: str, actor_id: uuid.UUID | None = None) -> list[Posted]:
    """A change order's delta per line: +Δ commits more (available → committed), -Δ releases (committed → available)."""
    available = account_ensure(bucket=party.bucket, kind=AccountKind.AVAILABLE)
    specs = []
    for line in lines:
        if line.amount.is_zero:
            continue
        committed = _acct(party, AccountKind.COMMITTED, line)
        increase = line.amount.is_positive
        specs.append(
            TransferSpec(
                id=f"{key}:{'commit' if increase else 'release'}:{_line_key(line)}",
                code=TransferCode.COMMIT if increase else TransferCode.RELEASE,
                amount=abs(line.amount),
                debit=available if increase else committed,
                credit=committed if increase else available,
                refs=Refs(contract_id=party.contract_id, vendor_id=party.vendor_id, budget_line_id=line.budget_line_id),
                actor_id=actor_id,
            )
        )
    return transfers_post(specs) if specs else []


def encumber(
    *, party: Party, lines: Sequence[Line], key: str, invoice_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> list[Posted]:
    """Invoice submitted (gross per coded line): committed → encumbered.

    Beyond the remaining commitment it is refused with ``commitment_exceeded`` (a change order is needed).
    """
    return _moves(
        key=key,
        step="encumber",
        code=TransferCode.ENCUMBER,
        party=party,
        lines=lines,
        source=AccountKind.COMMITTED,
        target=AccountKind.ENCUMBERED,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def encumbrance_release(
    *, party: Party, lines: Sequence[Line], key: str, invoice_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> list[Posted]:
    """Invoice rejected or returned for revision: encumbered → committed."""
    return _moves(
        key=key,
        step="release",
        code=TransferCode.RELEASE,
        party=party,
        lines=lines,
        source=AccountKind.ENCUMBERED,
        target=AccountKind.COMMITTED,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def _fee_moves(
    *,
    party: Party,
    amount: Money,
    key: str,
    step: str,
    to_encumbered: bool,
    invoice_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> list[Posted]:
    if not amount.is_positive:
        return []
    available = account_ensure(bucket=party.bucket, kind=AccountKind.AVAILABLE)
    encumbered = _acct(party, AccountKind.ENCUMBERED, Line(amount))
    debit, credit = (available, encumbered) if to_encumbered else (encumbered, available)
    spec = TransferSpec(
        id=f"{key}:{step}:fees",
        code=TransferCode.ENCUMBER if to_encumbered else TransferCode.RELEASE,
        amount=amount,
        debit=debit,
        credit=credit,
        refs=Refs(contract_id=party.contract_id, vendor_id=party.vendor_id, invoice_id=invoice_id),
        actor_id=actor_id,
    )
    return transfers_post([spec])


def fee_encumber(
    *, party: Party, amount: Money, key: str, invoice_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> list[Posted]:
    """Payment fees the payer bears on an invoice: available → encumbered (no budget line), at submission.

    They are not part of the contract, so they come out of available (``insufficient_funds`` when it cannot
    cover them: seed 004's funds-availability rule); paid out with the invoice.
    """
    return _fee_moves(
        party=party,
        amount=amount,
        key=key,
        step="fee-encumber",
        to_encumbered=True,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def fee_release(
    *, party: Party, amount: Money, key: str, invoice_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> list[Posted]:
    """The invoice was rejected or returned: its fees go back to available."""
    return _fee_moves(
        party=party,
        amount=amount,
        key=key,
        step="fee-release",
        to_encumbered=False,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def retain(
    *, party: Party, lines: Sequence[Line], key: str, invoice_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> list[Posted]:
    """Invoice approved, retention held: encumbered → retention."""
    return _moves(
        key=key,
        step="retain",
        code=TransferCode.RETAIN,
        party=party,
        lines=lines,
        source=AccountKind.ENCUMBERED,
        target=AccountKind.RETENTION,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def withhold(
    *, party: Party, lines: Sequence[Line], key: str, invoice_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> list[Posted]:
    """Invoice approved, tax withheld (owed to the tax authority): encumbered → withheld."""
    return _moves(
        key=key,
        step="withhold",
        code=TransferCode.WITHHOLD,
        party=party,
        lines=lines,
        source=AccountKind.ENCUMBERED,
        target=AccountKind.WITHHELD,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def retention_release(
    *,
    party: Party,
    lines: Sequence[Line],
    key: str,
    invoice_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> list[Posted]:
    """Verification gate passed: retention → encumbered (the retention-release invoice is then paid as usual)."""
    return _moves(
        key=key,
        step="retention-release",
        code=TransferCode.RELEASE,
        party=party,
        lines=lines,
        source=AccountKind.RETENTION,
        target=AccountKind.ENCUMBERED,
        invoice_id=invoice_id,
        actor_id=actor_id,
    )


def disbursement_schedule(
    *,
    party: Party,
    lines: Sequence[Line],
    disbursement_id: uuid.UUID,
    year: int,
    invoice_id: uuid.UUID | None = None,
    timeout_at: dt.datetime | None = None,
    actor_id: uuid.UUID | None = None,
) -> list[Posted]:
    """Payment scheduled in a run: encumbered → disbursed, **pending** (per line; disbursed carries the year)."""
    return _moves(
        key=f"disbursement:{disbursement_id}",
        step="schedule",
        code=TransferCode.DISBURSE,
        party=party,
        lines=lines,
        source=AccountKind.ENCUMBERED,
        target=AccountKind.DISBURSED,
        invoice_id=invoice_id,
        disbursement_id=disbursement_id,
        actor_id=actor_id,
        phase=TransferPhase.PENDING,
        target_year=year,
        timeout_at=timeout_at,
    )


def _disbursement_pending(disbursement_id: uuid.UUID) -> list[str]:
    return list(
        Transfer.objects.filter(disbursement_id=disbursement_id, phase=TransferPhase.PENDING)
        .order_by("seq")
        .values_list("id", flat=True)
    )


def disbursement_execute(*, disbursement_id: uuid.UUID, actor_id: uuid.UUID | None = None) -> list[Posted]:
    """Payment executed (bank reference / tx hash on the disbursement): post its pending transfers."""
    specs = [
        TransferSpec(
            id=f"{pending}:post",
            code=TransferCode.DISBURSE,
            phase=TransferPhase.POST,
            pending_id=pending,
            actor_id=actor_id,
        )
        for pending in _disbursement_pending(disbursement_id)
    ]
    return transfers_post(specs) if specs else []


def disbursement_fail(*, disbursement_id: uuid.UUID, actor_id: uuid.UUID | None = None) -> list[Posted]:
    """Payment failed or cancelled: void its pending transfers (the money is encumbered again)."""
    specs = [
        TransferSpec(
            id=f"{pending}:void",
            code=TransferCode.RELEASE,
            phase=TransferPhase.VOID,
            pending_id=pending,
            actor_id=actor_id,
        )
        for pending in _disbursement_pending(disbursement_id)
    ]
    return transfers_post(specs) if specs else []


def disbursement_reverse(*, disbursement_id: uuid.UUID, key: str, actor_id: uuid.UUID | None = None) -> list[Posted]:
    """An executed payment reversed by the rail (``transfer.reversed``): each posted DISBURSE transfer of the
    disbursement is moved back disbursed → encumbered by a new REVERSE transfer (never an UPDATE), so the money is
    encumbered for the invoice again. ``key`` names the reversal (one per provider reversal); repeating it is a
    no-op (the transfer ids are derived from it)."""
    pending = Transfer.objects.filter(disbursement_id=disbursement_id, phase=TransferPhase.PENDING).order_by("seq")
    posted = set(
        Transfer.objects.filter(
            disbursement_id=disbursement_id, phase=TransferPhase.POST, pending_id__in=pending.values("id")
        ).values_list("pending_id", flat=True)
    )
    specs = [
        TransferSpec(
            id=f"{key}:{row.id}",
            code=TransferCode.REVERSE,
            amount=Money.of_minor(row.amount, row.currency),
            debit=row.credit_account,
            credit=row.debit_account,
            refs=Refs(
                budget_line_id=row.budget_line_id,
                contract_id=row.contract_id,
                vendor_id=row.vendor_id,
                invoice_id=row.invoice_id,
                disbursement_id=disbursement_id,
            ),
            actor_id=actor_id,
            memo="payment reversed by the rail",
        )
        for row in pending.select_related("debit_account", "credit_account")
        if row.id in posted
    ]
    return transfers_post(specs) if specs else []


def contract_close(*, party: Party, key: str, actor_id: uuid.UUID | None = None) -> list[Posted]:
    """Contract closed: what is still committed on it goes back to available, per budget line."""
    with transaction.atomic():
        accounts = list(
            Account.objects.select_for_update()
            .filter(bucket=party.bucket, kind=AccountKind.COMMITTED, contract_id=party.contract_id)
            .order_by("id")
        )
        available = account_ensure(bucket=party.bucket, kind=AccountKind.AVAILABLE)
        specs = [
            TransferSpec(
                id=f"{key}:close:{account.budget_line_id or 'unallocated'}",
                code=TransferCode.RELEASE,
                amount=Money.of_minor(account.balance_available, account.currency),
                debit=account,
                credit=available,
                refs=Refs(
                    contract_id=party.contract_id, vendor_id=party.vendor_id, budget_line_id=account.budget_line_id
                ),
                actor_id=actor_id,
            )
            for account in accounts
            if account.balance_available > 0
        ]
        return transfers_post(specs) if specs else []


def pending_expire(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Void pending transfers whose timeout has passed (run by a periodic job). Returns how many."""
    moment = now or timezone.now()
    resolved = Transfer.objects.filter(pending_id=OuterRef("pk"), phase__in=[TransferPhase.POST, TransferPhase.VOID])
    expired = list(
        Transfer.objects.filter(phase=TransferPhase.PENDING, timeout_at__lte=moment)
        .filter(~Exists(resolved))
        .order_by("timeout_at")
        .values_list("id", flat=True)[:limit]
    )
    voided = 0
    for pending_id in expired:
        try:
            pending_void(id=f"{pending_id}:expire", pending_id=pending_id, code=TransferCode.RELEASE)
            voided += 1
        except PendingAlreadyResolved:
            continue  # posted or voided by someone else meanwhile
    return voided
