"""Vendors (contractors) of a paying organization, the user accounts that act for them, their compliance documents.

The vendor master is per organization: one ``Vendor`` row per payee and
paying organization, its name unique there whatever its case. Rows are
written only by :mod:`payor.vendors.services`, which audits every change.

* ``kyc_status`` is set by a compliance reviewer (``vendor_kyc_set``); a change
  of the payee's identity or payment details (``IDENTITY_FIELDS``) on a vendor
  that passed sends it back to ``pending``.
* ``coi_expiry`` mirrors the ``valid_until`` of the current verified
  certificate of insurance; only ``vendor_document_verify`` writes it.
* ``VendorDocument`` rows and their files are never overwritten or deleted: a
  newer verified document of the same kind supersedes the older ones
  (``superseded_by``), which stay as history.
"""

from __future__ import annotations

from typing import Final

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from payor.core.models import BaseModel


class VendorKind(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    COMPANY = "company", "Company"


class TaxStatus(models.TextChoices):
    W9 = "w9", "US person (W-9)"
    W8BEN = "w8ben", "Foreign individual (W-8BEN)"
    W8BENE = "w8bene", "Foreign entity (W-8BEN-E)"
    UNKNOWN = "unknown", "Unknown (no tax form declared)"


class BankMethod(models.TextChoices):
    ACH = "ach", "ACH"
    WIRE = "wire", "Wire"
    SEPA = "sepa", "SEPA credit transfer"
    USDC = "usdc", "USDC"
    ONCHAIN_SAFE = "onchain_safe", "On-chain Safe"
    STRIPE_CONNECT = "stripe_connect", "Stripe Connect"
    TROLLEY = "trolley", "Trolley"


class KycStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class DocumentKind(models.TextChoices):
    W9 = "w9", "W-9"
    W8BEN = "w8ben", "W-8BEN"
    W8BENE = "w8bene", "W-8BEN-E"
    COI = "coi", "Certificate of insurance"
    OTHER = "other", "Other"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"


#: The tax form each tax status needs on file (``unknown`` needs a status first).
TAX_FORM_FOR: Final[dict[str, str]] = {
    TaxStatus.W9: DocumentKind.W9,
    TaxStatus.W8BEN: DocumentKind.W8BEN,
    TaxStatus.W8BENE: DocumentKind.W8BENE,
}

#: Who the payee is and how it is paid. Changing any of them after KYC passed sends KYC back to pending, and whoever
#: set them last may not pass KYC (segregation of duties: nobody both enters and approves a payee's details).
IDENTITY_FIELDS: Final = ("legal_name", "kind", "tax_status", "bank_method", "vat_id", "country")


class Vendor(BaseModel):
    """A payee (contractor, supplier) of ``organization``: seed 004's ``Vendor`` and the design's compliance fields."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="vendors")
    name = models.CharField(max_length=200, help_text="Display name, unique per organization (any case)")
    legal_name = models.CharField(max_length=200, help_text="As on the tax form; shown on receipts")
    kind = models.CharField(max_length=16, choices=VendorKind.choices)
    email = models.EmailField(blank=True, help_text="Remittance and compliance contact")
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True, help_text="State, province or county")
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    vat_id = models.CharField(max_length=32, blank=True, help_text="VAT / GST registration, normalized")
    tax_status = models.CharField(max_length=16, choices=TaxStatus.choices, default=TaxStatus.UNKNOWN)
    bank_method = models.CharField(max_length=16, choices=BankMethod.choices)
    kyc_status = models.CharField(max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING)
    kyc_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kyc_reviewed_at = models.DateTimeField(null=True, blank=True)
    kyc_note = models.TextField(blank=True)
    coi_expiry = models.DateField(null=True, blank=True, help_text="Last day covered by the current verified COI")
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who last set the identity/payment fields (IDENTITY_FIELDS), and when: the creator, then each editor.
    identity_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    identity_changed_at = models.DateTimeField(null=True, blank=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="VendorUser", through_fields=("vendor", "user"), related_name="vendors"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="vendors_vendor_name_ci_unique_per_org"),
            models.CheckConstraint(condition=~models.Q(name=""), name="vendors_vendor_name_not_blank"),
            models.CheckConstraint(condition=~models.Q(legal_name=""), name="vendors_vendor_legal_name_not_blank"),
            models.CheckConstraint(condition=models.Q(kind__in=VendorKind.values), name="vendors_vendor_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(tax_status__in=TaxStatus.values), name="vendors_vendor_tax_status_valid"
            ),
            # W-8BEN is the individual's form, W-8BEN-E the entity's.
            models.CheckConstraint(
                condition=~models.Q(tax_status=TaxStatus.W8BEN, kind=VendorKind.COMPANY)
                & ~models.Q(tax_status=TaxStatus.W8BENE, kind=VendorKind.INDIVIDUAL),
                name="vendors_vendor_tax_form_matches_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(bank_method__in=BankMethod.values), name="vendors_vendor_bank_method_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kyc_status__in=KycStatus.values), name="vendors_vendor_kyc_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kyc_status=KycStatus.PENDING) | models.Q(kyc_reviewed_at__isnull=False),
                name="vendors_vendor_kyc_decision_reviewed",
            ),
            models.CheckConstraint(condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="vendors_vendor_country_iso"),
            models.CheckConstraint(
                condition=models.Q(vat_id="") | models.Q(vat_id__regex=r"^[A-Z0-9]{4,32}$"),
                name="vendors_vendor_vat_id_normalized",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "kyc_status"], name="vendors_vendor_org_kyc"),
        ]

    def __str__(self) -> str:
        return self.name


class VendorUser(BaseModel):
    """``user`` acts for ``vendor`` (submits its invoices, uploads its documents). A user may act for several vendors.

    Unlinking deletes the row (the audit log keeps the history) and revokes the user's VENDOR project roles for the
    vendor in the same transaction.
    """

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="user_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vendor_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["vendor", "user"], name="vendors_vendor_user_unique"),
        ]
        indexes = [models.Index(fields=["user", "vendor"], name="vendors_vendor_user_by_user")]

    def __str__(self) -> str:
        return f"{self.user_id} for {self.vendor_id}"


def document_upload_to(instance: VendorDocument, filename: str) -> str:
    """``vendors/<vendor id>/<name>``: the service names the file after the document id and detected type."""
    return f"vendors/{instance.vendor_id}/{filename}"


class VendorDocument(BaseModel):
    """One uploaded compliance document: stored once, never overwritten; reviewed by a compliance reviewer."""

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=16, choices=DocumentKind.choices)
    file = models.FileField(upload_to=document_upload_to, max_length=300)
    original_filename = models.CharField(max_length=255, help_text="Sanitized name the uploader gave the file")
    content_type = models.CharField(max_length=100, help_text="Detected from the file's bytes")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    valid_until = models.DateField(null=True, blank=True, help_text="Last valid day (COI expiry, W-8 validity)")
    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=DocumentKind.values), name="vendors_document_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DocumentStatus.values), name="vendors_document_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(size__gt=0), name="vendors_document_size_positive"),
            models.CheckConstraint(
                condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="vendors_document_sha256_hex"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status=DocumentStatus.PENDING, verified_at__isnull=True, rejected_at__isnull=True)
                    | models.Q(
                        status=DocumentStatus.VERIFIED,
                        verified_at__isnull=False,
                        verified_by__isnull=False,
                        rejected_at__isnull=True,
                    )
                    | models.Q(
                        status=DocumentStatus.REJECTED,
                        rejected_at__isnull=False,
                        rejected_by__isnull=False,
                        verified_at__isnull=True,
                    )
                ),
                name="vendors_document_review_consistent",
            ),
            # A certificate of insurance is only accepted with the date its cover ends.
            models.CheckConstraint(
                condition=~models.Q(kind=DocumentKind.COI, status=DocumentStatus.VERIFIED, valid_until__isnull=True),
                name="vendors_document_verified_coi_has_expiry",
            ),
            models.CheckConstraint(
                condition=models.Q(superseded_by__isnull=True, superseded_at__isnull=True)
                | models.Q(superseded_by__isnull=False, superseded_at__isnull=False),
                name="vendors_document_supersession_complete",
            ),
            models.UniqueConstraint(fields=["file"], name="vendors_document_file_unique"),
        ]
        indexes = [
            models.Index(fields=["vendor", "kind", "status"], name="vendors_document_vendor_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_filename}"

    @property
    def is_current(self) -> bool:
        """Verified and not superseded: the document that counts for compliance."""
        return self.status == DocumentStatus.VERIFIED and self.superseded_by_id is None
