"""The per-transaction data room: one folder per disbursement, its documents recorded with their hashes.

A :class:`DataRoomObject` records one stored document: where it is (backend + storage key
``<project id>/<disbursement id>/<name>``), what it is (kind, content type, size) and its SHA-256, so every read
and ``payor receipts verify`` can prove the bytes unchanged. Objects are write-once (the storage refuses an
existing key); the rows are never updated except for ``key_id`` when a rotation re-wraps the data key.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from payor.core.models import BaseModel


class ObjectKind(models.TextChoices):
    RECEIPT_PDF = "receipt_pdf", "Receipt (PDF/A-3b with factur-x.xml)"
    RECEIPT_CII = "receipt_cii", "Receipt (CII XML, Factur-X EN 16931)"
    RECEIPT_UBL = "receipt_ubl", "Receipt (UBL 2.1 XML)"
    APPROVAL_RECORD = "approval_record", "Approval record (JSON)"
    DELIVERABLE = "deliverable", "Deliverable submitted for the milestone"
    PAYMENT_CONFIRMATION = "payment_confirmation", "Payment confirmation (rail reference, webhook payloads)"

    @classmethod
    def receipt_kinds(cls) -> tuple[str, ...]:
        """The documents a contractor may download for their own receipt."""
        return (cls.RECEIPT_PDF, cls.RECEIPT_CII, cls.RECEIPT_UBL)


class DataRoomObject(BaseModel):
    """One stored document of a transaction's folder (see the module docstring)."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="dataroom_objects")
    disbursement = models.ForeignKey("payments.Disbursement", on_delete=models.PROTECT, related_name="dataroom_objects")
    receipt = models.ForeignKey(
        "receipts.Receipt", on_delete=models.PROTECT, related_name="dataroom_objects", null=True, blank=True
    )
    kind = models.CharField(max_length=24, choices=ObjectKind.choices)
    name = models.CharField(max_length=255, help_text="File name inside the transaction's folder")
    backend = models.CharField(max_length=16, help_text="local or s3")
    storage_key = models.CharField(max_length=600, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    key_id = models.CharField(max_length=100, blank=True, help_text="Master key id (local) or KMS key (s3)")

    class Meta:
        ordering = ("disbursement", "kind", "name")
        constraints = [
            models.UniqueConstraint(fields=["disbursement", "name"], name="dataroom_object_name_unique"),
            models.CheckConstraint(condition=Q(kind__in=ObjectKind.values), name="dataroom_object_kind"),
            models.CheckConstraint(condition=Q(backend__in=["local", "s3"]), name="dataroom_object_backend"),
            models.CheckConstraint(
                condition=~Q(kind__in=["receipt_pdf", "receipt_cii", "receipt_ubl"]) | Q(receipt__isnull=False),
                name="dataroom_receipt_documents_have_receipt",
            ),
        ]

    def __str__(self) -> str:
        return self.storage_key
