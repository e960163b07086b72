"""Reads of invoices. Every selector takes the viewer, so scoping cannot be skipped.

**Who sees an invoice.** Holders of ``invoice.view_all`` on its project (PM, finance, treasurer, DAO multisig,
auditor, platform admins and system auditors), and the users acting for its vendor there (an active VENDOR role
for that vendor: ``invoice.view_own`` with ``vendor_ids_for``). Anyone else — another vendor's users, procurement,
beneficiaries, non-members — gets ``invoice_not_found`` (404) whether or not the invoice exists: a 403 would
tell them it does. Lists apply the same rule in SQL.

**What a viewer sees of it** (:class:`InvoiceView`), decided per permission on the project:

* ``internal`` (``invoice.view_all``): who approved, who may sign the next stage (names and emails), the signer
  addresses of DAO signatures. A vendor's user sees each stage's role, how many signatures it needs and has,
  and its status, and every decision of the timeline with its role, note and time, but not who decided nor the
  wallet that signed (approvers are not exposed to the payee: no pressure on a named reviewer, no harvesting of
  approver emails). People acting for the same vendor (the submitter, uploaders) are shown to them.
* ``ledger`` (``ledger.view``): the invoice's ledger transfers;
* ``totals`` (``project.view_totals``): the funds-availability block (bucket available, the contract's remaining
  commitment per coded line). Vendor users hold neither.

The attachment download is an audited read (``invoice.attachment_downloaded``), re-hashed before it is served.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from payor import audit
from payor.accounts.models import User
from payor.approvals.decisions import approval_records, approval_timeline, decision_typed_data
from payor.approvals.models import ApprovalDecision, ApprovalTarget, Decision
from payor.approvals.plan import ApprovalPlan, approval_plan
from payor.contracts.errors import ContractNotFound
from payor.contracts.models import Contract
from payor.core.errors import DomainError, PermissionDenied
from payor.core.files import stored_file_verified
from payor.core.money import Money
from payor.invoices.errors import (
    InvoiceAttachmentIntegrityFailed,
    InvoiceAttachmentNotFound,
    InvoiceNotFound,
    InvoiceStateInvalid,
)
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceCoding, InvoiceLine, InvoiceStatus
from payor.invoices.services import invoice_item
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Account, Transfer
from payor.projects.models import BudgetLine
from payor.rbac.errors import ProjectNotFound
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import (
    ROLE_PERMISSIONS,
    Perm,
    has_permission,
    permissions_of,
    project_visible,
    projects_with_permission,
    vendor_ids_for,
)
from payor.rbac.roles import ProjectRole
from payor.vendors.models import VendorUser

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer


__all__ = [
    "FundsAvailability",
    "FundsLine",
    "InvoiceDetail",
    "InvoiceView",
    "LedgerEffect",
    "invoice_approval_plan",
    "invoice_attachment_download",
    "invoice_attachment_get",
    "invoice_contract_get",
    "invoice_detail",
    "invoice_funds",
    "invoice_get_visible",
    "invoice_ledger_effects",
    "invoice_list",
    "invoice_typed_data",
    "invoice_view",
]

#: The project roles whose holders see the invoices of the vendors they act for (derived from the map).
_OWN_ROLES = sorted(role.value for role, perms in ROLE_PERMISSIONS.items() if Perm.INVOICE_VIEW_OWN in perms)


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _active(viewer: Viewer) -> User | None:
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return None
    return viewer


# --------------------------------------------------------------------------------------------------------------
# Visibility
# --------------------------------------------------------------------------------------------------------------


def _own_vendor(viewer: Viewer) -> Q:
    """Invoices whose (project, vendor) is one of the viewer's active VENDOR roles."""
    active = _active(viewer)
    if active is None:
        return Q(pk__in=[])
    own = ProjectRoleAssignment.objects.filter(
        user_id=active.pk,
        role__in=_OWN_ROLES,
        revoked_at__isnull=True,
        project_id=OuterRef("project_id"),
        vendor_id=OuterRef("vendor_id"),
    )
    return Q(Exists(own))


def _visible(viewer: Viewer) -> Q:
    return Q(project__in=projects_with_permission(viewer, Perm.INVOICE_VIEW_ALL)) | _own_vendor(viewer)


def _may_see(viewer: Viewer, invoice: Invoice) -> bool:
    if has_permission(viewer, Perm.INVOICE_VIEW_ALL, project=invoice.project_id):
        return True
    return has_permission(viewer, Perm.INVOICE_VIEW_OWN, project=invoice.project_id) and (
        invoice.vendor_id in vendor_ids_for(viewer, invoice.project_id)
    )


def invoice_list(
    *,
    viewer: Viewer,
    statuses: Collection[str] | None = None,
    vendor_id: uuid.UUID | str | None = None,
    project_id: uuid.UUID | str | None = None,
    contract_id: uuid.UUID | str | None = None,
    due_before: dt.date | None = None,
    due_after: dt.date | None = None,
) -> QuerySet[Invoice]:
    """The invoices ``viewer`` may see, newest first, narrowed by the filters given (they combine).

    ``statuses``: any of them (the caller checks the names). ``due_before`` / ``due_after`` are inclusive and
    leave out invoices without a due date (not approved yet). A ``project_id`` the viewer cannot see is
    ``project_not_found`` (404); a visible project on which they may see no invoice at all is
    ``permission_denied`` (403). Without a project filter the list is what the viewer may see (empty for
    someone who may see none).
    """
    invoices = Invoice.objects.filter(_visible(viewer))
    if project_id is not None:
        project_pk = _uuid(project_id)
        if project_pk is None or not project_visible(viewer, project_pk):
            raise ProjectNotFound()
        perms = permissions_of(viewer, project=project_pk)
        if Perm.INVOICE_VIEW_ALL not in perms and not (
            Perm.INVOICE_VIEW_OWN in perms and vendor_ids_for(viewer, project_pk)
        ):
            raise PermissionDenied(
                f"This needs the {Perm.INVOICE_VIEW_ALL.value} permission on this project, or a VENDOR role there",
                permission=Perm.INVOICE_VIEW_ALL.value,
            )
        invoices = invoices.filter(project_id=project_pk)
    if statuses:
        invoices = invoices.filter(status__in=list(statuses))
    for name, value in (("vendor_id", vendor_id), ("contract_id", contract_id)):
        if value is not None:
            pk = _uuid(value)
            invoices = invoices.none() if pk is None else invoices.filter(**{name: pk})
    if due_before is not None:
        invoices = invoices.filter(due_on__lte=due_before)
    if due_after is not None:
        invoices = invoices.filter(due_on__gte=due_after)
    return invoices.select_related("vendor", "contract").order_by("-id")


def invoice_get_visible(*, viewer: Viewer, invoice_id: uuid.UUID | str) -> Invoice:
    """The invoice, if ``viewer`` may see it; ``invoice_not_found`` (404) otherwise, whether or not it exists."""
    pk = _uuid(invoice_id)
    invoice = (
        None
        if pk is None
        else Invoice.objects.select_related("project", "contract", "vendor", "submitted_by", "created_by")
        .filter(pk=pk)
        .first()
    )
    if invoice is None or not _may_see(viewer, invoice):
        raise InvoiceNotFound()
    return invoice


def invoice_contract_get(*, viewer: Viewer, contract_id: uuid.UUID | str) -> Contract:
    """The contract an invoice is entered against: one the viewer may read (``contract.view`` on its project, or
    a VENDOR role for its vendor there); ``contract_not_found`` (404) otherwise. Whether they may *invoice* it is
    the service's check (``invoice.submit`` for the contract's vendor)."""
    pk = _uuid(contract_id)
    contract = None if pk is None else Contract.objects.select_related("project", "vendor").filter(pk=pk).first()
    if contract is None or not project_visible(viewer, contract.project_id):
        raise ContractNotFound()
    if not has_permission(viewer, Perm.CONTRACT_VIEW, project=contract.project_id) and (
        contract.vendor_id not in vendor_ids_for(viewer, contract.project_id)
    ):
        raise ContractNotFound()
    return contract


# --------------------------------------------------------------------------------------------------------------
# What the viewer sees
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceView:
    """What ``viewer`` may see of a visible invoice (module docstring)."""

    internal: bool
    ledger: bool
    totals: bool
    #: People a vendor-side viewer may see (the vendor's own users); unused when ``internal``.
    vendor_user_ids: frozenset[uuid.UUID] = frozenset()

    def shows(self, user: User | None) -> User | None:
        """``user`` if the viewer may see who they are, else None."""
        if user is None or self.internal or user.pk in self.vendor_user_ids:
            return user
        return None


def invoice_view(*, viewer: Viewer, invoice: Invoice, people: Iterable[uuid.UUID | None] = ()) -> InvoiceView:
    """What ``viewer`` sees of ``invoice`` (read with :func:`invoice_get_visible` first). ``people``: the users
    the caller will show, to learn which of them act for the vendor (for vendor-side viewers)."""
    perms = permissions_of(viewer, project=invoice.project_id)
    internal = Perm.INVOICE_VIEW_ALL in perms
    vendor_users: frozenset[uuid.UUID] = frozenset()
    wanted = {pk for pk in people if pk is not None}
    if not internal and wanted:
        vendor_users = frozenset(
            VendorUser.objects.filter(vendor_id=invoice.vendor_id, user_id__in=wanted).values_list("user_id", flat=True)
        )
    return InvoiceView(
        internal=internal,
        ledger=Perm.LEDGER_VIEW in perms,
        totals=Perm.PROJECT_VIEW_TOTALS in perms,
        vendor_user_ids=vendor_users,
    )


def invoice_approval_plan(*, invoice: Invoice, with_eligible: bool = True) -> ApprovalPlan | None:
    """The current round's approval plan under the project's current matrix: stages, signers so far and (with
    ``with_eligible``, for an invoice in review) who may sign the next stage. For a draft it is what the invoice
    would need; None when no plan applies (an amount the matrix cannot place)."""
    item = invoice_item(invoice)
    try:
        return approval_plan(
            project=item.project,
            amount=item.amount,
            submitter=item.submitter,
            approvals=approval_records(item),
            with_eligible=with_eligible and invoice.status in InvoiceStatus.in_review(),
        )
    except DomainError:  # e.g. a matrix in another currency: the detail still reads
        return None


def invoice_typed_data(
    *, invoice: Invoice, role: ProjectRole | str, decision: Decision | str, chain_id: int
) -> dict[str, Any]:
    """The EIP-712 message a DAO signer signs for ``decision`` on the ``role`` stage of an invoice in review,
    with the current matrix version (what ``invoice_decide`` verifies against). An invoice that is not in review
    has nothing to sign: ``invoice_state_invalid`` (409)."""
    if invoice.status not in InvoiceStatus.in_review():
        raise InvoiceStateInvalid(f"{invoice.number} is {invoice.status}: nothing to sign")
    item = invoice_item(invoice)
    plan = approval_plan(
        project=item.project,
        amount=item.amount,
        submitter=item.submitter,
        approvals=approval_records(item),
        with_eligible=False,
    )
    return decision_typed_data(
        item=item,
        role=ProjectRole(role).value,
        decision=Decision(decision).value,
        chain_id=chain_id,
        matrix_version=plan.matrix_version,
    )


@dataclass(frozen=True)
class LedgerEffect:
    """One ledger transfer of the invoice, with the kinds of the accounts it moved money between."""

    transfer: Transfer
    amount: Money
    from_kind: str
    to_kind: str
    budget_line: BudgetLine | None


def invoice_ledger_effects(*, invoice: Invoice) -> list[LedgerEffect]:
    """Every ledger transfer of the invoice in posting order (ENCUMBER, RETAIN, WITHHOLD, RELEASE…)."""
    transfers = ledger_selectors.invoice_transfers(invoice_id=invoice.pk)
    ids = {t.debit_account_id for t in transfers} | {t.credit_account_id for t in transfers}
    accounts = dict(Account.objects.filter(pk__in=ids).values_list("id", "kind"))
    lines = BudgetLine.objects.in_bulk({t.budget_line_id for t in transfers if t.budget_line_id is not None})
    return [
        LedgerEffect(
            transfer=transfer,
            amount=Money.of_minor(transfer.amount, transfer.currency),
            from_kind=accounts.get(transfer.debit_account_id, ""),
            to_kind=accounts.get(transfer.credit_account_id, ""),
            budget_line=lines.get(transfer.budget_line_id) if transfer.budget_line_id else None,
        )
        for transfer in transfers
    ]


@dataclass(frozen=True)
class FundsLine:
    """One coded budget line: what the invoice charges it (gross) against the contract's remaining commitment."""

    budget_line: BudgetLine
    coded: Money
    remaining_commitment: Money
    fits: bool


@dataclass(frozen=True)
class FundsAvailability:
    """Seed 004's funds-availability widget (see :func:`invoice_funds`)."""

    bucket_available: Money
    funds_required: Money
    fees: Money
    encumbered: bool
    covered: bool | None
    lines: list[FundsLine] = field(default_factory=list)


def invoice_funds(*, invoice: Invoice, coding: list[InvoiceCoding] | None = None) -> FundsAvailability:
    """Whether the invoice's money is there.

    * Submitted or later: its gross was ENCUMBERED from the contract's commitment (and its fees from available)
      at submission — ``encumbered`` and ``covered`` are true;
    * a draft: ``covered`` says whether submitting now would fit — each coded line's gross within the contract's
      remaining commitment on that line, and the fees within the bucket's available funds (pending change
      orders not counted);
    * rejected: nothing is held and nothing will be (``covered`` null).
    """
    currency = invoice.currency
    zero = Money.zero(currency)
    summary = ledger_selectors.project_summary(project_id=invoice.project_id).get(currency)
    available = summary.available if summary is not None else zero
    remaining = ledger_selectors.contract_committed_by_line(contract_id=invoice.contract_id)
    encumbered = invoice.status in InvoiceStatus.billed()
    parts = coding if coding is not None else list(invoice.coding.select_related("budget_line"))
    lines = [
        FundsLine(
            budget_line=part.budget_line,
            coded=part.gross,
            remaining_commitment=remaining.get(part.budget_line_id, zero),
            fits=encumbered or part.gross <= remaining.get(part.budget_line_id, zero),
        )
        for part in parts
    ]
    covered: bool | None
    if invoice.status == InvoiceStatus.REJECTED:
        covered = None
    elif encumbered:
        covered = True
    else:
        covered = all(line.fits for line in lines) and invoice.fees <= available
    return FundsAvailability(
        bucket_available=available,
        funds_required=invoice.funds_required,
        fees=invoice.fees,
        encumbered=encumbered,
        covered=covered,
        lines=lines,
    )


@dataclass(frozen=True)
class InvoiceDetail:
    """Everything seed 004's Invoice Detail screen shows, as ``viewer`` may see it (None: not for them)."""

    invoice: Invoice
    view: InvoiceView
    lines: list[InvoiceLine]
    coding: list[InvoiceCoding]
    attachments: list[InvoiceAttachment]
    plan: ApprovalPlan | None
    timeline: list[ApprovalDecision]
    ledger: list[LedgerEffect] | None
    funds: FundsAvailability | None


def invoice_detail(*, viewer: Viewer, invoice_id: uuid.UUID | str) -> InvoiceDetail:
    """The invoice with its lines, coding, attachments, approval plan, timeline, ledger effects and funds block
    (``invoice_not_found`` unless visible; the parts the viewer may not see are None)."""
    invoice = invoice_get_visible(viewer=viewer, invoice_id=invoice_id)
    attachments = list(invoice.attachments.select_related("uploaded_by").order_by("created_at", "id"))
    people = {invoice.submitted_by_id, invoice.created_by_id, *(a.uploaded_by_id for a in attachments)}
    view = invoice_view(viewer=viewer, invoice=invoice, people=people)
    coding = list(invoice.coding.select_related("budget_line").order_by("budget_line__wbs_code"))
    return InvoiceDetail(
        invoice=invoice,
        view=view,
        lines=list(invoice.lines.order_by("position")),
        coding=coding,
        attachments=attachments,
        plan=invoice_approval_plan(invoice=invoice, with_eligible=view.internal),
        timeline=approval_timeline(target_type=ApprovalTarget.INVOICE, target_id=invoice.pk),
        ledger=invoice_ledger_effects(invoice=invoice) if view.ledger else None,
        funds=invoice_funds(invoice=invoice, coding=coding) if view.totals else None,
    )


# --------------------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------------------


def invoice_attachment_get(*, viewer: Viewer, invoice: Invoice, attachment_id: uuid.UUID | str) -> InvoiceAttachment:
    """An attachment of a visible invoice (checked again here); ``invoice_attachment_not_found`` otherwise."""
    if not _may_see(viewer, invoice):
        raise InvoiceNotFound()
    pk = _uuid(attachment_id)
    attachment = (
        None
        if pk is None
        else InvoiceAttachment.objects.select_related("uploaded_by").filter(pk=pk, invoice=invoice).first()
    )
    if attachment is None:
        raise InvoiceAttachmentNotFound()
    attachment.invoice = invoice
    return attachment


@transaction.atomic
def invoice_attachment_download(
    *, viewer: User, attachment: InvoiceAttachment, request: HttpRequest | None = None
) -> IO[bytes]:
    """Open an attachment's stored file for whoever may see its invoice (read it with
    :func:`invoice_attachment_get`): an audited read (``invoice.attachment_downloaded``). The file is checked
    against its recorded SHA-256 first: missing or altered is ``invoice_attachment_integrity_failed`` (409,
    logged as an error). The caller closes the returned file (a ``FileResponse`` does)."""
    invoice = attachment.invoice
    if not _may_see(viewer, invoice):
        raise InvoiceNotFound()
    handle = stored_file_verified(
        attachment.file,
        sha256=attachment.sha256,
        failed=InvoiceAttachmentIntegrityFailed,
        what=f"invoice attachment {attachment.pk}",
    )
    try:
        audit.record(
            viewer,
            "invoice.attachment_downloaded",
            attachment,
            after={"invoice": invoice.pk, "filename": attachment.original_filename, "sha256": attachment.sha256},
            project=invoice.project_id,
            request=request,
        )
    except BaseException:
        handle.close()
        raise
    return handle
