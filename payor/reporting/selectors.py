"""Dashboard metrics for the Project Finance Home: burn per month, runway and alerts.

Every figure comes from the ledger or the domain tables through the owning apps' selectors; nothing is stored
here. Every selector takes the viewer, so scoping cannot be skipped.

* **Burn** (:func:`burn_by_month`): what was paid out per calendar month — the net of the posted transfers into
  and out of the project's ``disbursed`` accounts (executed DISBURSE transfers, less reversals), by the month the
  ledger posted them (``TIME_ZONE``). Pending (scheduled) payments are not burn until they execute, and voided
  ones never are. The cumulative line of the last month equals the ledger's ``disbursed`` figure.
* **Runway** (:func:`runway`): ``available ÷ average monthly burn over the trailing three calendar months`` (the
  current month and the two before it), in months, rounded *down* to one decimal (a runway is never overstated);
  None (shown as "—") when nothing was paid out in those months.
* **Alerts** (:func:`finance_alerts`): invoices in review whose next approval stage the viewer may fill now (the
  approval plan's eligible signers, minus invoices of a vendor the viewer acts for); certificates of insurance of
  the project's vendors (an open contract) that expire within 30 days or already have; budget lines above 90 % of
  their cap; failed payments whose invoice has not been scheduled again. Each group needs the permission that
  reads it (``invoice.view_all``, ``vendor.view``, ``budget.view``, ``payment.view_all``).

Burn and runway need ``project.view_totals``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from payor.contracts.models import Contract, ContractStatus
from payor.core.errors import PermissionDenied
from payor.core.money import Money
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.selectors import invoice_approval_plan
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Account, AccountKind
from payor.payments.models import Disbursement, DisbursementStatus
from payor.projects.budget import BudgetNode
from payor.projects.models import FundingBucket, Project
from payor.projects.selectors import budget_tree, project_figures, project_get
from payor.rbac.permissions import Perm, permissions_of, require_permission, roles_of, vendor_ids_for
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor, VendorUser

if TYPE_CHECKING:
    from payor.accounts.models import User
    from payor.approvals.plan import StagePlan

__all__ = [
    "ALERT_LIMIT",
    "BUDGET_ALERT_PERCENT",
    "COI_ALERT_DAYS",
    "FINANCE_PAGE_PERMS",
    "RUNWAY_MONTHS",
    "AllocationFigures",
    "ApprovalAlert",
    "Burn",
    "BurnMonth",
    "CoiAlert",
    "FinanceAlerts",
    "FinanceHome",
    "Runway",
    "burn_by_month",
    "contract_line_figures",
    "finance_alerts",
    "finance_home",
    "month_start",
    "runway",
]

#: Months averaged for the runway (the current one and the ones before it).
RUNWAY_MONTHS: Final = 3
#: A certificate of insurance ending within this many days is an alert.
COI_ALERT_DAYS: Final = 30
#: A budget line using more than this percentage of its cap is an alert.
BUDGET_ALERT_PERCENT: Final = 90
#: At most this many rows per alert group (and in-review invoices examined for the viewer's approvals).
ALERT_LIMIT: Final = 50
_APPROVER_ROLES: Final = frozenset(
    {ProjectRole.PROJECT_MANAGER, ProjectRole.FINANCE_REVIEWER, ProjectRole.TREASURER, ProjectRole.DAO_MULTISIG}
)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def _today(today: dt.date | None) -> dt.date:
    return today if today is not None else timezone.localdate()


# --------------------------------------------------------------------------------------------------------------
# Burn
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurnMonth:
    month: dt.date  # the first day of the month
    disbursed: Money  # paid out in the month (net of reversals)
    cumulative: Money  # paid out from the project's start to the end of the month


@dataclass(frozen=True)
class Burn:
    """Monthly burn over a window of consecutive months ending with the current one."""

    currency: str
    months: list[BurnMonth]
    before: Money  # paid out before the window's first month

    @property
    def total(self) -> Money:
        """Paid out up to the end of the window (the ledger's ``disbursed``, for a window ending today)."""
        return self.months[-1].cumulative if self.months else self.before

    @property
    def peak(self) -> Money:
        """The largest monthly figure (zero when nothing was paid): the chart's scale."""
        return max((month.disbursed for month in self.months), default=Money.zero(self.currency))


_BURN_SQL = """
    WITH disbursed AS (
        SELECT id FROM ledger_account WHERE project_id = %(project)s AND currency = %(currency)s AND kind = %(kind)s
    )
    SELECT date_trunc('month', t.created_at AT TIME ZONE %(tz)s)::date AS month,
           sum(CASE WHEN t.credit_account_id IN (SELECT id FROM disbursed) THEN t.amount ELSE 0 END)
         - sum(CASE WHEN t.debit_account_id IN (SELECT id FROM disbursed) THEN t.amount ELSE 0 END)
    FROM ledger_transfer t
    WHERE (t.credit_account_id IN (SELECT id FROM disbursed) OR t.debit_account_id IN (SELECT id FROM disbursed))
      AND t.phase IN ('single', 'post')
    GROUP BY 1
"""


def _burn_rows(project_id: uuid.UUID, currency: str) -> dict[dt.date, int]:
    """Net minor units posted into the project's disbursed accounts, per month (the (account, seq) indexes)."""
    params: dict[str, Any] = {
        "project": project_id,
        "currency": currency,
        "kind": AccountKind.DISBURSED,
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_BURN_SQL, params)
        return {month: int(total) for month, total in cursor.fetchall()}


def burn_by_month(
    *, viewer: User, project: Project, currency: str | None = None, months: int = 12, today: dt.date | None = None
) -> Burn:
    """The project's burn in ``currency`` (default: its booking currency) for the ``months`` calendar months
    ending with the current one, oldest first, each with the cumulative total. Needs ``project.view_totals``."""
    require_permission(viewer, Perm.PROJECT_VIEW_TOTALS, project=project)
    code = currency or project.currency
    last = month_start(_today(today))
    first = _add_months(last, -(max(months, 1) - 1))
    rows = _burn_rows(project.pk, code)
    before = sum((total for month, total in rows.items() if month < first), 0)
    running = before
    out: list[BurnMonth] = []
    for offset in range(max(months, 1)):
        month = _add_months(first, offset)
        paid = rows.get(month, 0)
        running += paid
        out.append(
            BurnMonth(month=month, disbursed=Money.of_minor(paid, code), cumulative=Money.of_minor(running, code))
        )
    return Burn(currency=code, months=out, before=Money.of_minor(before, code))


# --------------------------------------------------------------------------------------------------------------
# Runway
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runway:
    available: Money
    trailing_burn: Money  # paid out in the trailing RUNWAY_MONTHS months
    monthly_burn: Money  # trailing_burn / RUNWAY_MONTHS, rounded down to the minor unit
    months: Decimal | None  # available / monthly burn, rounded down to 0.1; None without burn


def runway(
    *,
    viewer: User,
    project: Project,
    currency: str | None = None,
    today: dt.date | None = None,
    burn: Burn | None = None,
) -> Runway:
    """Months of burn that ``available`` covers at the trailing three months' average (module docstring).

    Needs ``project.view_totals``. ``burn``: a :func:`burn_by_month` result for the same project, currency and day
    (covering at least the trailing months) to reuse instead of reading the ledger again.
    """
    require_permission(viewer, Perm.PROJECT_VIEW_TOTALS, project=project)
    code = currency or project.currency
    if burn is None or burn.currency != code or len(burn.months) < RUNWAY_MONTHS:
        burn = burn_by_month(viewer=viewer, project=project, currency=code, months=RUNWAY_MONTHS, today=today)
    trailing = Money.sum((month.disbursed for month in burn.months[-RUNWAY_MONTHS:]), code)
    figures = ledger_selectors.project_summary(project_id=project.pk).get(code)
    available = figures.available if figures is not None else Money.zero(code)
    monthly = Money.of_minor(trailing.minor // RUNWAY_MONTHS, code) if trailing.is_positive else Money.zero(code)
    months: Decimal | None = None
    if trailing.is_positive:
        tenths = max(available.minor, 0) * RUNWAY_MONTHS * 10 // trailing.minor
        months = (Decimal(tenths) / 10).quantize(Decimal("0.1"))
    return Runway(available=available, trailing_burn=trailing, monthly_burn=monthly, months=months)


# --------------------------------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalAlert:
    invoice: Invoice
    stage: StagePlan  # the stage the viewer may fill now


@dataclass(frozen=True)
class CoiAlert:
    vendor: Vendor
    expires_on: dt.date
    days_left: int  # negative: expired that many days ago

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    @property
    def days_ago(self) -> int:
        """Days since an expired certificate ended."""
        return -self.days_left


@dataclass(frozen=True)
class FinanceAlerts:
    approvals: list[ApprovalAlert] = field(default_factory=list)
    cois: list[CoiAlert] = field(default_factory=list)
    budget_lines: list[BudgetNode] = field(default_factory=list)
    failed_payments: list[Disbursement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.approvals) + len(self.cois) + len(self.budget_lines) + len(self.failed_payments)


def _approvals(viewer: User, project: Project) -> list[ApprovalAlert]:
    if not roles_of(viewer, project) & _APPROVER_ROLES:
        return []
    own_vendors = vendor_ids_for(viewer, project) | set(
        VendorUser.objects.filter(user_id=viewer.pk).values_list("vendor_id", flat=True)
    )
    invoices = (
        Invoice.objects.filter(project=project, status__in=InvoiceStatus.in_review())
        .exclude(vendor_id__in=own_vendors)
        .exclude(submitted_by_id=viewer.pk)
        .select_related("project", "vendor", "contract", "submitted_by")
        .order_by("submitted_at", "id")[:ALERT_LIMIT]
    )
    alerts = []
    for invoice in invoices:
        plan = invoice_approval_plan(invoice=invoice)
        stage = plan.next_stage if plan is not None else None
        if stage is not None and any(user.pk == viewer.pk for user in stage.eligible):
            alerts.append(ApprovalAlert(invoice=invoice, stage=stage))
    return alerts


def _cois(project: Project, today: dt.date) -> list[CoiAlert]:
    open_contract = Contract.objects.filter(
        project=project, vendor=OuterRef("pk"), status__in=[ContractStatus.DRAFT, ContractStatus.EXECUTED]
    )
    vendors = (
        Vendor.objects.filter(Exists(open_contract), coi_expiry__isnull=False)
        .filter(coi_expiry__lte=today + dt.timedelta(days=COI_ALERT_DAYS))
        .order_by("coi_expiry", "name")[:ALERT_LIMIT]
    )
    return [
        CoiAlert(vendor=vendor, expires_on=vendor.coi_expiry, days_left=(vendor.coi_expiry - today).days)
        for vendor in vendors
        if vendor.coi_expiry is not None
    ]


def _budget_lines(viewer: User, project: Project) -> list[BudgetNode]:
    tree = budget_tree(viewer=viewer, project=project)
    hot = [
        node
        for root in tree.roots
        for node in root.walk()
        if node.figures.cap.is_positive
        and node.figures.used.minor * 100 > node.figures.cap.minor * BUDGET_ALERT_PERCENT  # exact, no rounding
    ]
    return hot[:ALERT_LIMIT]


def _failed_payments(project: Project) -> list[Disbursement]:
    retried = Disbursement.objects.filter(invoice=OuterRef("invoice"), status__in=DisbursementStatus.active())
    return list(
        Disbursement.objects.filter(project=project, status=DisbursementStatus.FAILED)
        .exclude(Exists(retried))
        .select_related("invoice", "vendor")
        .order_by("-updated_at", "-id")[:ALERT_LIMIT]
    )


def finance_alerts(*, viewer: User, project: Project, today: dt.date | None = None) -> FinanceAlerts:
    """What needs attention on ``project``, as far as ``viewer`` may read it (module docstring)."""
    perms = permissions_of(viewer, project=project)
    day = _today(today)
    return FinanceAlerts(
        approvals=_approvals(viewer, project) if Perm.INVOICE_VIEW_ALL in perms else [],
        cois=_cois(project, day) if Perm.VENDOR_VIEW in perms else [],
        budget_lines=_budget_lines(viewer, project) if Perm.BUDGET_VIEW in perms else [],
        failed_payments=_failed_payments(project) if Perm.PAYMENT_VIEW_ALL in perms else [],
    )


# --------------------------------------------------------------------------------------------------------------
# The Project Finance Home
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinanceHome:
    """Everything the Project Finance Home shows to ``viewer``; figures only with ``project.view_totals``."""

    project: Project
    show_totals: bool
    buckets: list[tuple[FundingBucket, ledger_selectors.Figures]]
    burn: Burn | None
    runway: Runway | None
    alerts: FinanceAlerts


#: The finance pages open to whoever holds one of these on the project (never a VENDOR user).
FINANCE_PAGE_PERMS: Final = frozenset({Perm.PROJECT_VIEW_TOTALS, Perm.BUDGET_VIEW})


def finance_home(*, viewer: User, project_id: uuid.UUID | str, today: dt.date | None = None) -> FinanceHome:
    """The finance home of a project: ``project_not_found`` (404) when the viewer cannot see the project,
    ``permission_denied`` (403) without ``project.view_totals`` or ``budget.view`` there (vendor users)."""
    project = project_get(viewer=viewer, project_id=project_id)
    perms = permissions_of(viewer, project=project)
    if not perms & FINANCE_PAGE_PERMS:
        raise PermissionDenied(
            "The finance home needs the project.view_totals or budget.view permission on this project",
            permission=Perm.PROJECT_VIEW_TOTALS.value,
        )
    show_totals = Perm.PROJECT_VIEW_TOTALS in perms
    burn = burn_by_month(viewer=viewer, project=project, today=today) if show_totals else None
    return FinanceHome(
        project=project,
        show_totals=show_totals,
        buckets=list(zip(project.buckets.all(), project_figures(project=project), strict=True)) if show_totals else [],
        burn=burn,
        runway=runway(viewer=viewer, project=project, today=today, burn=burn) if show_totals else None,
        alerts=finance_alerts(viewer=viewer, project=project, today=today),
    )


# --------------------------------------------------------------------------------------------------------------
# A contract's figures per budget line (the contract detail's allocations)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationFigures:
    """The ledger's figures of one contract on one budget line, in the contract's currency.

    ``remaining`` is still committed (not yet invoiced); ``invoiced`` = encumbered + retention + withheld + pending
    + disbursed.
    """

    remaining: Money
    encumbered: Money
    retention: Money
    withheld: Money
    pending: Money
    disbursed: Money

    @property
    def invoiced(self) -> Money:
        return self.encumbered + self.retention + self.withheld + self.pending + self.disbursed


def contract_line_figures(*, contract: Contract) -> dict[uuid.UUID | None, AllocationFigures]:
    """Per budget line, what the ledger holds for ``contract`` (read it with ``contract_get_visible`` first).

    One indexed read of the contract's accounts; a line the ledger never booked on is absent (zero).
    """
    code = contract.currency
    held: dict[uuid.UUID | None, dict[str, int]] = {}
    rows = Account.objects.filter(contract_id=contract.pk, currency=code).values_list(
        "budget_line_id", "kind", "debits_pending", "debits_posted", "credits_posted"
    )
    for line_id, kind, debits_pending, debits_posted, credits_posted in rows:
        parts = held.setdefault(line_id, {"pending": 0})
        parts[kind] = parts.get(kind, 0) + credits_posted - debits_posted - debits_pending
        parts["pending"] += debits_pending

    def money(parts: dict[str, int], name: str) -> Money:
        return Money.of_minor(parts.get(name, 0), code)

    return {
        line_id: AllocationFigures(
            remaining=money(parts, AccountKind.COMMITTED),
            encumbered=money(parts, AccountKind.ENCUMBERED),
            retention=money(parts, AccountKind.RETENTION),
            withheld=money(parts, AccountKind.WITHHELD),
            pending=money(parts, "pending"),
            disbursed=money(parts, AccountKind.DISBURSED),
        )
        for line_id, parts in held.items()
    }
