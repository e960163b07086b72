"""Contracts/POs with their budget allocations, and change orders; work requests, milestones and submissions
(seed 000's milestone flow, ``docs/milestones.md``): an accepted work request becomes an executed contract.

A contract is drafted with a not-to-exceed (NTE) fully allocated to leaf budget lines, a retention percentage
and payment terms. Executing it COMMITs each allocation in the ledger (available → committed, per budget
line), after the budget lines' caps were checked under lock. Approved change orders move the NTE and the
allocations by their per-line deltas (COMMIT for increases, RELEASE for decreases); closing the contract
releases what is still committed. The money figures of a contract (committed, encumbered, retention,
disbursed, remaining) are never stored here: they come from the ledger accounts carrying the contract's id.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models

from payor.core.fields import CurrencyField, MoneyField
from payor.core.models import BaseModel


class ContractStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    EXECUTED = "executed", "Executed"
    CLOSED = "closed", "Closed"
    CANCELED = "canceled", "Canceled"

    @classmethod
    def can_execute(cls, status: str) -> bool:
        return status == cls.DRAFT

    @classmethod
    def can_change(cls, status: str) -> bool:
        """Change orders and invoices apply to executed contracts only."""
        return status == cls.EXECUTED


class PaymentTermsKind(models.TextChoices):
    ON_APPROVAL = "on_approval", "On approval"
    NET_DAYS = "net_days", "Net N days"
    EARLY_PAY = "early_pay", "Early-pay discount (e.g. 2/10 net 30)"


class PaymentTerms(models.Model):
    """Payment terms fields shared by contracts (and, later, work requests)."""

    terms_kind = models.CharField(max_length=16, choices=PaymentTermsKind.choices, default=PaymentTermsKind.NET_DAYS)
    net_days = models.PositiveSmallIntegerField(null=True, blank=True)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    discount_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        abstract = True

    def due_on(self, approved_on: dt.date) -> dt.date:
        """When an invoice approved on ``approved_on`` is due (the full amount)."""
        if self.terms_kind == PaymentTermsKind.ON_APPROVAL:
            return approved_on
        return approved_on + dt.timedelta(days=self.net_days or 0)

    def discount_until(self, approved_on: dt.date) -> dt.date | None:
        """The last day the early-pay discount applies, or None without one."""
        if self.terms_kind != PaymentTermsKind.EARLY_PAY:
            return None
        return approved_on + dt.timedelta(days=self.discount_days or 0)

    @property
    def terms_label(self) -> str:
        if self.terms_kind == PaymentTermsKind.ON_APPROVAL:
            return "On approval"
        if self.terms_kind == PaymentTermsKind.NET_DAYS:
            return f"Net {self.net_days}"
        discount = Decimal(self.discount_percent or 0).normalize()
        return f"{discount:f}/{self.discount_days} net {self.net_days}"


TERMS_CONSISTENT = (
    models.Q(terms_kind=PaymentTermsKind.ON_APPROVAL, net_days__isnull=True, discount_percent__isnull=True)
    | models.Q(terms_kind=PaymentTermsKind.NET_DAYS, net_days__isnull=False, discount_percent__isnull=True)
    | models.Q(
        terms_kind=PaymentTermsKind.EARLY_PAY,
        net_days__isnull=False,
        discount_percent__gt=0,
        discount_percent__lt=100,
        discount_days__isnull=False,
        discount_days__lte=models.F("net_days"),
    )
) & (models.Q(terms_kind=PaymentTermsKind.EARLY_PAY) | models.Q(discount_days__isnull=True))


class Contract(BaseModel, PaymentTerms):
    """A contract/PO with a vendor on a project, paid from one funding bucket (its currency)."""

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="contracts")
    vendor = models.ForeignKey("vendors.Vendor", on_delete=models.PROTECT, related_name="contracts")
    bucket = models.ForeignKey("projects.FundingBucket", on_delete=models.PROTECT, related_name="contracts")
    number = models.CharField(max_length=32, help_text="PO number, unique in the project (PO-0001…)")
    title = models.CharField(max_length=200)
    scope = models.TextField(blank=True)
    currency = CurrencyField(help_text="The funding bucket's currency")
    original_not_to_exceed = MoneyField(currency_field="currency")
    not_to_exceed = MoneyField(currency_field="currency", help_text="Original NTE plus approved change orders")
    retention_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("10.00"))
    status = models.CharField(max_length=16, choices=ContractStatus.choices, default=ContractStatus.DRAFT)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    executed_at = models.DateTimeField(null=True, blank=True)
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ("project", "number")
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="contracts_contract_number_unique"),
            models.CheckConstraint(condition=models.Q(status__in=ContractStatus.values), name="contracts_status"),
            models.CheckConstraint(condition=models.Q(not_to_exceed__gte=0), name="contracts_nte_not_negative"),
            models.CheckConstraint(
                condition=models.Q(original_not_to_exceed__gt=0), name="contracts_original_nte_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(retention_percent__gte=0, retention_percent__lte=100),
                name="contracts_retention_percent_range",
            ),
            models.CheckConstraint(condition=TERMS_CONSISTENT, name="contracts_payment_terms_consistent"),
            models.CheckConstraint(
                condition=models.Q(status=ContractStatus.DRAFT)
                | models.Q(status=ContractStatus.CANCELED)
                | models.Q(executed_at__isnull=False, executed_by__isnull=False),
                name="contracts_executed_has_who_and_when",
            ),
        ]
        indexes = [models.Index(fields=["vendor", "status"], name="contracts_vendor_status")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class ContractAllocation(BaseModel):
    """The part of a contract's NTE allocated to one leaf budget line (current: original ± approved changes)."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="allocations")
    budget_line = models.ForeignKey("projects.BudgetLine", on_delete=models.PROTECT, related_name="allocations")
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency")

    class Meta:
        ordering = ("contract", "budget_line__wbs_code")
        constraints = [
            models.UniqueConstraint(fields=["contract", "budget_line"], name="contracts_allocation_one_per_line"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="contracts_allocation_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id} {self.budget_line_id} {self.amount}"


class ChangeOrderStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ChangeOrder(BaseModel):
    """A signed change ``delta`` to a contract's NTE, split over budget lines, approved through the matrix."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="change_orders")
    number = models.PositiveIntegerField(help_text="1, 2, … within the contract")
    reason = models.TextField()
    currency = CurrencyField()
    delta = MoneyField(currency_field="currency", help_text="Positive: more scope; negative: less")
    approval_amount = MoneyField(
        currency_field="currency",
        help_text="What approvers decide on: |delta|, or the new NTE when it moves the contract into a higher band",
    )
    status = models.CharField(max_length=16, choices=ChangeOrderStatus.choices, default=ChangeOrderStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)

    class Meta:
        ordering = ("contract", "number")
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="contracts_change_order_number_unique"),
            models.CheckConstraint(condition=~models.Q(delta=0), name="contracts_change_order_delta_not_zero"),
            models.CheckConstraint(
                condition=models.Q(approval_amount__gt=0), name="contracts_change_order_approval_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ChangeOrderStatus.values), name="contracts_change_order_status"
            ),
        ]

    def __str__(self) -> str:
        return f"CO-{self.number} on {self.contract_id}: {self.delta}"


class ChangeOrderLine(BaseModel):
    """A change order's delta on one budget line (the lines sum to the change order's delta)."""

    change_order = models.ForeignKey(ChangeOrder, on_delete=models.PROTECT, related_name="lines")
    budget_line = models.ForeignKey("projects.BudgetLine", on_delete=models.PROTECT, related_name="+")
    currency = CurrencyField()
    delta = MoneyField(currency_field="currency")

    class Meta:
        ordering = ("change_order", "budget_line__wbs_code")
        constraints = [
            models.UniqueConstraint(fields=["change_order", "budget_line"], name="contracts_co_line_one_per_line"),
            models.CheckConstraint(condition=~models.Q(delta=0), name="contracts_co_line_delta_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.change_order_id} {self.budget_line_id} {self.delta}"


# ---------------------------------------------------------------------------------------------------------
# Work requests, milestones and submissions (seed 000's invoice-free milestone flow)
# ---------------------------------------------------------------------------------------------------------


class WorkRequestStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"

    @classmethod
    def ended(cls) -> tuple[str, ...]:
        return (cls.ACCEPTED, cls.DECLINED, cls.WITHDRAWN, cls.EXPIRED)


class WorkRequest(BaseModel, PaymentTerms):
    """A contract offer to one contractor (a vendor with linked users): scope, milestones, terms.

    Sending freezes the terms as canonical JSON (``terms_json``, with its SHA-256 ``terms_sha256``); the
    contractor accepts exactly that text (optionally signing its hash with a linked wallet, EIP-712), which
    creates and executes a :class:`Contract` (``contract``) whose allocations are the milestones' budget lines.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="work_requests")
    vendor = models.ForeignKey("vendors.Vendor", on_delete=models.PROTECT, related_name="work_requests")
    bucket = models.ForeignKey("projects.FundingBucket", on_delete=models.PROTECT, related_name="work_requests")
    number = models.CharField(max_length=32, help_text="WR-0001…, unique in the project")
    title = models.CharField(max_length=200)
    scope = models.TextField(blank=True)
    currency = CurrencyField(help_text="The funding bucket's currency")
    retention_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"))
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Acceptance is refused from this instant")
    status = models.CharField(max_length=16, choices=WorkRequestStatus.choices, default=WorkRequestStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    terms_json = models.TextField(blank=True, help_text="The canonical JSON of the terms, frozen when sent")
    terms_sha256 = models.CharField(max_length=64, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    signature = models.CharField(max_length=132, blank=True, help_text="EIP-712 signature of the acceptance")
    signer_address = models.CharField(max_length=42, blank=True)
    chain_id = models.PositiveBigIntegerField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Declined, withdrawn or expired at")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    end_reason = models.TextField(blank=True, help_text="Why it was declined or withdrawn")
    contract = models.OneToOneField(
        Contract, on_delete=models.PROTECT, related_name="work_request", null=True, blank=True
    )

    class Meta:
        ordering = ("project", "number")
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="contracts_work_request_number_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=WorkRequestStatus.values), name="contracts_work_request_status"
            ),
            models.CheckConstraint(
                condition=models.Q(retention_percent__gte=0, retention_percent__lte=100),
                name="contracts_work_request_retention_range",
            ),
            models.CheckConstraint(condition=TERMS_CONSISTENT, name="contracts_work_request_terms_consistent"),
            models.CheckConstraint(
                condition=models.Q(status=WorkRequestStatus.DRAFT)
                | (
                    models.Q(sent_at__isnull=False, sent_by__isnull=False)
                    & models.Q(terms_sha256__regex=r"^[0-9a-f]{64}$")
                    & ~models.Q(terms_json="")
                ),
                name="contracts_work_request_sent_has_terms",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=WorkRequestStatus.ACCEPTED)
                | models.Q(accepted_at__isnull=False, accepted_by__isnull=False, contract__isnull=False),
                name="contracts_work_request_accepted_complete",
            ),
            models.CheckConstraint(
                condition=models.Q(signature="", signer_address="", chain_id__isnull=True)
                | (~models.Q(signature="") & ~models.Q(signer_address="") & models.Q(chain_id__isnull=False)),
                name="contracts_work_request_signature_complete",
            ),
        ]
        indexes = [models.Index(fields=["vendor", "status"], name="contracts_wr_vendor_status")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class MilestoneStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUBMITTED = "submitted", "Submitted"
    REVISION_REQUESTED = "revision_requested", "Revision requested"
    APPROVED = "approved", "Approved"

    @classmethod
    def can_submit(cls, status: str) -> bool:
        return status in (cls.PENDING, cls.REVISION_REQUESTED)


class Milestone(BaseModel):
    """A deliverable of a work request: what, how much, by when, how it is accepted, and its budget line."""

    work_request = models.ForeignKey(WorkRequest, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    acceptance_criteria = models.TextField(blank=True)
    currency = CurrencyField()
    amount = MoneyField(currency_field="currency")
    due_date = models.DateField(null=True, blank=True)
    budget_line = models.ForeignKey("projects.BudgetLine", on_delete=models.PROTECT, related_name="milestones")
    status = models.CharField(max_length=24, choices=MilestoneStatus.choices, default=MilestoneStatus.PENDING)
    invoice = models.OneToOneField(
        "invoices.Invoice", on_delete=models.PROTECT, related_name="milestone", null=True, blank=True
    )

    class Meta:
        ordering = ("work_request", "position")
        constraints = [
            models.UniqueConstraint(fields=["work_request", "position"], name="contracts_milestone_position_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="contracts_milestone_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(status__in=MilestoneStatus.values), name="contracts_milestone_status"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=MilestoneStatus.APPROVED) | models.Q(invoice__isnull=False),
                name="contracts_milestone_approved_has_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.work_request_id} #{self.position} {self.title}"


class SubmissionStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REVISION_REQUESTED = "revision_requested", "Revision requested"


class Submission(BaseModel):
    """One attempt at a milestone's deliverables (note + files) and its review (seed 000's stored data:
    ``submission_id``, ``approval_status``, ``approved_at``, ``approver_id``)."""

    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="submissions")
    attempt = models.PositiveSmallIntegerField(help_text="1, 2, … within the milestone")
    note = models.TextField(blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField()
    approval_status = models.CharField(
        max_length=24, choices=SubmissionStatus.choices, default=SubmissionStatus.SUBMITTED
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    review_note = models.TextField(blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    invoice = models.OneToOneField(
        "invoices.Invoice",
        on_delete=models.PROTECT,
        related_name="submission",
        null=True,
        blank=True,
        help_text="The self-billed invoice its approval created (kept when that invoice is later rejected)",
    )

    class Meta:
        ordering = ("milestone", "attempt")
        constraints = [
            models.UniqueConstraint(fields=["milestone", "attempt"], name="contracts_submission_attempt_unique"),
            models.UniqueConstraint(
                fields=["milestone"],
                condition=models.Q(approval_status=SubmissionStatus.SUBMITTED),
                name="contracts_submission_one_open_per_milestone",
            ),
            models.CheckConstraint(
                condition=models.Q(approval_status__in=SubmissionStatus.values), name="contracts_submission_status"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(approval_status=SubmissionStatus.SUBMITTED)
                    & models.Q(reviewed_at__isnull=True, reviewer__isnull=True, approved_at__isnull=True)
                )
                | (
                    models.Q(approval_status=SubmissionStatus.APPROVED)
                    & models.Q(reviewed_at__isnull=False, approved_at__isnull=False, approver__isnull=False)
                    & models.Q(invoice__isnull=False)
                    & models.Q(reviewer=models.F("approver"))
                )
                | (
                    models.Q(approval_status=SubmissionStatus.REVISION_REQUESTED)
                    & models.Q(reviewed_at__isnull=False, reviewer__isnull=False, approved_at__isnull=True)
                    & ~models.Q(review_note="")
                ),
                name="contracts_submission_review_complete",
            ),
            models.CheckConstraint(
                condition=models.Q(reviewer__isnull=True) | ~models.Q(reviewer=models.F("submitted_by")),
                name="contracts_submission_reviewer_not_submitter",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.milestone_id} attempt {self.attempt} ({self.approval_status})"


def submission_upload_to(instance: SubmissionFile, filename: str) -> str:
    return f"submissions/{instance.submission_id}/{filename}"


class SubmissionFile(BaseModel):
    """A deliverable file of a submission: type checked from its bytes, size-limited, hashed."""

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="files")
    file = models.FileField(upload_to=submission_upload_to, max_length=300)
    original_filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("submission", "created_at")

    def __str__(self) -> str:
        return self.original_filename
