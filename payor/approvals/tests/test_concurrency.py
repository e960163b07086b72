"""Races over real parallel database connections (one connection per thread)."""

from __future__ import annotations

import pytest

from payor.approvals.errors import ApprovalMatrixVersionConflict
from payor.approvals.models import ApprovalBand, ApprovalMatrix
from payor.approvals.services import approval_matrix_ensure, approval_matrix_update
from payor.approvals.tests.conftest import DAO, TREAS, band, stage
from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.testing.concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 8


def test_racing_first_reads_store_the_defaults_once(project):
    results = race([lambda: approval_matrix_ensure(project=project)] * WORKERS)
    assert all(isinstance(r, ApprovalMatrix) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert ApprovalMatrix.objects.count() == 1
    assert ApprovalBand.objects.count() == 3


@pytest.mark.parametrize("stored", [True, False], ids=["matrix stored", "defaults not yet stored"])
def test_racing_updates_from_one_version_make_exactly_one_new_version(project, grant, stored):
    dao = grant("dao@example.test", DAO)
    if stored:
        approval_matrix_ensure(project=project)
    events = AuditEvent.objects.count()
    proposals = [
        [band("0.00", f"{1000 * (i + 1)}.00", stage(TREAS)), band(f"{1000 * (i + 1)}.00", None, stage(DAO, 2, 3))]
        for i in range(WORKERS)
    ]
    results = race(
        [
            lambda bands=bands: approval_matrix_update(actor=dao, project=project, version=1, bands=bands)
            for bands in proposals
        ]
    )
    won = [r for r in results if isinstance(r, ApprovalMatrix)]
    lost = [r for r in results if isinstance(r, ApprovalMatrixVersionConflict)]
    assert (len(won), len(lost)) == (1, WORKERS - 1), results
    matrix = ApprovalMatrix.objects.get(project=project)
    assert matrix.version == 2
    assert ApprovalBand.objects.filter(matrix=matrix).count() == 2
    assert matrix.document() == won[0].document()
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.order_by("-seq").first().after["version"] == 2
    assert audit_verify().ok
