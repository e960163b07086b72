"""Races over real parallel database connections: a double acceptance, two reviewers approving one
submission, two submissions for one milestone."""

from __future__ import annotations

import pytest

from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.contracts.models import Contract, Milestone, Submission, SubmissionFile, WorkRequest
from payor.contracts.services import submission_review, work_request_accept
from payor.core.errors import DomainError
from payor.events.models import OutboxEvent
from payor.invoices.models import Invoice
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer
from payor.rbac.roles import ProjectRole
from payor.testing.concurrency import race
from payor.testing.factories import ProjectRoleFactory, UserFactory
from payor.testing.milestones import pdf_upload, usd

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.database_facing]


def unexpected(results: list[object]) -> list[object]:
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]


def test_double_accept_makes_one_contract_and_one_commit(flow):
    second = UserFactory(email="lead@willow.test")
    ProjectRoleFactory(project=flow.world.project, user=second, role=ProjectRole.VENDOR, vendor=flow.vendor)
    sent = flow.sent()
    results = race(
        [
            lambda who=who: work_request_accept(
                actor=who, work_request=WorkRequest.objects.get(pk=sent.pk), terms_sha256=sent.terms_sha256
            )
            for who in (flow.contractor, second)
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Contract.objects.count() == 1
    assert {r.contract_id for r in results} == {Contract.objects.get().pk}  # type: ignore[union-attr]
    assert Transfer.objects.filter(code="COMMIT").count() == 2  # one per budget line, once
    assert ledger_selectors.project_summary(project_id=flow.world.project.pk)["USD"].committed == usd("39845.68")
    assert AuditEvent.objects.filter(action="work_request.accepted").count() == 1
    assert OutboxEvent.objects.filter(topic="work_request.accepted").count() == 1
    assert audit_verify().ok


def test_two_reviewers_approving_one_submission_make_one_invoice(flow):
    accepted = flow.accepted()
    submission = flow.submit(accepted.milestones.get(position=2))
    results = race(
        [
            lambda who=who: submission_review(
                actor=who, submission=Submission.objects.get(pk=submission.pk), decision="approved"
            )
            for who in (flow.world.people["pm"], flow.world.people["pm2"])
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Invoice.objects.count() == 1
    invoice = Invoice.objects.get()
    assert Milestone.objects.get(position=2).invoice_id == invoice.pk
    assert Transfer.objects.filter(code="ENCUMBER").count() == 1
    assert ledger_selectors.project_summary(project_id=flow.world.project.pk)["USD"].encumbered == usd("20000.00")
    approver = Submission.objects.get(pk=submission.pk).approver_id
    assert approver in {flow.world.people["pm"].pk, flow.world.people["pm2"].pk}
    assert OutboxEvent.objects.filter(topic="milestone.approved").count() == 1


def test_two_submissions_racing_for_one_milestone_leave_one_open(media, flow):
    from payor.contracts.services import submission_create

    accepted = flow.accepted()
    milestone = accepted.milestones.get(position=1)
    results = race(
        [
            lambda i=i: submission_create(
                actor=flow.contractor,
                milestone=Milestone.objects.get(pk=milestone.pk),
                note=f"attempt {i}",
                files=[pdf_upload(f"r{i}.pdf", str(i))],
            )
            for i in range(2)
        ]
    )
    assert not unexpected(results), results
    assert sorted(r.code for r in results if isinstance(r, DomainError)) == ["milestone_state_invalid"]
    assert Submission.objects.filter(milestone=milestone).count() == 1
    # The loser's stored file was deleted again: only the winner's is on disk.
    stored = sorted(p.name for p in (media / "submissions").rglob("*") if p.is_file())
    assert stored == sorted(f.file.name.rsplit("/", 1)[-1] for f in SubmissionFile.objects.all())
    assert len(stored) == 1
