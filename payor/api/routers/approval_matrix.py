"""``/api/v1/projects/{id}/approval-matrix``: read and (DAO multisig only) replace a project's approval matrix."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from payor.api.schemas import MoneyIn, MoneyOut, Problem
from payor.approvals import services
from payor.approvals.matrix import MAX_BANDS, BandSpec, StageSpec
from payor.approvals.models import ApprovalBand, ApprovalMatrix
from payor.projects import selectors as project_selectors

router = Router(tags=["approval matrix"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}


class StageIn(Schema):
    """A stage: ``signers_required`` distinct holders of ``role`` must approve (of ``signers_of`` signers)."""

    role: str = Field(examples=["DAO_MULTISIG"], max_length=32)
    signers_required: int = Field(default=1, examples=[2])
    signers_of: int | None = Field(default=None, examples=[3], description="Defaults to signers_required")


class StageOut(Schema):
    role: str
    signers_required: int
    signers_of: int


class BandIn(Schema):
    lower: MoneyIn = Field(description="Exclusive lower bound: 0 for the first band, the previous band's upper after")
    upper: MoneyIn | None = Field(description="Inclusive upper bound; null for the last band only")
    stages: list[StageIn] = Field(max_length=10)


class ApprovalMatrixIn(Schema):
    version: int = Field(description="The version you read: a newer one on the server is a 409")
    bands: list[BandIn] = Field(max_length=MAX_BANDS)


class BandOut(Schema):
    position: int
    lower: MoneyOut
    upper: MoneyOut | None
    stages: list[StageOut]

    @staticmethod
    def resolve_lower(band: ApprovalBand) -> MoneyOut:
        return MoneyOut.of(band.lower)

    @staticmethod
    def resolve_upper(band: ApprovalBand) -> MoneyOut | None:
        return None if band.upper is None else MoneyOut.of(band.upper)


class ApprovalMatrixOut(Schema):
    """Bands cover ``lower < amount <= upper``; each band's stages approve in order."""

    project_id: UUID
    currency: str
    version: int
    updated_at: dt.datetime
    updated_by_id: UUID | None
    bands: list[BandOut]

    @staticmethod
    def resolve_bands(matrix: ApprovalMatrix) -> list[ApprovalBand]:
        return list(matrix.bands.all())


@router.get(
    "/projects/{project_id}/approval-matrix",
    response={200: ApprovalMatrixOut, **ERRORS},
    summary="The project's approval matrix (the seed's defaults until changed)",
)
def get_approval_matrix(request: HttpRequest, project_id: UUID) -> ApprovalMatrix:
    project = project_selectors.project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    return services.approval_matrix_get(viewer=request.user, project=project)  # type: ignore[arg-type]


@router.put(
    "/projects/{project_id}/approval-matrix",
    response={200: ApprovalMatrixOut, **ERRORS},
    summary="Replace the project's approval bands (DAO multisig only; send the version you read)",
)
def put_approval_matrix(request: HttpRequest, project_id: UUID, payload: ApprovalMatrixIn) -> ApprovalMatrix:
    project = project_selectors.project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    bands = [
        BandSpec(
            lower=band.lower.money(),
            upper=None if band.upper is None else band.upper.money(),
            stages=[StageSpec(**stage.model_dump()) for stage in band.stages],
        )
        for band in payload.bands
    ]
    return services.approval_matrix_update(
        actor=request.user,  # type: ignore[arg-type]
        project=project,
        version=payload.version,
        bands=bands,
        request=request,
    )
