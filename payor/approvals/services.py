"""Writes of approval matrices: materialise the defaults, and the audited, versioned update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from payor import audit
from payor.accounts.models import User
from payor.approvals.errors import ApprovalMatrixVersionConflict
from payor.approvals.matrix import BandSpec, MatrixDocument, default_document, document_validate
from payor.approvals.models import ApprovalBand, ApprovalMatrix
from payor.approvals.selectors import INITIAL_VERSION
from payor.projects.models import Project
from payor.rbac.permissions import Perm, require_permission


def _snapshot(version: int, document: MatrixDocument) -> dict[str, Any]:
    """What the audit log records as ``before``/``after``: the version and the JSON form of the matrix."""
    return {"version": version, **document.as_json()}


def _bands_write(matrix: ApprovalMatrix, document: MatrixDocument) -> None:
    ApprovalBand.objects.bulk_create(
        [
            ApprovalBand(
                matrix=matrix,
                position=position,
                currency=document.currency,
                lower=band.lower,
                upper=band.upper,
                stages=[stage.as_json() for stage in band.stages],
            )
            for position, band in enumerate(document.bands, start=1)
        ]
    )


def approval_matrix_ensure(*, project: Project) -> ApprovalMatrix:
    """The project's matrix, stored with the seed's defaults (version 1) the first time it is needed.

    Storing the defaults is not audited: they are what applied to the project
    all along (:func:`payor.approvals.selectors.approval_matrix_current` reads
    them for a project without a stored matrix), and the first
    ``approval_matrix.updated`` event records them as its ``before``. Safe
    under concurrency: the one-matrix-per-project constraint lets one creator
    win and the others read its row.
    """
    matrix = ApprovalMatrix.objects.filter(project=project).first()
    if matrix is not None:
        return matrix
    with transaction.atomic():
        matrix, created = ApprovalMatrix.objects.get_or_create(
            project=project, defaults={"currency": project.currency, "version": INITIAL_VERSION}
        )
        if created:
            _bands_write(matrix, default_document(project.currency))
    return matrix


def approval_matrix_get(*, viewer: User, project: Project) -> ApprovalMatrix:
    """The project's matrix with its bands, for a viewer holding ``approval_matrix.view`` on the project."""
    require_permission(viewer, Perm.APPROVAL_MATRIX_VIEW, project=project)
    matrix = approval_matrix_ensure(project=project)
    return ApprovalMatrix.objects.prefetch_related("bands").get(pk=matrix.pk)


def approval_matrix_update(
    *,
    actor: User,
    project: Project,
    version: int,
    bands: Sequence[BandSpec],
    request: HttpRequest | None = None,
) -> ApprovalMatrix:
    """Replace the project's bands, if ``version`` is still the current one; DAO multisig only.

    One transaction: check the permission (``approval_matrix.update``), lock
    the matrix row, compare versions (``approval_matrix_version_conflict``,
    409), validate (:func:`payor.approvals.matrix.document_validate`, 422s),
    replace the bands, bump the version and record ``approval_matrix.updated``
    with the old and new matrices, last. Sending the current matrix unchanged
    is a no-op: no new version, no audit event.
    """
    require_permission(actor, Perm.APPROVAL_MATRIX_UPDATE, project=project)
    with transaction.atomic():
        approval_matrix_ensure(project=project)
        matrix = ApprovalMatrix.objects.select_for_update().get(project=project)
        if version != matrix.version:
            raise ApprovalMatrixVersionConflict(
                f"you sent version {version} but the matrix is at version {matrix.version}",
                current_version=matrix.version,
            )
        document = document_validate(currency=project.currency, bands=bands)
        current = matrix.document()
        if document == current:
            return ApprovalMatrix.objects.prefetch_related("bands").get(pk=matrix.pk)
        before = _snapshot(matrix.version, current)
        matrix.bands.all().delete()
        matrix.currency = project.currency
        matrix.version += 1
        matrix.updated_by = actor
        matrix.save(update_fields=["currency", "version", "updated_by", "updated_at"])
        _bands_write(matrix, document)
        audit.record(
            actor,
            "approval_matrix.updated",
            matrix,
            before=before,
            after=_snapshot(matrix.version, document),
            project=project,
            request=request,
        )
    return ApprovalMatrix.objects.prefetch_related("bands").get(pk=matrix.pk)
