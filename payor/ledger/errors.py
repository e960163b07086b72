"""Ledger refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import Conflict, DomainError, NotFound


class LedgerError(DomainError):
    code = "ledger_error"
    status = 422
    title = "The ledger refused the transfer"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"
    status = 409
    title = "Insufficient Lift Forward funds: add funds, reduce scope, or split invoice."


class CommitmentExceeded(LedgerError):
    code = "commitment_exceeded"
    status = 409
    title = "The amount exceeds the remaining commitment: a change order is needed"


class BalanceExceeded(LedgerError):
    """An internal account other than available/committed would go negative."""

    code = "ledger_balance_exceeded"
    status = 409
    title = "The amount exceeds the balance held for it"


class TransferConflict(Conflict):
    code = "transfer_exists_with_different_fields"
    title = "A transfer with this id exists with different fields"


class PendingAlreadyResolved(Conflict):
    code = "pending_transfer_already_resolved"
    title = "The pending transfer was already posted or voided"


class TransferInvalid(LedgerError):
    title = "The transfer is not valid"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "No such ledger account"


class LedgerContention(DomainError):
    """A serialization failure or deadlock that persisted through the retries (or inside an outer transaction)."""

    code = "ledger_contention"
    status = 503
    title = "The ledger is busy; retry the request"


class LedgerTampering(DomainError):
    code = "ledger_append_only"
    status = 409
    title = "Ledger transfers and balances cannot be edited"
