"""Reads of approval matrices (no writes: a project without a stored matrix reads as the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from payor.approvals.matrix import MatrixDocument, default_document
from payor.approvals.models import ApprovalMatrix
from payor.projects.models import Project

#: The version a project's matrix has before anyone changes it (the defaults, stored or not).
INITIAL_VERSION = 1


@dataclass(frozen=True, slots=True)
class CurrentMatrix:
    """The matrix that applies to a project now, and its version."""

    version: int
    document: MatrixDocument


def approval_matrix_current(*, project: Project) -> CurrentMatrix:
    """The project's stored matrix, or the seed's defaults in the project currency (version 1) if none is stored.

    Reads only (one or two queries) and takes no lock: callers that must not
    race a matrix change lock what they need themselves.
    """
    matrix = ApprovalMatrix.objects.filter(project=project).prefetch_related("bands").first()
    if matrix is None:
        return CurrentMatrix(version=INITIAL_VERSION, document=default_document(project.currency))
    return CurrentMatrix(version=matrix.version, document=matrix.document())
