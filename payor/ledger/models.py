"""The double-entry ledger: accounts with four balances, and append-only transfers.

Modelled on TigerBeetle. Every transfer debits one account and credits another
by a positive amount in their common currency. Internal accounts are
credit-normal: their balance is ``credits_posted - debits_posted`` and a CHECK
per account kind keeps ``debits_pending + debits_posted <= credits_posted``,
so no internal account can go negative, enforced by the same UPDATE that moves
the money. The external ``funding`` account is debit-normal and unlimited: its
``debits_posted - credits_posted`` is what the project has been funded.

Transfers are written only by the ``ledger_post`` SQL function (see the
migrations), which inserts them and updates the account balances in one
statement sequence; triggers make transfers append-only and refuse balance
changes made outside that function.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from payor.core.fields import CurrencyField


class AccountKind(models.TextChoices):
    FUNDING = "funding", "Funding (external source)"
    AVAILABLE = "available", "Available"
    COMMITTED = "committed", "Committed"
    ENCUMBERED = "encumbered", "Encumbered"
    RETENTION = "retention", "Retention"
    WITHHELD = "withheld", "Withheld"
    DISBURSED = "disbursed", "Disbursed"


INTERNAL_KINDS = [kind for kind in AccountKind.values if kind != AccountKind.FUNDING]


class TransferCode(models.TextChoices):
    FUND = "FUND", "Fund"
    COMMIT = "COMMIT", "Commit"
    ENCUMBER = "ENCUMBER", "Encumber"
    RETAIN = "RETAIN", "Retain"
    WITHHOLD = "WITHHOLD", "Withhold"
    DISBURSE = "DISBURSE", "Disburse"
    RELEASE = "RELEASE", "Release"
    REVERSE = "REVERSE", "Reverse"


class TransferPhase(models.TextChoices):
    SINGLE = "single", "Posted"
    PENDING = "pending", "Pending"
    POST = "post", "Post pending"
    VOID = "void", "Void pending"


class Account(models.Model):
    """One balance of a project bucket, optionally narrowed by dimensions.

    ``committed``/``encumbered``/``retention``/``withheld``/``disbursed`` carry
    the budget line, contract and vendor they belong to (and ``disbursed`` the
    calendar year, for 1099 totals), so every figure the product shows is a sum
    over a handful of account rows.
    """

    id = models.BigAutoField(primary_key=True)
    # Both are prefixes of the indexes below; their own FK indexes would only slow balance updates.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="ledger_accounts", db_index=False
    )
    bucket = models.ForeignKey(
        "projects.FundingBucket", on_delete=models.PROTECT, related_name="ledger_accounts", db_index=False
    )
    currency = CurrencyField()
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    budget_line_id = models.UUIDField(null=True, blank=True)
    contract_id = models.UUIDField(null=True, blank=True)
    vendor_id = models.UUIDField(null=True, blank=True)
    year = models.SmallIntegerField(null=True, blank=True)
    # TigerBeetle's account flags: set from the kind when the account is created.
    debits_must_not_exceed_credits = models.BooleanField(default=True)
    credits_must_not_exceed_debits = models.BooleanField(default=False)
    debits_pending = models.BigIntegerField(default=0)
    debits_posted = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "kind", "budget_line_id", "contract_id", "vendor_id", "year"],
                name="ledger_account_dimensions_unique",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=models.Q(kind__in=AccountKind.values), name="ledger_account_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(
                    debits_pending__gte=0, debits_posted__gte=0, credits_pending__gte=0, credits_posted__gte=0
                ),
                name="ledger_account_balances_non_negative",
            ),
            # One constraint per kind, so a refusal names the balance that would have gone negative.
            *[
                models.CheckConstraint(
                    condition=~models.Q(kind=kind, debits_must_not_exceed_credits=True)
                    | models.Q(credits_posted__gte=models.F("debits_posted") + models.F("debits_pending")),
                    name=f"ledger_{kind}_debits_within_credits",
                )
                for kind in AccountKind.values
            ],
            models.CheckConstraint(
                condition=models.Q(credits_must_not_exceed_debits=False)
                | models.Q(debits_posted__gte=models.F("credits_posted") + models.F("credits_pending")),
                name="ledger_account_credits_within_debits",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="funding") | models.Q(debits_must_not_exceed_credits=True),
                name="ledger_internal_accounts_never_overdraw",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "kind"], name="ledger_account_project_kind"),
            models.Index(fields=["contract_id"], name="ledger_account_contract"),
            models.Index(fields=["vendor_id", "year"], name="ledger_account_vendor_year"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk} ({self.currency})"

    @property
    def balance_posted(self) -> int:
        if self.kind == AccountKind.FUNDING:
            return self.debits_posted - self.credits_posted
        return self.credits_posted - self.debits_posted

    @property
    def balance_available(self) -> int:
        """Posted balance less what pending transfers have already earmarked."""
        return self.credits_posted - self.debits_posted - self.debits_pending


class Transfer(models.Model):
    """An append-only movement of money between two accounts.

    ``id`` is supplied by the caller and derived from the business event
    (``invoice:<uuid>:encumber``), which makes posting idempotent.
    """

    id = models.CharField(max_length=200, primary_key=True)
    # Posting order, from a sequence; the history indexes pair it with each account.
    seq = models.BigIntegerField(editable=False)
    # Indexed by the (account, seq) indexes below. No foreign-key constraint: ledger_post checks that
    # both accounts exist before inserting, and a trigger forbids deleting accounts, so the reference
    # can never dangle; a constraint would add two row-locking lookups to every posted transfer
    # (a quarter of a 10,000-transfer batch, measured).
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="debits", db_index=False, db_constraint=False
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="credits", db_index=False, db_constraint=False
    )
    amount = models.BigIntegerField()
    currency = CurrencyField()
    code = models.CharField(max_length=16, choices=TransferCode.choices)
    phase = models.CharField(max_length=8, choices=TransferPhase.choices, default=TransferPhase.SINGLE)
    pending = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resolutions",
        db_column="pending_id",
        db_index=False,
    )
    timeout_at = models.DateTimeField(null=True, blank=True)
    batch_id = models.UUIDField(null=True, blank=True)
    # Derived from the debit account by ledger_post (accounts carry the project foreign key), so no
    # constraint of its own: one less check per posted transfer.
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.PROTECT,
        related_name="ledger_transfers",
        db_index=False,
        db_constraint=False,
    )
    budget_line_id = models.UUIDField(null=True, blank=True)
    contract_id = models.UUIDField(null=True, blank=True)
    vendor_id = models.UUIDField(null=True, blank=True)
    invoice_id = models.UUIDField(null=True, blank=True)
    milestone_id = models.UUIDField(null=True, blank=True)
    disbursement_id = models.UUIDField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    memo = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="ledger_transfer_amount_positive"),
            models.CheckConstraint(
                condition=~models.Q(debit_account=models.F("credit_account")), name="ledger_transfer_accounts_differ"
            ),
            models.CheckConstraint(
                condition=models.Q(phase__in=TransferPhase.values), name="ledger_transfer_phase_valid"
            ),
            models.CheckConstraint(condition=models.Q(code__in=TransferCode.values), name="ledger_transfer_code_valid"),
            models.CheckConstraint(
                condition=models.Q(phase__in=["post", "void"], pending__isnull=False)
                | models.Q(phase__in=["single", "pending"], pending__isnull=True),
                name="ledger_transfer_pending_reference",
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_at__isnull=True) | models.Q(phase="pending"),
                name="ledger_transfer_timeout_only_pending",
            ),
            models.UniqueConstraint(
                fields=["pending"],
                condition=models.Q(phase__in=["post", "void"]),
                name="ledger_transfer_pending_resolved_once",
            ),
        ]
        indexes = [
            models.Index(fields=["debit_account", "seq"], name="ledger_transfer_debit_seq"),
            models.Index(fields=["credit_account", "seq"], name="ledger_transfer_credit_seq"),
            models.Index(
                fields=["timeout_at"],
                condition=models.Q(phase="pending", timeout_at__isnull=False),
                name="ledger_transfer_timeouts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.id} {self.amount} {self.currency}"
