"""Reads from the ledger. Balances are sums over a handful of account rows, never scans of transfers."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import connection

from payor.core.money import Money
from payor.ledger.models import Account, AccountKind, Transfer, TransferPhase


@dataclass(frozen=True)
class Figures:
    """The Lift Forward card of one bucket (or one slice of it).

    Each internal figure is what is held there now, net of pending outflows;
    ``pending`` is what is in flight (scheduled, not yet executed). Identity:
    funded = available + committed + encumbered + retention + withheld + disbursed + pending.
    """

    currency: str
    funded: Money
    available: Money
    committed: Money
    encumbered: Money
    retention: Money
    withheld: Money
    disbursed: Money
    pending: Money

    @classmethod
    def zero(cls, currency: str) -> Figures:
        nothing = Money.zero(currency)
        return cls(currency, nothing, nothing, nothing, nothing, nothing, nothing, nothing, nothing)

    @property
    def balanced(self) -> bool:
        parts = (self.available, self.committed, self.encumbered, self.retention, self.withheld, self.disbursed)
        return self.funded == Money.sum((*parts, self.pending), self.currency)


_FIGURES_SQL = """
    SELECT {group} currency, kind,
           sum(debits_pending), sum(debits_posted), sum(credits_pending), sum(credits_posted)
    FROM ledger_account
    WHERE {where}
    GROUP BY {group} currency, kind
"""


def _figures(rows: list[tuple[Any, ...]], currency: str) -> Figures:
    held: dict[str, int] = {kind: 0 for kind in AccountKind.values}
    pending = 0
    for kind_value, dp, dpo, _cp, cpo in rows:
        kind = str(kind_value)
        if kind == AccountKind.FUNDING:  # the external source is debit-normal
            held[kind] += int(dpo) - int(cpo)
        else:
            held[kind] += int(cpo) - int(dpo) - int(dp)
            pending += int(dp)

    def money(minor: int) -> Money:
        return Money.of_minor(minor, currency)

    return Figures(
        currency=currency,
        funded=money(held[AccountKind.FUNDING]),
        available=money(held[AccountKind.AVAILABLE]),
        committed=money(held[AccountKind.COMMITTED]),
        encumbered=money(held[AccountKind.ENCUMBERED]),
        retention=money(held[AccountKind.RETENTION]),
        withheld=money(held[AccountKind.WITHHELD]),
        disbursed=money(held[AccountKind.DISBURSED]),
        pending=money(pending),
    )


def _grouped(where: str, params: list[Any], group: str = "") -> dict[tuple[Any, ...], Figures]:
    sql = _FIGURES_SQL.format(where=where, group=f"{group}, " if group else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = 1 if group else 0
    buckets: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        key = (*row[:width], row[width])  # group value(s) + currency
        buckets.setdefault(key, []).append(row[width + 1 :])
    return {key: _figures(kind_rows, str(key[-1])) for key, kind_rows in buckets.items()}


def project_summary(*, project_id: uuid.UUID) -> dict[str, Figures]:
    """Figures per currency bucket of a project: one indexed aggregate over its accounts."""
    return {str(key[0]): figures for key, figures in _grouped("project_id = %s", [project_id]).items()}


def budget_line_figures(*, project_id: uuid.UUID) -> dict[tuple[uuid.UUID | None, str], Figures]:
    """Per budget line (and currency): committed, encumbered, retention, disbursed…

    Funded and available are project-wide, so they are zero here.
    """
    grouped = _grouped("project_id = %s AND kind <> 'funding' AND kind <> 'available'", [project_id], "budget_line_id")
    return {(key[0], str(key[1])): figures for key, figures in grouped.items()}


def budget_lines_figures(
    *, project_id: uuid.UUID, budget_line_ids: Collection[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], Figures]:
    """:func:`budget_line_figures` for some lines only (one indexed aggregate, whatever their number).

    The budget checks lock a few lines and read just their subtrees with it.
    """
    if not budget_line_ids:
        return {}
    grouped = _grouped(
        "project_id = %s AND budget_line_id = ANY(%s) AND kind <> 'funding' AND kind <> 'available'",
        [project_id, list(budget_line_ids)],
        "budget_line_id",
    )
    return {(key[0], str(key[1])): figures for key, figures in grouped.items()}


def budget_lines_touched(*, project_id: uuid.UUID, budget_line_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The lines some transfer has ever moved money on, in any currency, even if it has all moved away again."""
    if not budget_line_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT budget_line_id FROM ledger_account
            WHERE project_id = %s AND budget_line_id = ANY(%s)
              AND (debits_pending <> 0 OR debits_posted <> 0 OR credits_pending <> 0 OR credits_posted <> 0)
            """,
            [project_id, list(budget_line_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


def contract_figures(*, contract_id: uuid.UUID) -> dict[str, Figures]:
    """A contract's figures per currency; ``committed`` is its remaining commitment."""
    return {str(key[0]): figures for key, figures in _grouped("contract_id = %s", [contract_id]).items()}


def contract_committed_by_line(*, contract_id: uuid.UUID) -> dict[uuid.UUID | None, Money]:
    """What is still committed (not yet invoiced) on a contract, per budget line: its remaining commitment."""
    rows = Account.objects.filter(kind=AccountKind.COMMITTED, contract_id=contract_id).values_list(
        "budget_line_id", "currency", "credits_posted", "debits_posted", "debits_pending"
    )
    return {
        line_id: Money.of_minor(credits - debits - pending, currency)
        for line_id, currency, credits, debits, pending in rows
    }


def invoice_transfers(*, invoice_id: uuid.UUID) -> list[Transfer]:
    """Every ledger transfer of an invoice, in posting order (its ledger effects)."""
    return list(Transfer.objects.filter(invoice_id=invoice_id).order_by("seq"))


def vendor_paid(*, vendor_id: uuid.UUID, year: int) -> dict[str, Money]:
    """What a vendor was paid (executed disbursements) in a calendar year, per currency: the 1099 figure."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT currency, sum(credits_posted - debits_posted)
            FROM ledger_account WHERE vendor_id = %s AND year = %s AND kind = 'disbursed'
            GROUP BY currency
            """,
            [vendor_id, year],
        )
        return {code: Money.of_minor(int(total), code) for code, total in cursor.fetchall()}


@dataclass(frozen=True)
class HistoryLine:
    transfer: Transfer
    delta: int  # effect on the account's posted balance (its own sign convention)
    pending_delta: int  # effect on its pending debits/credits
    balance_after: int  # posted balance right after this transfer


def _effect(transfer: Transfer, account: Account, pending_amount: int) -> tuple[int, int]:
    """(posted delta, pending delta) of ``transfer`` on ``account``'s balance."""
    sign = 1 if (transfer.credit_account_id == account.pk) != (account.kind == AccountKind.FUNDING) else -1
    phase = transfer.phase
    if phase == TransferPhase.SINGLE:
        return sign * transfer.amount, 0
    if phase == TransferPhase.PENDING:
        return 0, transfer.amount
    if phase == TransferPhase.POST:
        return sign * transfer.amount, -pending_amount
    return 0, -pending_amount


@dataclass(frozen=True)
class HistoryPage:
    lines: list[HistoryLine]
    next_before_seq: int | None  # pass back with next_balance to read the following (older) page
    next_balance: int | None


def account_history(
    *, account: Account, limit: int = 50, before_seq: int | None = None, balance: int | None = None
) -> HistoryPage:
    """Transfers touching an account, newest first, with the running posted balance after each.

    The first page starts from the stored balance; each page hands back the
    balance to start the next one from, so a page costs O(page), not O(history).
    """
    if before_seq is None or balance is None:
        account.refresh_from_db()
        balance, before_seq = account.balance_posted, None
    touching = (
        Transfer.objects.filter(debit_account=account) | Transfer.objects.filter(credit_account=account)
    ).select_related("pending")
    if before_seq is not None:
        touching = touching.filter(seq__lt=before_seq)
    lines = []
    page = list(touching.order_by("-seq")[: limit + 1])  # one extra row tells whether an older page exists
    for transfer in page[:limit]:
        delta, pending_delta = _effect(transfer, account, transfer.pending.amount if transfer.pending else 0)
        lines.append(HistoryLine(transfer=transfer, delta=delta, pending_delta=pending_delta, balance_after=balance))
        balance -= delta
    more = len(page) > limit
    return HistoryPage(
        lines=lines,
        next_before_seq=lines[-1].transfer.seq if more else None,
        next_balance=balance if more else None,
    )
