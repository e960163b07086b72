"""Self-billed EN 16931 e-invoice receipts of executed disbursements.

Every executed disbursement gets a :class:`Receipt`: a self-billed invoice (UNTDID 1001 type code ``389``) the
paying organization issues on behalf of the contractor. A reversed or corrected payment gets a new receipt, a
self-billed credit note (``261``) that refers to the invoice it corrects; a receipt is never changed after it is
rendered.

Numbering and rendering are split (design: documents are numbered inside the transaction, rendered after commit):

* ``numbered``: created inside the transaction that executed (or reversed) the payment, with the next number of
  the issuing organization's :class:`ReceiptSequence` (a row locked ``FOR UPDATE``, so the sequence is gapless:
  a rolled-back payment rolls its number back) and ``content``, the frozen facts the documents are rendered from;
* ``rendered``: the job ``receipts.receipt.render`` built the CII and UBL XML, validated both (XSD + EN 16931
  schematron), rendered the PDF/A-3b with the CII embedded, stored the three in the data room and recorded their
  SHA-256 here; rendering again is a no-op;
* ``invalid``: validation found error-level failures (``validation_errors``): nothing is issued or stored until
  the cause is fixed and the render is run again.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from payor.core.models import BaseModel


class ReceiptKind(models.TextChoices):
    INVOICE = "invoice", "Self-billed invoice (389)"
    CREDIT_NOTE = "credit_note", "Self-billed credit note (261)"


#: UNTDID 1001 document type codes per kind.
TYPE_CODES: dict[str, str] = {ReceiptKind.INVOICE: "389", ReceiptKind.CREDIT_NOTE: "261"}


class ReceiptStatus(models.TextChoices):
    NUMBERED = "numbered", "Numbered (rendering pending)"
    RENDERED = "rendered", "Rendered and stored"
    INVALID = "invalid", "Blocked by validation errors"


class ReceiptSequence(models.Model):
    """The gapless counter of an issuing organization's self-billed documents (locked FOR UPDATE to take one)."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.PROTECT, primary_key=True, related_name="receipt_sequence"
    )
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(last_number__gte=0), name="receipts_sequence_not_negative")]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.last_number}"


class Receipt(BaseModel):
    """One self-billed document of one disbursement (see the module docstring)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="receipts")
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="receipts")
    disbursement = models.ForeignKey("payments.Disbursement", on_delete=models.PROTECT, related_name="receipts")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, related_name="receipts")
    vendor = models.ForeignKey("vendors.Vendor", on_delete=models.PROTECT, related_name="receipts")
    kind = models.CharField(max_length=16, choices=ReceiptKind.choices)
    type_code = models.CharField(max_length=3, help_text="UNTDID 1001: 389 self-billed invoice, 261 credit note")
    sequence = models.PositiveIntegerField(help_text="Position in the organization's gapless sequence")
    number = models.CharField(max_length=32, help_text="SB-000001: the document number (BT-1)")
    corrects = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections")
    reason = models.TextField(blank=True, help_text="Why a credit note was issued")
    issue_date = models.DateField()
    transaction_id = models.CharField(max_length=200, help_text="The rail reference (payment reference, BT-83)")
    currency = models.CharField(max_length=3, help_text="The ISO 4217 code the document is stated in")
    content = models.JSONField(help_text="The frozen facts the documents are rendered from")
    status = models.CharField(max_length=16, choices=ReceiptStatus.choices, default=ReceiptStatus.NUMBERED)
    validation_errors = models.JSONField(default=list, blank=True)
    ledger_transfer_ids = models.JSONField(
        default=list, blank=True, help_text="The disbursement's ledger transfers this document evidences"
    )
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    cii_sha256 = models.CharField(max_length=64, blank=True)
    ubl_sha256 = models.CharField(max_length=64, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("organization", "sequence")
        constraints = [
            models.UniqueConstraint(fields=["organization", "sequence"], name="receipts_sequence_unique"),
            models.UniqueConstraint(fields=["organization", "number"], name="receipts_number_unique"),
            models.UniqueConstraint(
                fields=["disbursement"], condition=Q(kind="invoice"), name="receipts_one_invoice_per_disbursement"
            ),
            models.UniqueConstraint(
                fields=["corrects"], condition=Q(kind="credit_note"), name="receipts_one_credit_note_per_invoice"
            ),
            models.CheckConstraint(condition=Q(kind__in=ReceiptKind.values), name="receipts_kind"),
            models.CheckConstraint(condition=Q(status__in=ReceiptStatus.values), name="receipts_status"),
            models.CheckConstraint(
                condition=Q(kind="invoice", type_code="389", corrects__isnull=True)
                | Q(kind="credit_note", type_code="261", corrects__isnull=False),
                name="receipts_type_code_matches_kind",
            ),
            models.CheckConstraint(condition=Q(sequence__gt=0), name="receipts_sequence_positive"),
            models.CheckConstraint(
                condition=~Q(status="rendered")
                | (Q(rendered_at__isnull=False) & ~Q(pdf_sha256="") & ~Q(cii_sha256="") & ~Q(ubl_sha256="")),
                name="receipts_rendered_has_hashes",
            ),
        ]
        indexes = [models.Index(fields=["project", "status"], name="receipts_project_status")]

    def __str__(self) -> str:
        return f"{self.number} ({self.type_code})"
