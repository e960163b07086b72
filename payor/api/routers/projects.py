"""``/api/v1/projects``: thin edge over projects services and selectors."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field, field_validator

from payor.api.pagination import Cursor
from payor.api.schemas import MoneyOut, Problem
from payor.core.money import MoneyError, get_currency
from payor.ledger.selectors import Figures
from payor.projects import selectors, services
from payor.projects.errors import OrganizationNotFound
from payor.projects.models import Project, ProjectPhase, ProjectStatus
from payor.rbac.permissions import Perm, require_permission

router = Router(tags=["projects"])


class OrganizationRef(Schema):
    id: UUID
    name: str
    kind: str


class BucketOut(Schema):
    id: UUID
    kind: str
    currency: str
    funded: MoneyOut | None = Field(
        description="What the bucket has been funded; null unless you hold project.view_totals on the project"
    )


class FiguresOut(Schema):
    """A bucket's ledger figures.

    funded = available + committed + encumbered + retention + withheld + disbursed + pending.
    """

    currency: str
    funded: MoneyOut
    available: MoneyOut
    committed: MoneyOut
    encumbered: MoneyOut
    retention: MoneyOut
    withheld: MoneyOut
    disbursed: MoneyOut
    pending: MoneyOut

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(
            currency=figures.currency,
            **{
                name: MoneyOut.of(getattr(figures, name))
                for name in (
                    "funded",
                    "available",
                    "committed",
                    "encumbered",
                    "retention",
                    "withheld",
                    "disbursed",
                    "pending",
                )
            },
        )


class FinanceSummaryOut(Schema):
    project_id: UUID
    buckets: list[FiguresOut]


class ProjectOut(Schema):
    id: UUID
    organization: OrganizationRef
    name: str
    description: str
    status: ProjectStatus
    phase: ProjectPhase
    currency: str
    start_date: dt.date | None
    end_date: dt.date | None
    created_at: dt.datetime
    buckets: list[BucketOut]

    @staticmethod
    def resolve_buckets(project: Project) -> list[dict[str, object]]:
        visible = getattr(project, "totals_visible", False)  # annotated by selectors.project_list
        return [
            {
                "id": bucket.pk,
                "kind": bucket.kind,
                "currency": bucket.currency,
                "funded": MoneyOut.of(selectors.bucket_funded_total(bucket=bucket)) if visible else None,
            }
            for bucket in project.buckets.all()
        ]


class ProjectIn(Schema):
    organization_id: UUID
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    currency: str = Field(min_length=3, max_length=10, examples=["USD"])
    phase: ProjectPhase = ProjectPhase.ORIGINATION
    status: ProjectStatus = ProjectStatus.ACTIVE
    start_date: dt.date | None = None
    end_date: dt.date | None = None

    @field_validator("name")
    @classmethod
    def name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()

    @field_validator("currency")
    @classmethod
    def currency_known(cls, value: str) -> str:
        try:
            return get_currency(value.upper()).code
        except MoneyError as exc:
            raise ValueError(str(exc)) from exc


ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}


@router.get("/organizations", response=list[OrganizationRef], summary="Organizations you belong to")
@paginate(Cursor)
def list_organizations(request: HttpRequest) -> object:
    return selectors.organization_list(viewer=request.user)  # type: ignore[arg-type]


@router.get("/projects", response=list[ProjectOut], summary="List projects visible to you")
@paginate(Cursor)
def list_projects(request: HttpRequest) -> object:
    return selectors.project_list(viewer=request.user).prefetch_related("buckets")  # type: ignore[arg-type]


@router.post("/projects", response={201: ProjectOut, **ERRORS}, summary="Create a project and its Lift Forward bucket")
def create_project(request: HttpRequest, payload: ProjectIn) -> Status[Project]:
    organization = (
        selectors.organization_list(viewer=request.user).filter(pk=payload.organization_id).first()  # type: ignore[arg-type]
    )
    if organization is None:
        raise OrganizationNotFound(f"No organization {payload.organization_id} that you belong to")
    project = services.project_create(
        actor=request.user,  # type: ignore[arg-type]
        organization=organization,
        request=request,
        **payload.model_dump(exclude={"organization_id"}),
    )
    return Status(201, selectors.project_get(viewer=request.user, project_id=project.pk))  # type: ignore[arg-type]


@router.get("/projects/{project_id}", response={200: ProjectOut, **ERRORS}, summary="A project with its buckets")
def get_project(request: HttpRequest, project_id: UUID) -> Project:
    return selectors.project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]


@router.get(
    "/projects/{project_id}/finance/summary",
    response={200: FinanceSummaryOut, **ERRORS},
    summary="Ledger balances per bucket: funded, available, committed, encumbered, retention, withheld, disbursed",
)
def finance_summary(request: HttpRequest, project_id: UUID) -> FinanceSummaryOut:
    project = selectors.project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    require_permission(request.user, Perm.PROJECT_VIEW_TOTALS, project=project)
    return FinanceSummaryOut(
        project_id=project.pk,
        buckets=[FiguresOut.of(figures) for figures in selectors.project_figures(project=project)],
    )
