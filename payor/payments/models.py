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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

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
                    Q(status="executed", executed_on__isnull=False, executed_by__isnull=False) & ~Q(rail_reference="")
                )
                | (~Q(status="executed") & Q(executed_on__isnull=True, executed_by__isnull=True)),
                name="payments_executed_has_date_who_and_reference",
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
