"""Budget lines (the WBS tree): thin edge over ``payor.projects`` budget services and selectors.

A project you cannot see is 404 ``project_not_found`` and a line of such a project 404
``budget_line_not_found``; a visible project without ``budget.view`` (reads) or ``budget.manage``
(writes) is 403 ``permission_denied``. The tree is one document, not a paginated list.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from payor.api.schemas import MoneyIn, MoneyOut, Problem
from payor.projects import selectors, services
from payor.projects.budget import BudgetNode, LineFigures
from payor.projects.models import WBS_CODE_MAX
from payor.projects.services import DESCRIPTION_MAX, POSITION_MAX
from payor.rbac.selectors import project_get_visible

router = Router(tags=["budget"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}


class LineFiguresOut(Schema):
    """A line's figures in the project currency; ledger parts are rolled up over its subtree.

    used = committed + encumbered + retention + withheld + pending + disbursed; actual = used - committed;
    remaining = cap - used; variance = cap - actual.
    """

    cap: MoneyOut
    children_cap: MoneyOut = Field(description="The caps of the line's children, summed (never above cap)")
    committed: MoneyOut
    encumbered: MoneyOut
    retention: MoneyOut
    withheld: MoneyOut
    pending: MoneyOut = Field(description="Scheduled payments not yet executed")
    disbursed: MoneyOut
    used: MoneyOut
    actual: MoneyOut = Field(description="Invoiced against the line: used minus what is only committed")
    remaining: MoneyOut = Field(description="cap - used: room for new commitments")
    variance: MoneyOut = Field(description="cap - actual: positive while under budget")
    percent_used: str | None = Field(
        description="used / cap in percent, rounded down to 2 decimals; null for a zero cap", examples=["87.50"]
    )

    @classmethod
    def of(cls, figures: LineFigures) -> LineFiguresOut:
        names = ("cap", "children_cap", "committed", "encumbered", "retention", "withheld", "pending", "disbursed")
        derived = ("used", "actual", "remaining", "variance")
        percent = figures.percent_used
        return cls(
            **{name: MoneyOut.of(getattr(figures, name)) for name in (*names, *derived)},
            percent_used=None if percent is None else str(percent),
        )


class BudgetLineOut(Schema):
    id: UUID
    project_id: UUID
    parent_id: UUID | None
    wbs_code: str
    description: str
    position: int
    depth: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    figures: LineFiguresOut
    children: list[BudgetLineOut]

    @classmethod
    def of(cls, node: BudgetNode) -> BudgetLineOut:
        line = node.line
        return cls(
            id=line.pk,
            project_id=line.project_id,
            parent_id=line.parent_id,
            wbs_code=line.wbs_code,
            description=line.description,
            position=line.position,
            depth=line.depth,
            archived_at=line.archived_at,
            created_at=line.created_at,
            figures=LineFiguresOut.of(node.figures),
            children=[cls.of(child) for child in node.children],
        )


BudgetLineOut.model_rebuild()


class BudgetTreeOut(Schema):
    project_id: UUID
    currency: str
    totals: LineFiguresOut = Field(description="The whole tree: root caps and figures summed")
    lines: list[BudgetLineOut] = Field(description="Root lines in display order, each with its children")


class BudgetLineIn(Schema):
    wbs_code: str = Field(
        min_length=1,
        max_length=WBS_CODE_MAX,
        examples=["1.2"],
        description="Dotted segments of 1-10 letters or digits; a child's code is its parent's plus one segment",
    )
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX)
    cap: MoneyIn
    parent_id: UUID | None = Field(default=None, description="Omit for a root line")
    position: int | None = Field(default=None, ge=0, le=POSITION_MAX, description="Default: after the last sibling")


class BudgetLinePatch(Schema):
    description: str | None = Field(default=None, min_length=1, max_length=DESCRIPTION_MAX)
    cap: MoneyIn | None = None
    position: int | None = Field(default=None, ge=0, le=POSITION_MAX)


def _line(request: HttpRequest, line_id: UUID) -> BudgetLineOut:
    return BudgetLineOut.of(selectors.budget_line_get(viewer=request.user, line_id=line_id))  # type: ignore[arg-type]


@router.get(
    "/projects/{project_id}/budget-lines",
    response={200: BudgetTreeOut, **ERRORS},
    summary="The project's WBS tree with cap, committed, encumbered, retention, disbursed, remaining per line",
)
def budget_tree(request: HttpRequest, project_id: UUID) -> BudgetTreeOut:
    project = project_get_visible(viewer=request.user, project_id=project_id)
    tree = selectors.budget_tree(viewer=request.user, project=project)  # type: ignore[arg-type]
    return BudgetTreeOut(
        project_id=project.pk,
        currency=tree.currency,
        totals=LineFiguresOut.of(tree.totals),
        lines=[BudgetLineOut.of(root) for root in tree.roots],
    )


@router.post(
    "/projects/{project_id}/budget-lines",
    response={201: BudgetLineOut, **ERRORS},
    summary="Add a budget line (needs budget.manage)",
)
def create_budget_line(request: HttpRequest, project_id: UUID, payload: BudgetLineIn) -> Status[BudgetLineOut]:
    project = project_get_visible(viewer=request.user, project_id=project_id)
    line = services.budget_line_create(
        actor=request.user,  # type: ignore[arg-type]
        project=project,
        wbs_code=payload.wbs_code,
        description=payload.description,
        cap=payload.cap.money(),
        parent_id=payload.parent_id,
        position=payload.position,
        request=request,
    )
    return Status(201, _line(request, line.pk))


@router.get(
    "/budget-lines/{line_id}",
    response={200: BudgetLineOut, **ERRORS},
    summary="A budget line with its subtree and rolled-up figures",
)
def get_budget_line(request: HttpRequest, line_id: UUID) -> BudgetLineOut:
    return _line(request, line_id)


@router.patch(
    "/budget-lines/{line_id}",
    response={200: BudgetLineOut, **ERRORS},
    summary="Change a line's description, cap or position (needs budget.manage)",
)
def update_budget_line(request: HttpRequest, line_id: UUID, payload: BudgetLinePatch) -> BudgetLineOut:
    line = selectors.budget_line_visible(viewer=request.user, line_id=line_id)  # type: ignore[arg-type]
    services.budget_line_update(
        actor=request.user,  # type: ignore[arg-type]
        line=line,
        description=payload.description,
        cap=payload.cap.money() if payload.cap is not None else None,
        position=payload.position,
        request=request,
    )
    return _line(request, line.pk)


@router.post(
    "/budget-lines/{line_id}/archive",
    response={200: BudgetLineOut, **ERRORS},
    summary="Archive a line and its subtree (needs budget.manage; refused while money is open on it)",
)
def archive_budget_line(request: HttpRequest, line_id: UUID) -> BudgetLineOut:
    line = selectors.budget_line_visible(viewer=request.user, line_id=line_id)  # type: ignore[arg-type]
    services.budget_line_archive(actor=request.user, line=line, request=request)  # type: ignore[arg-type]
    return _line(request, line.pk)
