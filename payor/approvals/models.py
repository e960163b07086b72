"""One approval matrix per project, and its bands.

``ApprovalMatrix`` carries the currency (the project's), a version bumped on
every change (optimistic concurrency for the API) and who changed it last.
``ApprovalBand`` rows hold ``lower < amount <= upper`` as integer minor units
in the matrix currency (``upper`` NULL: unbounded) and the band's ordered
stages as JSON (see :mod:`payor.approvals.matrix`).

The database checks what a row can check: positive positions and versions,
``0 <= lower < upper``, one band per position and per lower bound, at most one
unbounded band, stages a non-empty array of well-formed approver stages, and
(composite foreign key, migration 0002) every band in its matrix's currency.
Contiguity across rows (no gaps or overlaps) is checked by
:func:`payor.approvals.matrix.document_validate` before every write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from payor.approvals.matrix import Band, MatrixDocument, Stage
from payor.core.fields import CurrencyField, MoneyField
from payor.core.models import BaseModel
from payor.rbac.roles import ProjectRole

if TYPE_CHECKING:
    from payor.core.money import Money

    class NullableMoneyField(models.BigIntegerField[Money | int | None, Money | None]):
        """For the type checker: a ``MoneyField(null=True)`` reads as ``Money | None``."""

        def __init__(self, *args: Any, currency_field: str = "currency", **kwargs: Any) -> None: ...
else:
    NullableMoneyField = MoneyField


class ApprovalMatrix(BaseModel):
    project = models.OneToOneField("projects.Project", on_delete=models.PROTECT, related_name="approval_matrix")
    currency = CurrencyField(help_text="The project's currency: every band bound is in it")
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=models.Q(version__gte=1), name="approvals_matrix_version_positive"),
            # Target of the bands' (matrix_id, currency) foreign key (migration 0002).
            models.UniqueConstraint(fields=["id", "currency"], name="approvals_matrix_id_currency_unique"),
        ]

    def __str__(self) -> str:
        return f"Approval matrix v{self.version} of {self.project_id}"

    def document(self) -> MatrixDocument:
        """The matrix as values (use ``prefetch_related("bands")`` to read it in one query more)."""
        return MatrixDocument(currency=self.currency, bands=tuple(band.as_band() for band in self.bands.all()))


class ApprovalBand(BaseModel):
    # The (matrix, position) unique index serves the foreign key.
    matrix = models.ForeignKey(ApprovalMatrix, on_delete=models.CASCADE, related_name="bands", db_index=False)
    position = models.PositiveSmallIntegerField(help_text="1 for the lowest band")
    currency = CurrencyField()
    lower = MoneyField(currency_field="currency", help_text="Exclusive lower bound")
    upper = NullableMoneyField(
        currency_field="currency", null=True, blank=True, help_text="Inclusive upper bound; empty: none"
    )
    stages = models.JSONField(help_text='Ordered stages: [{"role", "signers_required", "signers_of"}, ...]')

    class Meta:
        ordering = ("matrix", "position")
        constraints = [
            models.CheckConstraint(condition=models.Q(position__gte=1), name="approvals_band_position_positive"),
            models.CheckConstraint(condition=models.Q(lower__gte=0), name="approvals_band_lower_not_negative"),
            models.CheckConstraint(
                condition=models.Q(upper__isnull=True) | models.Q(upper__gt=models.F("lower")),
                name="approvals_band_upper_above_lower",
            ),
            models.UniqueConstraint(fields=["matrix", "position"], name="approvals_band_position_unique"),
            models.UniqueConstraint(fields=["matrix", "lower"], name="approvals_band_lower_unique"),
            models.UniqueConstraint(
                fields=["matrix"], condition=models.Q(upper__isnull=True), name="approvals_band_one_unbounded"
            ),
        ]

    def __str__(self) -> str:
        upper = "∞" if self.upper is None else str(self.upper)
        return f"Band {self.position}: ({self.lower}, {upper}]"

    def as_band(self) -> Band:
        return Band(
            lower=self.lower,
            upper=self.upper,
            stages=tuple(
                Stage(
                    role=ProjectRole(stage["role"]),
                    signers_required=stage["signers_required"],
                    signers_of=stage["signers_of"],
                )
                for stage in self.stages
            ),
        )


class ApprovalTarget(models.TextChoices):
    """What an approval decides on. The owning service locks the item before it records a decision."""

    INVOICE = "invoice", "Invoice"
    CHANGE_ORDER = "change_order", "Change order"
    CONTRACT = "contract", "Contract"
    PAYMENT_RUN = "payment_run", "Payment run"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETURNED = "returned", "Returned for revision"


class ApprovalDecision(BaseModel):
    """One person's decision on one stage of one item, in one review round. Append-only (trigger, 0004).

    ``round`` starts at 1 and grows each time the item is resubmitted after a return for revision: only the
    current round's approvals count towards its plan. ``amount`` is what was decided on (the item's amount at
    that moment), with the matrix version and band that applied. DAO multisig decisions carry the approver's
    EIP-712 ``signature`` and the linked ``signer_address`` it recovers to (:mod:`payor.approvals.eip712`).
    The unique constraint makes "one person, one stage of one item" and "distinct multisig signers" hold
    even for two racing requests.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="approval_decisions")
    target_type = models.CharField(max_length=32, choices=ApprovalTarget.choices)
    target_id = models.UUIDField()
    round = models.PositiveIntegerField(default=1)
    role = models.CharField(max_length=32, choices=ProjectRole.choices)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency")
    matrix_version = models.PositiveIntegerField()
    band_position = models.PositiveIntegerField()
    note = models.TextField(blank=True)
    chain_id = models.PositiveBigIntegerField(null=True, blank=True)
    signer_address = models.CharField(max_length=42, blank=True)
    signature = models.CharField(max_length=132, blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ("decided_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(target_type__in=ApprovalTarget.values), name="approvals_decision_target_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(decision__in=Decision.values), name="approvals_decision_decision_valid"
            ),
            models.CheckConstraint(condition=models.Q(role__in=ProjectRole.values), name="approvals_decision_role"),
            models.CheckConstraint(condition=models.Q(round__gte=1), name="approvals_decision_round_positive"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="approvals_decision_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(signature="", signer_address="", chain_id__isnull=True)
                | (~models.Q(signature="") & ~models.Q(signer_address="") & models.Q(chain_id__isnull=False)),
                name="approvals_decision_signature_complete",
            ),
            # One person fills at most one stage of one item (per round), and signs it once.
            models.UniqueConstraint(
                fields=["target_type", "target_id", "round", "approver"],
                condition=models.Q(decision="approved"),
                name="approvals_decision_one_stage_per_person",
            ),
            # A round ends with at most one rejection or return.
            models.UniqueConstraint(
                fields=["target_type", "target_id", "round"],
                condition=~models.Q(decision="approved"),
                name="approvals_decision_one_ending_per_round",
            ),
        ]
        indexes = [models.Index(fields=["target_type", "target_id", "round"], name="approvals_decision_item")]

    def __str__(self) -> str:
        return f"{self.decision} {self.role} on {self.target_type} {self.target_id} by {self.approver_id}"
