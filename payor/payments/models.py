"""Disbursements: paying one approved invoice to its vendor.

A disbursement is what every rail shares (payment runs, rails and attempts come later): which invoice is paid,
how much cash goes to the vendor, by which method, on which date, and what the rail answered (its reference:
a bank trace, a batch id, a transaction hash). Its lifecycle (design §6)::

    scheduled ──execute (rail reference)──▶ executed
        ├──────fail (reason)──────────────▶ failed
        └──────cancel─────────────────────▶ canceled

While it is ``scheduled`` its money is in flight in the ledger (encumbered → disbursed, pending); executing posts
it, failing or cancelling voids it. At most one disbursement of an invoice is ``scheduled`` or ``executed`` at any
time (a partial unique index), so an invoice can never be paid twice; a failed or cancelled one leaves the
invoice ``approved`` to be scheduled again.

``amount`` is the cash the vendor receives: the invoice's ``net_payable`` when the early-pay discount is taken
(``discount_taken`` = the invoice's ``early_pay_discount``), else ``net_payable + early_pay_discount``
(``discount_taken`` zero). ``fees`` are the payer's, paid out beside it and never deducted from the vendor.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from payor.core.fields import CurrencyField, MoneyField
from payor.core.models import BaseModel


class DisbursementStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"

    @classmethod
    def active(cls) -> tuple[str, ...]:
        """Statuses that hold the invoice (at most one per invoice): in flight or paid."""
        return (cls.SCHEDULED, cls.EXECUTED)

    @classmethod
    def ended(cls) -> tuple[str, ...]:
        """Statuses whose money went back to the invoice's encumbrance."""
        return (cls.FAILED, cls.CANCELED)


class DisbursementMethod(models.TextChoices):
    """How the vendor is paid: the vendor bank methods (``payor.vendors.models.BankMethod``) plus ``manual``, an
    off-platform transfer recorded with its reference. Kept equal to ``BankMethod`` + manual by a test."""

    ACH = "ach", "ACH"
    WIRE = "wire", "Wire"
    SEPA = "sepa", "SEPA credit transfer"
    USDC = "usdc", "USDC"
    ONCHAIN_SAFE = "onchain_safe", "On-chain Safe"
    STRIPE_CONNECT = "stripe_connect", "Stripe Connect"
    TROLLEY = "trolley", "Trolley"
    MANUAL = "manual", "Manual (off-platform, recorded with its reference)"


class Disbursement(BaseModel):
    """One payment of one invoice to its vendor (see the module docstring)."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="disbursements")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, related_name="disbursements")
    vendor = models.ForeignKey("vendors.Vendor", on_delete=models.PROTECT, related_name="disbursements")
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency", help_text="Cash to the vendor")
    discount_taken = MoneyField(
        currency_field="currency", help_text="The invoice's early-pay discount when taken (scheduled in time), else 0"
    )
    fees = MoneyField(currency_field="currency", help_text="Payment fees the payer bears, paid beside the amount")
    method = models.CharField(max_length=16, choices=DisbursementMethod.choices)
    status = models.CharField(max_length=16, choices=DisbursementStatus.choices, default=DisbursementStatus.SCHEDULED)
    scheduled_on = models.DateField(help_text="The day the payment is to be made")
    executed_on = models.DateField(null=True, blank=True, help_text="The day the rail executed it")
    rail_reference = models.CharField(
        max_length=200, blank=True, help_text="Bank reference, batch id, file trace or transaction hash"
    )
    failure_reason = models.TextField(blank=True, help_text="Why it failed or was cancelled")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    scheduled_by_system = models.BooleanField(
        default=False, help_text="Scheduled by a job (a self-billed invoice paid on its terms), not by a user"
    )
    executed_via_rail = models.BooleanField(
        default=False, help_text="Executed on the rail's confirmation (API answer or webhook), not by a user"
    )
    # The seed-000 transaction record: amount, contractor (vendor), company (the project's organization), project,
    # milestone, approved_at, transaction id (``rail_reference``).
    approved_at = models.DateTimeField(null=True, blank=True, help_text="When the invoice was approved")
    milestone_id = models.UUIDField(null=True, blank=True, help_text="The milestone a self-billed invoice pays")
    milestone_title = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status__in=["scheduled", "executed"]),
                name="payments_disbursement_one_active_per_invoice",
            ),
            models.CheckConstraint(condition=Q(status__in=DisbursementStatus.values), name="payments_status"),
            models.CheckConstraint(condition=Q(method__in=DisbursementMethod.values), name="payments_method"),
            models.CheckConstraint(
                condition=Q(amount__gte=0, discount_taken__gte=0, fees__gte=0), name="payments_amounts_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="executed", executed_on__isnull=False)
                    & (Q(executed_by__isnull=False) | Q(executed_via_rail=True))
                    & ~Q(rail_reference="")
                )
                | (
                    ~Q(status="executed")
                    & Q(executed_on__isnull=True, executed_by__isnull=True, executed_via_rail=False)
                ),
                name="payments_executed_has_date_who_and_reference",
            ),
            models.CheckConstraint(
                condition=Q(created_by__isnull=False) | Q(scheduled_by_system=True),
                name="payments_created_by_user_or_system",
            ),
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(rail_reference="", failure_reason=""),
                name="payments_scheduled_has_no_outcome",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_reason=""), name="payments_failed_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="payments_project_status"),
            models.Index(fields=["vendor", "status"], name="payments_vendor_status"),
            models.Index(fields=["scheduled_on"], name="payments_scheduled_on"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.amount} ({self.status})"


class Rail(models.TextChoices):
    """Rails that pay through a provider's API (a disbursement method with a rail adapter)."""

    STRIPE_CONNECT = "stripe_connect", "Stripe Connect"


class AttemptStatus(models.TextChoices):
    """One try to pay a disbursement on its rail.

    ``pending``: written and committed before the rail is called (a killed worker leaves it: retried with its own
    key); ``submitted``: the rail accepted it, confirmation awaited; ``succeeded``: the rail reported the payment
    made (its reference stored); ``failed_retryable``/``unknown``: an error or timeout after which the outcome is
    not known — retried with the SAME idempotency key, so the provider replays instead of paying twice;
    ``failed_terminal``: refused for good (the disbursement failed with the reason)."""

    PENDING = "pending", "Pending"
    SUBMITTED = "submitted", "Submitted"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED_RETRYABLE = "failed_retryable", "Failed (will retry)"
    FAILED_TERMINAL = "failed_terminal", "Failed"
    UNKNOWN = "unknown", "Outcome unknown (will retry)"

    @classmethod
    def open(cls) -> tuple[str, ...]:
        """Tries whose outcome is not known yet: retried with their own key."""
        return (cls.PENDING, cls.FAILED_RETRYABLE, cls.UNKNOWN)


class PaymentAttempt(BaseModel):
    """One idempotency key's worth of trying to pay a disbursement (``disb-<disbursement id>-<number>``). Retries
    of an unknown outcome reuse the row and its key (``tries`` counts them)."""

    disbursement = models.ForeignKey(Disbursement, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=255, unique=True)
    rail = models.CharField(max_length=32, choices=Rail.choices)
    status = models.CharField(max_length=20, choices=AttemptStatus.choices, default=AttemptStatus.PENDING)
    provider_reference = models.CharField(max_length=255, blank=True, help_text="The provider's id (transfer id)")
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    request_summary = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    tries = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the rail was last called")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When the outcome became final")
    next_try_at = models.DateTimeField(null=True, blank=True, help_text="When an open attempt is retried")

    class Meta:
        ordering = ("disbursement_id", "number")
        constraints = [
            models.UniqueConstraint(fields=["disbursement", "number"], name="payments_attempt_number_unique"),
            models.CheckConstraint(condition=Q(status__in=AttemptStatus.values), name="payments_attempt_status"),
            models.CheckConstraint(condition=Q(rail__in=Rail.values), name="payments_attempt_rail"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | ~Q(provider_reference=""),
                name="payments_attempt_succeeded_has_reference",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed_terminal") | ~Q(error_code=""), name="payments_attempt_failed_has_code"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_try_at"], name="payments_attempt_open")]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"


class WebhookEvent(BaseModel):
    """The webhook inbox: one row per provider event (unique on ``(rail, external_id)``), stored once its
    signature verified, processed by the ``payments.webhook.process`` job."""

    rail = models.CharField(max_length=32, choices=Rail.choices)
    external_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    signature_verified = models.BooleanField(default=False)
    event_created_at = models.DateTimeField(null=True, blank=True, help_text="The provider's event time")
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("received_at",)
        constraints = [
            models.UniqueConstraint(fields=["rail", "external_id"], name="payments_webhook_unique_event"),
            models.CheckConstraint(condition=Q(rail__in=Rail.values), name="payments_webhook_rail"),
        ]
        indexes = [models.Index(fields=["processed_at"], name="payments_webhook_processed")]

    def __str__(self) -> str:
        return f"{self.rail}:{self.external_id} {self.type}"


class ConnectedAccount(BaseModel):
    """A vendor's Stripe connected account (one per vendor). Capability fields follow ``account.updated`` events;
    an event older than the last one applied is ignored (out-of-order deliveries are harmless)."""

    vendor = models.OneToOneField("vendors.Vendor", on_delete=models.PROTECT, related_name="stripe_account")
    rail = models.CharField(max_length=32, choices=Rail.choices, default=Rail.STRIPE_CONNECT)
    account_id = models.CharField(max_length=255, unique=True)
    details_submitted = models.BooleanField(default=False)
    transfers_capability = models.CharField(max_length=20, default="inactive", help_text="active|inactive|pending")
    payouts_enabled = models.BooleanField(default=False)
    updated_from_event_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("-id",)
        constraints = [models.CheckConstraint(condition=Q(rail__in=Rail.values), name="payments_account_rail")]

    def __str__(self) -> str:
        return f"{self.account_id} ({self.vendor_id})"


class Payout(BaseModel):
    """A payout of a connected account to its bank (``payout.paid`` / ``payout.failed``): the last leg of a
    Stripe Connect payment, shown on the vendor's disbursements."""

    account = models.ForeignKey(ConnectedAccount, on_delete=models.PROTECT, related_name="payouts")
    payout_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=20)
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency")
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.TextField(blank=True)
    event_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.payout_id} ({self.status})"
