"""Reads for projects. Every selector takes the viewer so scoping cannot be skipped."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet

from payor.accounts.models import Organization, User
from payor.core.errors import NotFound
from payor.core.money import Money
from payor.ledger import selectors as ledger_selectors
from payor.projects.budget import BudgetNode, LineFigures, build_tree, own_figures, totals
from payor.projects.errors import BudgetLineNotFound
from payor.projects.models import BudgetLine, FundingBucket, Project
from payor.rbac.permissions import Perm, projects_for, projects_with_permission, require_permission


def organization_list(*, viewer: User) -> QuerySet[Organization]:
    if viewer.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=viewer)


def project_list(*, viewer: User) -> QuerySet[Project]:
    """Projects the viewer may see: those they hold an active role on (every project, for system roles).

    Organization membership alone shows nothing: visibility is ``rbac.permissions.projects_for``'s rule, the
    same one every interface uses. Each project carries ``totals_visible``: whether the viewer holds
    ``project.view_totals`` there (the funded/available figures are shown only then), in the same query.
    """
    totals = projects_with_permission(viewer, Perm.PROJECT_VIEW_TOTALS).filter(pk=OuterRef("pk"))
    return projects_for(viewer).select_related("organization").annotate(totals_visible=Exists(totals))


def project_get(*, viewer: User, project_id: UUID | str) -> Project:
    try:
        return project_list(viewer=viewer).prefetch_related("buckets").get(pk=project_id)
    except (Project.DoesNotExist, ValueError) as exc:
        raise NotFound("No such project", code="project_not_found") from exc


def bucket_funded_total(*, bucket: FundingBucket) -> Money:
    """What a bucket has been funded, from the ledger's funding account."""
    figures = ledger_selectors.project_summary(project_id=bucket.project_id).get(bucket.currency)
    return figures.funded if figures else Money.zero(bucket.currency)


def project_figures(*, project: Project) -> list[ledger_selectors.Figures]:
    """Ledger figures for each of the project's buckets (zero for a bucket with no activity yet)."""
    summary = ledger_selectors.project_summary(project_id=project.pk)
    return [
        summary.get(bucket.currency) or ledger_selectors.Figures.zero(bucket.currency)
        for bucket in project.buckets.all()
    ]


# --------------------------------------------------------------------------- budget lines (the WBS tree)


@dataclass(frozen=True)
class BudgetTree:
    """A project's WBS tree: root nodes in display order, and the whole tree summed as ``totals``."""

    project: Project
    currency: str
    totals: LineFigures
    roots: list[BudgetNode]


def budget_tree(*, viewer: User, project: Project) -> BudgetTree:
    """Every line of the project (archived ones included: their money stays in the roll-ups), nested and ordered,
    with figures from the ledger (``payor.projects.budget``). Needs ``budget.view``.

    Two queries whatever the size of the tree: the lines, and one aggregate over the project's ledger
    accounts grouped by budget line. Money booked on a line in another currency than the project's is
    not budget and is left out.
    """
    require_permission(viewer, Perm.BUDGET_VIEW, project=project)
    lines = list(BudgetLine.objects.filter(project=project))
    own = own_figures(ledger_selectors.budget_line_figures(project_id=project.pk), project.currency)
    roots = build_tree(lines, own)
    return BudgetTree(project=project, currency=project.currency, totals=totals(roots, project.currency), roots=roots)


def budget_line_visible(*, viewer: User, line_id: UUID | str) -> BudgetLine:
    """The line if the viewer may see its project; ``budget_line_not_found`` otherwise (existence is not leaked)."""
    try:
        pk = line_id if isinstance(line_id, UUID) else UUID(str(line_id))
    except ValueError as exc:
        raise BudgetLineNotFound() from exc
    line = BudgetLine.objects.select_related("project").filter(pk=pk, project__in=projects_for(viewer)).first()
    if line is None:
        raise BudgetLineNotFound()
    return line


def budget_line_get(*, viewer: User, line_id: UUID | str) -> BudgetNode:
    """One line with its subtree, figures rolled up as in :func:`budget_tree`. Needs ``budget.view``."""
    line = budget_line_visible(viewer=viewer, line_id=line_id)
    require_permission(viewer, Perm.BUDGET_VIEW, project=line.project)
    code = line.wbs_code
    subtree = Q(wbs_code=code) | Q(wbs_code__startswith=f"{code}.")
    lines = list(BudgetLine.objects.filter(project_id=line.project_id).filter(subtree))
    ledger_rows = ledger_selectors.budget_lines_figures(
        project_id=line.project_id, budget_line_ids=[each.pk for each in lines]
    )
    (node,) = build_tree(lines, own_figures(ledger_rows, line.currency))
    return node
