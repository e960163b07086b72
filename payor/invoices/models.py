"""Invoices against contracts: schedule-of-values lines, coding to budget lines, attachments.

An invoice bills work of a period against an executed contract. Its schedule-of-values (SOV) lines say, per
item of the contract's SOV, the scheduled value, what earlier invoices billed (``previous``), what this one
bills (``this_period``) and the resulting ``percent_complete``; the subtotal is the sum of ``this_period``.
The subtotal is coded to the contract's budget lines (the coding sums to the subtotal); taxes, retention and
withholding are split over the coding lines by :func:`payor.invoices.math.invoice_figures`, so every ledger
transfer (ENCUMBER at submission, RETAIN and WITHHOLD at approval) is per budget line and the parts add up to
the invoice's figures to the cent.

All amounts are stored (integer minor units, the contract's currency): an invoice is a document whose numbers
must not move when a rule changes later. Database checks hold the arithmetic identities.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from payor.core.fields import CurrencyField, MoneyField
from payor.core.models import BaseModel

if TYPE_CHECKING:
    from payor.core.money import Money


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    UNDER_REVIEW = "under_review", "Under review"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    PAID = "paid", "Paid"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"

    @classmethod
    def in_review(cls) -> tuple[str, ...]:
        """Submitted and waiting for (more) approvals: encumbered, decisions possible."""
        return (cls.SUBMITTED, cls.UNDER_REVIEW)

    @classmethod
    def billed(cls) -> tuple[str, ...]:
        """Statuses whose billing counts against the contract (SOV ``previous``, NTE)."""
        return (cls.SUBMITTED, cls.UNDER_REVIEW, cls.APPROVED, cls.SCHEDULED, cls.PAID, cls.CLOSED)


class InvoiceKind(models.TextChoices):
    VENDOR = "vendor", "Vendor invoice"
    SELF_BILLED = "self_billed", "Self-billed (from an approved milestone)"


class Invoice(BaseModel):
    """One invoice of a vendor against a contract, with its figures (see the module docstring)."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="invoices")
    contract = models.ForeignKey("contracts.Contract", on_delete=models.PROTECT, related_name="invoices")
    vendor = models.ForeignKey("vendors.Vendor", on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(max_length=16, choices=InvoiceKind.choices, default=InvoiceKind.VENDOR)
    number = models.CharField(max_length=32, help_text="Payor's number, unique in the project (INV-0001…)")
    vendor_reference = models.CharField(
        max_length=64, blank=True, help_text="The vendor's own invoice number; unique per vendor and contract"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    round = models.PositiveSmallIntegerField(
        default=1, help_text="Review round: a return for revision starts a new one (approvals count per round)"
    )
    currency = CurrencyField()
    retention_percent = models.DecimalField(
        max_digits=5, decimal_places=2, help_text="The contract's retention percentage when the invoice was priced"
    )
    subtotal = MoneyField(currency_field="currency", help_text="Sum of the SOV lines' this-period amounts")
    taxes = MoneyField(currency_field="currency", help_text="Sales tax / VAT charged by the vendor")
    total = MoneyField(currency_field="currency", help_text="subtotal + taxes: what the contract is charged")
    retention = MoneyField(currency_field="currency", help_text="Held back until verification gates pass")
    withholds = MoneyField(currency_field="currency", help_text="Tax withheld, remitted to the tax authority")
    early_pay_discount = MoneyField(
        currency_field="currency", help_text="Taken when paid by discount_until (early-pay terms), else zero"
    )
    net_payable = MoneyField(
        currency_field="currency", help_text="total - retention - withholds - early_pay_discount: paid to the vendor"
    )
    fees = MoneyField(
        currency_field="currency", help_text="Payment fees the payer bears; from available funds, not the contract"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True, help_text="Set at approval from the contract's payment terms")
    discount_until = models.DateField(null=True, blank=True, help_text="Last day the early-pay discount applies")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When it was last rejected or returned")
    rejection_reason = models.TextField(blank=True)
    return_note = models.TextField(blank=True, help_text="Why it was last returned for revision")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("project", "number")
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="invoices_number_unique"),
            models.UniqueConstraint(
                fields=["contract", "vendor_reference"],
                condition=~Q(vendor_reference="") & ~Q(status="rejected"),
                name="invoices_vendor_reference_unique",
            ),
            models.CheckConstraint(condition=Q(status__in=InvoiceStatus.values), name="invoices_status"),
            models.CheckConstraint(condition=Q(kind__in=InvoiceKind.values), name="invoices_kind"),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="invoices_period_ordered"),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0, taxes__gte=0, retention__gte=0, withholds__gte=0)
                & Q(early_pay_discount__gte=0, fees__gte=0, net_payable__gte=0),
                name="invoices_amounts_not_negative",
            ),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("taxes")), name="invoices_total_identity"),
            models.CheckConstraint(
                condition=Q(
                    net_payable=F("total") - F("retention") - F("withholds") - F("early_pay_discount"),
                ),
                name="invoices_net_payable_identity",
            ),
            models.CheckConstraint(
                condition=Q(retention_percent__gte=0, retention_percent__lte=100), name="invoices_retention_range"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(submitted_at__isnull=False, submitted_by__isnull=False),
                name="invoices_submitted_has_who_and_when",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "scheduled", "paid", "closed"])
                | Q(approved_at__isnull=False, due_on__isnull=False),
                name="invoices_approved_has_when_and_due",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="invoices_project_status"),
            models.Index(fields=["vendor", "status"], name="invoices_vendor_status"),
            models.Index(fields=["contract", "status"], name="invoices_contract_status"),
            models.Index(fields=["due_on"], name="invoices_due_on"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"

    @property
    def funds_required(self) -> Money:
        """Seed 004's funds-availability figure: total - withholds - early-pay discount + fees."""
        return self.total - self.withholds - self.early_pay_discount + self.fees


class InvoiceLine(BaseModel):
    """A schedule-of-values line: one item of the contract's SOV as billed by this invoice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    item_code = models.CharField(max_length=32, help_text="The SOV item, stable across a contract's invoices")
    description = models.CharField(max_length=300)
    currency = CurrencyField()
    scheduled_value = MoneyField(currency_field="currency")
    previous = MoneyField(currency_field="currency", help_text="Billed on this item by earlier invoices")
    this_period = MoneyField(currency_field="currency")
    percent_complete = models.DecimalField(
        max_digits=5, decimal_places=2, help_text="(previous + this period) / scheduled value, rounded down"
    )
    retention = MoneyField(currency_field="currency", help_text="This line's share of the invoice's retention")

    class Meta:
        ordering = ("invoice", "position")
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoices_line_position_unique"),
            models.UniqueConstraint(fields=["invoice", "item_code"], name="invoices_line_item_unique"),
            models.CheckConstraint(
                condition=Q(scheduled_value__gt=0, previous__gte=0, this_period__gte=0, retention__gte=0),
                name="invoices_line_amounts",
            ),
            models.CheckConstraint(
                condition=Q(scheduled_value__gte=F("previous") + F("this_period")),
                name="invoices_line_not_over_scheduled",
            ),
            models.CheckConstraint(
                condition=Q(percent_complete__gte=Decimal(0), percent_complete__lte=Decimal(100)),
                name="invoices_line_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_code} {self.this_period}"


class InvoiceCoding(BaseModel):
    """The part of the subtotal charged to one budget line, with its shares of taxes, retention and withholding.

    ``gross = amount + taxes`` is what is encumbered on the line at submission; at approval ``retention`` and
    ``withholds`` move on to retention and withheld.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="coding")
    budget_line = models.ForeignKey("projects.BudgetLine", on_delete=models.PROTECT, related_name="+")
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency")
    taxes = MoneyField(currency_field="currency")
    gross = MoneyField(currency_field="currency")
    retention = MoneyField(currency_field="currency")
    withholds = MoneyField(currency_field="currency")

    class Meta:
        ordering = ("invoice", "budget_line__wbs_code")
        constraints = [
            models.UniqueConstraint(fields=["invoice", "budget_line"], name="invoices_coding_one_per_line"),
            models.CheckConstraint(
                condition=Q(amount__gt=0, taxes__gte=0, retention__gte=0, withholds__gte=0),
                name="invoices_coding_amounts",
            ),
            models.CheckConstraint(condition=Q(gross=F("amount") + F("taxes")), name="invoices_coding_gross"),
            models.CheckConstraint(
                condition=Q(gross__gte=F("retention") + F("withholds")), name="invoices_coding_parts_within_gross"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget_line_id} {self.amount}"


def attachment_upload_to(instance: InvoiceAttachment, filename: str) -> str:
    """``invoices/<invoice id>/<name>``: the service names the file after the attachment id and detected type."""
    return f"invoices/{instance.invoice_id}/{filename}"


class InvoiceAttachment(BaseModel):
    """A supporting file (SOV, timecards, photos): type checked from its bytes, size-limited, hashed."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=attachment_upload_to, max_length=300)
    original_filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("invoice", "created_at")

    def __str__(self) -> str:
        return self.original_filename
