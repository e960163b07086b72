"""Projects and their Lift Forward funding buckets.

Balances (available, committed, encumbered, disbursed…) are never stored here:
they come from the double-entry ledger. A ``FundingEvent`` is the business
record of money arriving in a bucket (Lift Bond proceeds, a treasury
allocation, a beneficiary pre-purchase).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from payor.core.fields import CurrencyField, MoneyField
from payor.core.models import BaseModel


class ProjectStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ON_HOLD = "on_hold", "On hold"
    CLOSED = "closed", "Closed"


class ProjectPhase(models.TextChoices):
    ORIGINATION = "origination", "Origination"
    IMPLEMENTATION = "implementation", "Implementation"
    VERIFICATION = "verification", "Verification"
    ISSUANCE = "issuance", "Issuance"


class Project(BaseModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE)
    currency = CurrencyField(help_text="The project's booking currency")
    phase = models.CharField(max_length=16, choices=ProjectPhase.choices, default=ProjectPhase.ORIGINATION)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ProjectStatus.values), name="projects_project_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(phase__in=ProjectPhase.values), name="projects_project_phase_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(start_date__isnull=True)
                | models.Q(end_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="projects_project_dates_ordered",
            ),
            models.UniqueConstraint(fields=["organization", "name"], name="projects_project_name_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class FundingBucket(BaseModel):
    """The project's Lift Forward treasury bucket; one per project and currency."""

    class Kind(models.TextChoices):
        LIFT_FORWARD = "lift_forward", "Lift Forward"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="buckets")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LIFT_FORWARD)
    currency = CurrencyField()

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "currency"], name="projects_bucket_one_per_currency"),
            models.CheckConstraint(condition=models.Q(kind__in=["lift_forward"]), name="projects_bucket_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.get_kind_display()} ({self.currency})"


class FundingEvent(BaseModel):
    """Money arriving in a bucket: the business record behind a FUND ledger transfer."""

    class Source(models.TextChoices):
        LIFT_BOND = "lift_bond", "Lift Bond proceeds"
        TREASURY = "treasury_allocation", "Treasury allocation"
        PREPURCHASE = "beneficiary_prepurchase", "Beneficiary pre-purchase"

    bucket = models.ForeignKey(FundingBucket, on_delete=models.PROTECT, related_name="funding_events")
    source = models.CharField(max_length=32, choices=Source.choices)
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency")
    received_on = models.DateField()
    reference = models.CharField(max_length=200, blank=True, help_text="Bank reference or memo")
    tx_hash = models.CharField(max_length=66, blank=True, help_text="On-chain transaction hash (USDC funding)")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    class Meta:
        ordering = ("-received_on", "-id")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="projects_funding_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(source__in=["lift_bond", "treasury_allocation", "beneficiary_prepurchase"]),
                name="projects_funding_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.amount}"


#: A WBS code is dotted segments of 1-10 upper-case letters or digits, at most eight deep: ``1``, ``1.2``,
#: ``1.2.A3``. A child's code is its parent's code plus one segment, so the code spells the whole path.
WBS_SEGMENT_MAX = 10
WBS_DEPTH_MAX = 8
WBS_CODE_MAX = WBS_DEPTH_MAX * (WBS_SEGMENT_MAX + 1) - 1
WBS_CODE_PATTERN = rf"^[0-9A-Z]{{1,{WBS_SEGMENT_MAX}}}(\.[0-9A-Z]{{1,{WBS_SEGMENT_MAX}}}){{0,{WBS_DEPTH_MAX - 1}}}$"


class BudgetLine(BaseModel):
    """One node of a project's WBS budget tree: ``{wbs_code, parent, description, cap}``.

    The cap is in the project currency. What a line has used (committed, encumbered, retention, withheld,
    pending, disbursed) is never stored here: it comes from the ledger accounts carrying the line's id
    (``payor.projects.selectors.budget_tree``). The tree's shape is fixed at creation: ``project``,
    ``parent``, ``wbs_code`` and ``currency`` never change (a trigger refuses it, see
    ``projects/sql/budget_lines.sql``), which also makes cycles impossible. Lines are archived, never
    deleted once the ledger mentions them.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="budget_lines")
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    wbs_code = models.CharField(max_length=WBS_CODE_MAX)
    description = models.CharField(max_length=500)
    currency = CurrencyField(help_text="Always the project currency")
    cap = MoneyField(currency_field="currency")
    position = models.PositiveIntegerField(default=0, help_text="Order among its siblings")
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    class Meta:
        ordering = ("wbs_code",)
        constraints = [
            models.UniqueConstraint(fields=["project", "wbs_code"], name="projects_budget_line_code_unique"),
            models.CheckConstraint(condition=models.Q(cap__gte=0), name="projects_budget_line_cap_non_negative"),
            models.CheckConstraint(
                condition=models.Q(wbs_code__regex=WBS_CODE_PATTERN), name="projects_budget_line_code_valid"
            ),
            # A root's code is one segment; a child's has its parent's segments before its own.
            models.CheckConstraint(
                condition=models.Q(parent__isnull=True, wbs_code__regex=r"^[^.]+$")
                | models.Q(parent__isnull=False, wbs_code__contains="."),
                name="projects_budget_line_root_code",
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="projects_budget_line_not_own_parent"
            ),
            models.CheckConstraint(
                condition=models.Q(archived_at__isnull=False) | models.Q(archived_by__isnull=True),
                name="projects_budget_line_archived_by_with_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.wbs_code} {self.description}"

    @property
    def depth(self) -> int:
        """1 for a root line."""
        return self.wbs_code.count(".") + 1

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
