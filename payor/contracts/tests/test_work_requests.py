"""The milestone flow (seed 000) through its services: a worked example with exact ledger figures, the state
machine's refusals (each with its code, nothing written), the terms hash, EIP-712 acceptance, funds, expiry,
revisions and review conflicts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_typed_data

from payor.accounts.models import Wallet
from payor.approvals.models import ApprovalDecision
from payor.audit.models import AuditEvent
from payor.contracts.models import (
    Contract,
    ContractAllocation,
    Milestone,
    MilestoneStatus,
    Submission,
    SubmissionFile,
    WorkRequest,
    WorkRequestStatus,
)
from payor.contracts.services import (
    MilestoneIn,
    acceptance_typed_data,
    submission_review,
    work_request_accept,
    work_request_create,
    work_request_decline,
    work_request_send,
    work_request_update,
    work_request_withdraw,
    work_requests_expire,
)
from payor.contracts.tests.conftest import CHAIN, DAO, FIN, PM, TREAS, usd
from payor.core.errors import DomainError
from payor.core.money import Money
from payor.events.models import OutboxEvent
from payor.invoices.models import Invoice, InvoiceCoding, InvoiceKind, InvoiceLine, InvoiceStatus
from payor.invoices.services import invoice_decide
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer
from payor.notifications.models import Notification
from payor.notifications.tasks import send_notification_email
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, VendorFactory, VendorUserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.database_facing]

__all__ = ["DAO"]


def figures(flow):
    return ledger_selectors.project_summary(project_id=flow.world.project.pk)["USD"]


def state() -> tuple[object, ...]:
    """Everything a refused step must leave untouched."""
    return (
        list(
            WorkRequest.objects.order_by("id").values_list(
                "id", "status", "terms_sha256", "accepted_at", "contract_id", "signer_address", "ended_at"
            )
        ),
        list(Milestone.objects.order_by("id").values_list("id", "status", "invoice_id", "amount")),
        list(Submission.objects.order_by("id").values_list("id", "approval_status", "approver_id", "review_note")),
        SubmissionFile.objects.count(),
        Contract.objects.count(),
        ContractAllocation.objects.count(),
        Invoice.objects.count(),
        Transfer.objects.count(),
        OutboxEvent.objects.count(),
        AuditEvent.objects.count(),
        Notification.objects.count(),
    )


def refused(code: str, call, *args, **kwargs) -> DomainError:
    before = state()
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, (info.value.code, info.value.detail)
    assert state() == before
    return info.value


# --------------------------------------------------------------------------------------------------------------
# The worked example
# --------------------------------------------------------------------------------------------------------------


def test_worked_example_accept_commits_approve_encumbers_invoice_retains_to_the_cent(
    flow, django_capture_on_commit_callbacks
):
    world = flow.world
    start = figures(flow)
    assert (start.available, start.committed) == (usd("150000.00"), usd("0.00"))

    draft = flow.draft()
    assert (draft.number, draft.status, draft.terms_sha256) == ("WR-0001", "draft", "")
    assert figures(flow) == start  # drafting commits nothing

    sent = work_request_send(actor=flow.pm, work_request=draft)
    assert sent.status == WorkRequestStatus.SENT
    # The frozen terms: canonical JSON (sorted keys, no whitespace), amounts in minor units, and their SHA-256.
    assert hashlib.sha256(sent.terms_json.encode()).hexdigest() == sent.terms_sha256
    terms = json.loads(sent.terms_json)
    assert json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == sent.terms_json
    assert terms["total"] == {"minor": 3984568, "currency": "USD"}
    assert terms["payment_terms"] == {
        "kind": "net_days",
        "net_days": 7,
        "discount_percent": None,
        "discount_days": None,
        "label": "Net 7",
    }
    assert terms["retention_percent"] == "5.00"
    assert [
        (m["position"], m["amount"]["minor"], m["budget_line"]["wbs_code"], m["due_date"]) for m in terms["milestones"]
    ] == [
        (1, 1234567, "1.1", "2026-12-01"),
        (2, 2000000, "1.1", "2026-12-31"),
        (3, 750001, "1.2", "2027-01-30"),
    ]
    assert terms["contractor"] == {"vendor_id": str(flow.vendor.pk), "name": "Willow Creek Restoration"}
    assert figures(flow) == start  # sending commits nothing either

    accepted = work_request_accept(actor=flow.contractor, work_request=sent, terms_sha256=sent.terms_sha256)
    assert accepted.status == WorkRequestStatus.ACCEPTED
    assert accepted.accepted_by == flow.contractor
    assert accepted.accepted_at is not None
    assert (accepted.signature, accepted.signer_address) == ("", "")
    contract = Contract.objects.get(pk=accepted.contract_id)
    assert (contract.status, contract.vendor_id, contract.number) == ("executed", flow.vendor.pk, "PO-0001")
    assert contract.not_to_exceed == usd("39845.68")
    assert contract.retention_percent == Decimal("5.00")
    assert (contract.terms_kind, contract.net_days) == ("net_days", 7)
    assert contract.executed_by == flow.pm  # on behalf of the PM who sent the offer
    assert {a.budget_line.wbs_code: a.amount for a in contract.allocations.select_related("budget_line")} == {
        "1.1": usd("32345.67"),
        "1.2": usd("7500.01"),
    }
    # COMMIT: exactly the milestone sum per budget line.
    after_accept = figures(flow)
    assert after_accept.available == usd("110154.32")
    assert after_accept.committed == usd("39845.68")
    assert ledger_selectors.contract_committed_by_line(contract_id=contract.pk) == {
        world.lines["1.1"].pk: usd("32345.67"),
        world.lines["1.2"].pk: usd("7500.01"),
    }
    commits = Transfer.objects.filter(code="COMMIT")
    assert sorted(t.amount for t in commits) == [750001, 3234567]

    milestone = flow.milestone(accepted, 1)
    submission = flow.submit(milestone, files=2)
    assert (submission.attempt, submission.approval_status) == (1, "submitted")
    assert submission.files.count() == 2
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.SUBMITTED
    assert figures(flow) == after_accept  # submitting deliverables moves no money

    reviewed = submission_review(actor=flow.pm, submission=submission, decision="approved")
    assert reviewed.approval_status == "approved"
    assert reviewed.approver == flow.pm
    assert reviewed.approved_at is not None
    assert reviewed.approved_at == reviewed.reviewed_at
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.APPROVED
    invoice = Invoice.objects.get(pk=milestone.invoice_id)
    assert invoice.kind == InvoiceKind.SELF_BILLED
    assert invoice.status == InvoiceStatus.SUBMITTED
    assert invoice.submitted_by == flow.contractor  # the deliverable's submitter (matrix: submitter != approver)
    assert invoice.created_by == flow.pm
    assert invoice.contract_id == contract.pk
    # 12,345.67 at 5 %: retention 617.28 (617.2835 rounded), net 11,728.39.
    assert (invoice.subtotal, invoice.taxes, invoice.total) == (usd("12345.67"), usd("0.00"), usd("12345.67"))
    assert (invoice.retention, invoice.withholds, invoice.net_payable) == (
        usd("617.28"),
        usd("0.00"),
        usd("11728.39"),
    )
    line = InvoiceLine.objects.get(invoice=invoice)
    assert (line.item_code, line.description, line.scheduled_value, line.this_period, line.percent_complete) == (
        "M1",
        "Site preparation",
        usd("12345.67"),
        usd("12345.67"),
        Decimal("100.00"),
    )
    coding = InvoiceCoding.objects.get(invoice=invoice)
    assert (coding.budget_line_id, coding.gross, coding.retention) == (
        world.lines["1.1"].pk,
        usd("12345.67"),
        usd("617.28"),
    )
    # ENCUMBER: the milestone's amount moves from committed to encumbered on its line.
    after_approval = figures(flow)
    assert after_approval.available == usd("110154.32")
    assert after_approval.committed == usd("27500.01")
    assert after_approval.encumbered == usd("12345.67")
    assert ledger_selectors.contract_committed_by_line(contract_id=contract.pk)[world.lines["1.1"].pk] == usd(
        "20000.00"
    )

    # The invoice follows the matrix: 12,345.67 is band 2 (PM, finance, treasurer).
    for name, role in (("pm2", PM), ("fin", FIN), ("tre", TREAS)):
        invoice = invoice_decide(actor=world.people[name], invoice=invoice, role=role, decision="approved")
    assert invoice.status == InvoiceStatus.APPROVED
    assert invoice.due_on == timezone.localdate(invoice.approved_at) + dt.timedelta(days=7)
    final = figures(flow)
    assert (final.encumbered, final.retention) == (usd("11728.39"), usd("617.28"))
    assert (
        final.funded
        == final.available + final.committed + final.encumbered + final.retention + final.withheld + final.disbursed
    )

    topics = list(OutboxEvent.objects.order_by("id").values_list("topic", flat=True))
    for topic in (
        "work_request.sent",
        "work_request.accepted",
        "contract.executed",
        "milestone.submitted",
        "milestone.approved",
        "invoice.submitted",
        "invoice.approved",
    ):
        assert topic in topics, topic
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "work_request.created",
        "work_request.sent",
        "work_request.accepted",
        "milestone.submitted",
        "milestone.approved",
        "invoice.created",
        "invoice.submitted",
    } <= actions


def test_sending_notifies_the_contractor_users_in_the_inbox_and_by_email(flow):
    second = VendorUserFactory(vendor=flow.vendor).user
    ProjectRoleFactory(project=flow.world.project, user=second, role=ProjectRole.VENDOR, vendor=flow.vendor)
    work_request = flow.sent()
    inbox = Notification.objects.filter(kind="work_request.sent").order_by("recipient__email")
    assert sorted(n.recipient_id for n in inbox) == sorted([flow.contractor.pk, second.pk])
    first = inbox.get(recipient=flow.contractor)
    assert first.title == "Work request WR-0001: Riparian planting, plot A"
    assert first.link == f"/work-requests/{work_request.pk}"
    assert "39845.68 USD" in first.body
    assert "net 7" in first.body
    # The mail goes out through the job deferred in the sending transaction.
    assert mail.outbox == []
    assert send_notification_email(notification_id=str(first.pk)) is True
    assert send_notification_email(notification_id=str(first.pk)) is False  # at most once
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [flow.contractor.email]
    assert mail.outbox[0].subject == first.title
    assert f"/work-requests/{work_request.pk}" in mail.outbox[0].body
    # The other contractor hears nothing.
    assert not Notification.objects.filter(recipient=flow.other_contractor).exists()


# --------------------------------------------------------------------------------------------------------------
# State machine and refusals
# --------------------------------------------------------------------------------------------------------------


def test_state_machine_refusals_write_nothing(flow):
    draft = flow.draft()
    refused(
        "work_request_state_invalid",
        work_request_accept,
        actor=flow.contractor,
        work_request=draft,
        terms_sha256="0" * 64,
    )
    refused("work_request_state_invalid", work_request_withdraw, actor=flow.pm, work_request=draft)
    refused("work_request_state_invalid", work_request_decline, actor=flow.contractor, work_request=draft)
    sent = work_request_send(actor=flow.pm, work_request=draft)
    assert work_request_send(actor=flow.pm, work_request=sent).terms_sha256 == sent.terms_sha256  # no-op
    refused(
        "work_request_state_invalid",
        work_request_update,
        actor=flow.pm,
        work_request=sent,
        title="x",
        milestones=flow.milestones(),
    )
    # Submitting for a request that is not accepted.
    refused("work_request_state_invalid", flow.submit, flow.milestone(sent))
    # The contractor cannot send or withdraw; the PM cannot accept or decline.
    refused("permission_denied", work_request_withdraw, actor=flow.contractor, work_request=sent)
    refused("permission_denied", work_request_accept, actor=flow.pm, work_request=sent, terms_sha256=sent.terms_sha256)
    refused("permission_denied", work_request_decline, actor=flow.other_contractor, work_request=sent)
    declined = work_request_decline(actor=flow.contractor, work_request=sent, reason="Fully booked")
    assert (declined.status, declined.end_reason, declined.ended_by) == ("declined", "Fully booked", flow.contractor)
    assert work_request_decline(actor=flow.contractor, work_request=sent).status == "declined"  # no-op
    refused(
        "work_request_state_invalid",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
    )
    refused("work_request_state_invalid", work_request_withdraw, actor=flow.pm, work_request=sent)

    other = flow.sent()
    withdrawn = work_request_withdraw(actor=flow.pm, work_request=other, reason="Scope changed")
    assert withdrawn.status == "withdrawn"
    assert Notification.objects.filter(kind="work_request.withdrawn", recipient=flow.contractor).count() == 1
    refused(
        "work_request_state_invalid",
        work_request_accept,
        actor=flow.contractor,
        work_request=other,
        terms_sha256=other.terms_sha256,
    )


def test_drafting_refusals(flow):
    world = flow.world
    bad_currency = [MilestoneIn(title="x", amount=Money.parse("10.00", "EUR"), budget_line_id=world.lines["1.1"].pk)]

    def create(**overrides):
        fields = {
            "actor": flow.pm,
            "project": world.project,
            "vendor": flow.vendor,
            "title": "T",
            "milestones": flow.milestones(),
        }
        return work_request_create(**(fields | overrides))

    refused("permission_denied", create, actor=flow.contractor)
    refused("contract_currency_mismatch", create, milestones=bad_currency)
    refused("work_request_invalid", create, milestones=[])
    refused(
        "work_request_invalid",
        create,
        milestones=[MilestoneIn(title="x", amount=usd("0.00"), budget_line_id=world.lines["1.1"].pk)],
    )
    refused(
        "budget_line_not_leaf",
        create,
        milestones=[MilestoneIn(title="x", amount=usd("1.00"), budget_line_id=world.lines["1"].pk)],
    )
    refused("work_request_invalid", create, title="  ")
    refused("work_request_invalid", create, expires_at=timezone.now() - dt.timedelta(minutes=1))
    refused("work_request_invalid", create, retention_percent="100.001")
    unlinked = VendorFactory(organization=world.project.organization)
    refused("work_request_contractor_invalid", create, vendor=unlinked)
    elsewhere = VendorFactory()
    refused("work_request_contractor_invalid", create, vendor=elsewhere)


def test_terms_hash_mismatch_is_refused_and_nothing_written(flow):
    sent = flow.sent()
    refused(
        "work_request_terms_mismatch",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256="f" * 64,
    )
    refused(
        "work_request_terms_mismatch",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256="not a hash at all, but sixty-four characters long......................",
    )
    # Upper case and a 0x prefix are the same hash.
    accepted = work_request_accept(
        actor=flow.contractor, work_request=sent, terms_sha256="0x" + sent.terms_sha256.upper()
    )
    assert accepted.status == "accepted"
    again = work_request_accept(actor=flow.contractor, work_request=sent, terms_sha256=sent.terms_sha256)
    assert again.contract_id == accepted.contract_id  # accepting again is a no-op
    assert Contract.objects.count() == 1


def test_eip712_signed_acceptance_with_a_linked_wallet(flow):
    key = Account.create()
    Wallet.objects.create(user=flow.contractor, address=key.address, chain_id=CHAIN, linked_at=timezone.now())
    stranger = Account.create()
    sent = flow.sent()
    typed = acceptance_typed_data(work_request=sent, chain_id=CHAIN)
    assert typed["message"]["termsSha256"] == "0x" + sent.terms_sha256
    assert typed["message"]["totalMinor"] == 3984568
    signature = "0x" + key.sign_message(encode_typed_data(full_message=typed)).signature.hex()
    wrong = "0x" + stranger.sign_message(encode_typed_data(full_message=typed)).signature.hex()
    refused(
        "approval_signer_not_linked",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
        signature=wrong,
        chain_id=CHAIN,
    )
    refused(
        "approval_signature_invalid",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
        signature="0x1234",
        chain_id=CHAIN,
    )
    refused(
        "work_request_invalid",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
        signature=signature,
        chain_id=None,
    )
    # A signature over other terms (another chain id) does not verify as this wallet's.
    other_chain = acceptance_typed_data(work_request=sent, chain_id=10)
    other_sig = "0x" + key.sign_message(encode_typed_data(full_message=other_chain)).signature.hex()
    refused(
        "approval_signer_not_linked",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
        signature=other_sig,
        chain_id=CHAIN,
    )
    accepted = work_request_accept(
        actor=flow.contractor, work_request=sent, terms_sha256=sent.terms_sha256, signature=signature, chain_id=CHAIN
    )
    assert accepted.signer_address == key.address
    assert (accepted.signature, accepted.chain_id) == (signature, CHAIN)


def test_insufficient_funds_on_accept_writes_nothing(flow):
    sent = flow.sent(("Big plot", "100000.00", "1.1"), ("Long monitoring", "50000.01", "1.2"))
    error = refused(
        "insufficient_funds",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
    )
    assert error.status == 409
    sent.refresh_from_db()
    assert (sent.status, sent.contract_id) == ("sent", None)
    assert figures(flow).available == usd("150000.00")


def test_budget_cap_exceeded_on_accept_writes_nothing(flow):
    sent = flow.sent(("Monitoring, ten years", "80000.01", "1.2"))
    refused(
        "budget_cap_exceeded",
        work_request_accept,
        actor=flow.contractor,
        work_request=sent,
        terms_sha256=sent.terms_sha256,
    )


def test_expired_request_becomes_expired_on_accept_and_by_the_job(flow):
    soon = timezone.now() + dt.timedelta(hours=1)
    late = flow.sent(expires_at=soon)
    WorkRequest.objects.filter(pk=late.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(DomainError) as info:
        work_request_accept(actor=flow.contractor, work_request=late, terms_sha256=late.terms_sha256)
    assert info.value.code == "work_request_expired"
    late.refresh_from_db()
    assert (late.status, late.contract_id) == ("expired", None)
    assert Contract.objects.count() == 0
    assert OutboxEvent.objects.filter(topic="work_request.expired").count() == 1

    pending = flow.sent(expires_at=soon)
    fresh = flow.sent(expires_at=soon + dt.timedelta(days=1))
    assert work_requests_expire(now=soon + dt.timedelta(seconds=1)) == 1
    assert work_requests_expire(now=soon + dt.timedelta(seconds=1)) == 0
    pending.refresh_from_db()
    fresh.refresh_from_db()
    assert (pending.status, fresh.status) == ("expired", "sent")
    assert Notification.objects.filter(kind="work_request.expired", recipient=flow.pm).count() == 2


# --------------------------------------------------------------------------------------------------------------
# Submissions and review
# --------------------------------------------------------------------------------------------------------------


def test_revision_then_resubmission_then_approval(flow):
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 3)
    first = flow.submit(milestone, note="Draft report")
    refused("milestone_state_invalid", flow.submit, milestone)  # one open submission per milestone
    refused("submission_invalid", submission_review, actor=flow.pm, submission=first, decision="revision_requested")
    refused("submission_invalid", submission_review, actor=flow.pm, submission=first, decision="maybe")
    revised = submission_review(
        actor=flow.pm, submission=first, decision="revision_requested", note="Add the survey photos"
    )
    assert (revised.approval_status, revised.review_note, revised.reviewer, revised.approved_at) == (
        "revision_requested",
        "Add the survey photos",
        flow.pm,
        None,
    )
    milestone.refresh_from_db()
    assert milestone.status == "revision_requested"
    assert Invoice.objects.count() == 0
    assert Notification.objects.filter(kind="milestone.revision_requested", recipient=flow.contractor).count() == 1
    refused("submission_state_invalid", submission_review, actor=flow.pm, submission=first, decision="approved")
    second = flow.submit(milestone, note="With photos", files=1)
    assert second.attempt == 2
    approved = flow.approve(second)
    assert approved.approval_status == "approved"
    milestone.refresh_from_db()
    assert milestone.status == "approved"
    assert milestone.invoice.total == usd("7500.01")
    assert milestone.invoice.retention == usd("375.00")  # 375.0005 rounded
    refused("milestone_state_invalid", flow.submit, milestone)
    assert flow.approve(second).approval_status == "approved"  # approving again is a no-op
    assert Invoice.objects.count() == 1


def test_review_conflicts(flow):
    accepted = flow.accepted()
    submission = flow.submit(flow.milestone(accepted))
    # A contractor never reviews (no submission.review).
    refused("permission_denied", submission_review, actor=flow.contractor, submission=submission, decision="approved")
    refused(
        "permission_denied",
        submission_review,
        actor=flow.world.people["fin"],
        submission=submission,
        decision="approved",
    )
    # A PM linked to the contractor is in conflict.
    linked_pm = flow.world.people["pm2"]
    VendorUserFactory(vendor=flow.vendor, user=linked_pm)
    refused("approval_vendor_conflict", submission_review, actor=linked_pm, submission=submission, decision="approved")
    # The submitter cannot review their own deliverable even if they also hold the PM role.
    ProjectRoleFactory(project=flow.world.project, user=flow.contractor, role=PM)
    refused(
        "approval_submitter_cannot_approve",
        submission_review,
        actor=flow.contractor,
        submission=submission,
        decision="approved",
    )


def test_approval_refused_when_the_contractor_is_not_compliant_writes_nothing(flow):
    accepted = flow.accepted()
    submission = flow.submit(flow.milestone(accepted))
    type(flow.vendor).objects.filter(pk=flow.vendor.pk).update(kyc_status="pending")
    refused("vendor_kyc_not_passed", submission_review, actor=flow.pm, submission=submission, decision="approved")


def test_self_billed_invoice_submitter_cannot_approve_it_through_the_matrix(flow):
    accepted = flow.accepted()
    submission = flow.approve(flow.submit(flow.milestone(accepted)))
    invoice = submission.milestone.invoice
    ProjectRoleFactory(project=flow.world.project, user=flow.contractor, role=PM, limit=usd("1000000.00"))
    before = ApprovalDecision.objects.count()
    with pytest.raises(DomainError) as info:
        invoice_decide(actor=flow.contractor, invoice=invoice, role=PM, decision="approved")
    assert info.value.code == "approval_submitter_cannot_approve"
    assert ApprovalDecision.objects.count() == before


def test_a_returned_self_billed_invoice_is_resubmitted_unchanged_never_edited(flow):
    from payor.invoices.services import InvoiceInput, invoice_submit, invoice_update

    accepted = flow.accepted()
    invoice = flow.approve(flow.submit(flow.milestone(accepted))).milestone.invoice
    returned = invoice_decide(
        actor=flow.world.people["pm2"], invoice=invoice, role=PM, decision="returned", note="Wrong period"
    )
    assert (returned.status, returned.round) == ("draft", 2)
    assert figures(flow).encumbered == usd("0.00")
    data = InvoiceInput(period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31), lines=[], coding=[])
    refused("invoice_state_invalid", invoice_update, actor=flow.contractor, invoice=returned, data=data)
    again = invoice_submit(actor=flow.contractor, invoice=returned)
    assert (again.status, again.total, again.submitted_by) == ("submitted", usd("12345.67"), flow.contractor)
    assert figures(flow).encumbered == usd("12345.67")


def test_milestone_payment_status_follows_the_invoice_and_its_disbursement(flow):
    from payor.contracts.selectors import milestone_detail
    from payor.payments.services import disbursement_schedule

    world = flow.world
    accepted = flow.accepted(("Survey", "4000.00", "1.2"))
    milestone = flow.milestone(accepted)
    assert milestone_detail(viewer=flow.contractor, milestone_id=milestone.pk).payment.invoice_status is None
    invoice = flow.approve(flow.submit(milestone)).milestone.invoice
    for name, role in (("pm2", PM), ("fin", FIN)):  # band 1: PM and finance
        invoice = invoice_decide(actor=world.people[name], invoice=invoice, role=role, decision="approved")
    assert invoice.status == InvoiceStatus.APPROVED
    assert (invoice.retention, invoice.net_payable) == (usd("200.00"), usd("3800.00"))
    disbursement_schedule(
        actor=world.people["tre"], invoice=invoice, scheduled_on=timezone.localdate(), method="manual"
    )
    detail = milestone_detail(viewer=flow.contractor, milestone_id=milestone.pk)
    assert detail.internal is False
    assert (detail.payment.invoice_status, detail.payment.disbursement_status, detail.payment.amount) == (
        "scheduled",
        "scheduled",
        usd("3800.00"),
    )
    assert detail.payment.scheduled_on == timezone.localdate()
    with pytest.raises(DomainError) as info:
        milestone_detail(viewer=flow.other_contractor, milestone_id=milestone.pk)
    assert info.value.code == "milestone_not_found"


def test_the_expiry_job_is_registered_every_five_minutes():
    from procrastinate.contrib.django import app

    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["contracts.work_request.expire"].cron == "*/5 * * * *"


def test_a_rejected_self_billed_invoice_sends_the_milestone_back_for_another_submission(flow):
    world = flow.world
    accepted = flow.accepted()
    milestone = flow.milestone(accepted, 3)
    first = flow.approve(flow.submit(milestone))
    rejected_invoice = first.invoice
    assert first.milestone.invoice == rejected_invoice
    invoice_decide(actor=world.people["pm2"], invoice=rejected_invoice, role=PM, decision="approved")
    invoice_decide(
        actor=world.people["fin"], invoice=rejected_invoice, role=FIN, decision="rejected", note="COI lapsed"
    )
    milestone.refresh_from_db()
    first.refresh_from_db()
    assert (milestone.status, milestone.invoice_id) == ("revision_requested", None)
    assert (first.approval_status, first.invoice_id) == ("approved", rejected_invoice.pk)  # history kept
    assert figures(flow).encumbered == usd("0.00")  # RELEASE back to the commitment
    assert Notification.objects.filter(
        kind="milestone.revision_requested", recipient=flow.contractor, body__contains="COI lapsed"
    ).exists()
    assert AuditEvent.objects.filter(action="milestone.invoice_rejected").count() == 1
    # The contractor submits again; a new approval bills the milestone anew (the SOV item is free again).
    second = flow.approve(flow.submit(milestone, note="Second try"))
    assert second.attempt == 2
    milestone.refresh_from_db()
    assert milestone.status == "approved"
    assert milestone.invoice_id == second.invoice_id != rejected_invoice.pk
    assert (second.invoice.total, second.invoice.status) == (usd("7500.01"), "submitted")
    assert figures(flow).encumbered == usd("7500.01")
