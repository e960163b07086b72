"""Who reads disbursements: payment.view_all on the project, or the vendor's own users; nobody else."""

from __future__ import annotations

import pytest
from django.utils import timezone

from payor.core.errors import PermissionDenied
from payor.payments.errors import DisbursementNotFound
from payor.payments.selectors import disbursement_get_visible, disbursement_list
from payor.payments.services import disbursement_schedule
from payor.payments.tests.conftest import approved
from payor.rbac.errors import ProjectNotFound
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_disbursements_are_read_by_finance_and_their_own_vendor(billing):
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    project = billing.world.project
    other_vendor_user = UserFactory(email="other@vendor.example.test")
    ProjectRoleFactory(project=project, user=other_vendor_user, role=ProjectRole.VENDOR)
    beneficiary = UserFactory(email="ben@example.test")
    ProjectRoleFactory(project=project, user=beneficiary, role=ProjectRole.BENEFICIARY)
    outsider = UserFactory(email="outsider@example.test")

    for reader in (billing.people["pm"], billing.people["fin"], billing.people["tre"], billing.vendor_user):
        assert disbursement_get_visible(viewer=reader, disbursement_id=disbursement.pk) == disbursement
        assert list(disbursement_list(viewer=reader, project_id=project.pk)) == [disbursement]
    assert list(disbursement_list(viewer=billing.people["fin"], invoice_id=invoice.pk, status="scheduled")) == [
        disbursement
    ]
    assert list(disbursement_list(viewer=billing.people["fin"], status="executed")) == []

    # Another vendor's user sees the project but not this payment, nor that it exists; the list is empty for them.
    with pytest.raises(DisbursementNotFound):
        disbursement_get_visible(viewer=other_vendor_user, disbursement_id=disbursement.pk)
    assert list(disbursement_list(viewer=other_vendor_user, project_id=project.pk)) == []
    # A project role without payment access is told so.
    with pytest.raises(PermissionDenied):
        disbursement_get_visible(viewer=beneficiary, disbursement_id=disbursement.pk)
    with pytest.raises(PermissionDenied):
        disbursement_list(viewer=beneficiary, project_id=project.pk)
    # Someone who cannot see the project learns nothing.
    with pytest.raises(DisbursementNotFound):
        disbursement_get_visible(viewer=outsider, disbursement_id=disbursement.pk)
    with pytest.raises(ProjectNotFound):
        disbursement_list(viewer=outsider, project_id=project.pk)
    assert list(disbursement_list(viewer=outsider)) == []
    with pytest.raises(DisbursementNotFound):
        disbursement_get_visible(viewer=billing.people["fin"], disbursement_id="not-a-uuid")
