from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from payor.accounts.models import Membership, Organization, User
from payor.approvals.models import ApprovalDecision, ApprovalTarget
from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderStatus,
    Contract,
    ContractStatus,
    Milestone,
    MilestoneStatus,
    Submission,
    WorkRequest,
    WorkRequestStatus,
)
from payor.core.money import Money
from payor.demo.finance import DEMO_INVOICES, DEMO_VENDORS
from payor.demo.milestones import STRIPE_CONTRACTOR
from payor.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed
from payor.events.models import OutboxEvent
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceStatus
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer
from payor.ledger.verify import ledger_verify
from payor.notifications.models import Notification
from payor.payments.models import (
    ConnectedAccount,
    Disbursement,
    DisbursementStatus,
    PaymentAttempt,
    WebhookEvent,
)
from payor.payments.rail_services import _order
from payor.payments.rails.stripe import local_server
from payor.payments.rails.stripe.client import StripeConnectRail
from payor.projects.models import BudgetLine, FundingEvent, Project
from payor.projects.selectors import bucket_funded_total
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.roles import ProjectRole
from payor.receipts.models import Receipt
from payor.reporting.selectors import finance_alerts
from payor.vendors.compliance import vendor_compliance_status
from payor.vendors.models import Vendor, VendorDocument

pytestmark = pytest.mark.django_db

KLAMATH = "Klamath River Riparian Restoration"
WILLAMETTE = "Willamette Floodplain Reforestation"


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def stripe_state(settings, tmp_path) -> Path:
    """The seed's in-process local Stripe server keeps its state in a fresh file per test."""
    settings.STRIPE_LOCAL_STATE_FILE = tmp_path / "stripe-local.json"
    return settings.STRIPE_LOCAL_STATE_FILE


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Vendor documents and invoice attachments go to a fresh directory per test."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


def counts() -> tuple[int, ...]:
    return (
        Organization.objects.count(),
        User.objects.count(),
        Project.objects.count(),
        FundingEvent.objects.count(),
        BudgetLine.objects.count(),
        Vendor.objects.count(),
        VendorDocument.objects.count(),
        ProjectRoleAssignment.objects.count(),
        Contract.objects.count(),
        ChangeOrder.objects.count(),
        Invoice.objects.count(),
        InvoiceAttachment.objects.count(),
        ApprovalDecision.objects.count(),
        Disbursement.objects.count(),
        Transfer.objects.count(),
        AuditEvent.objects.count(),
        OutboxEvent.objects.count(),
        WorkRequest.objects.count(),
        Milestone.objects.count(),
        Submission.objects.count(),
        Notification.objects.count(),
        ConnectedAccount.objects.count(),
        PaymentAttempt.objects.count(),
        WebhookEvent.objects.count(),
        Receipt.objects.count(),
    )


def roles(item: object) -> list[tuple[str, str]]:
    """Who decided on an item (change order, invoice), at which stage, in order."""
    decisions = ApprovalDecision.objects.filter(target_id=item.pk).order_by("decided_at")  # type: ignore[attr-defined]
    return list(decisions.values_list("role", "approver__email"))


def test_seed_creates_users_for_every_role_and_a_funded_project():
    result = seed()
    assert {spec.role for spec, _ in result.users} >= {
        "Project manager",
        "Finance reviewer",
        "Treasurer",
        "DAO multisig signer",
        "Auditor (read-only)",
        "Beneficiary (read-only)",
        "Vendor / contractor",
        "Procurement",
        "Platform admin",
    }
    for spec in DEMO_USERS:
        assert User.objects.get(email=spec.email).check_password(DEMO_PASSWORD)
    klamath = Project.objects.get(name=KLAMATH)
    assert bucket_funded_total(bucket=klamath.buckets.get()) == Money.parse("1048500.00", "USD")


def test_the_demo_project_has_its_finance_data_in_every_invoice_status():
    result = seed()
    klamath = result.projects[0]
    assert klamath.name == KLAMATH

    # The vendors' users act for their vendor only, on this project, and are listed with the logins.
    listed = {spec.email for spec, _ in result.users}
    for vendor_spec in DEMO_VENDORS:
        assert vendor_spec.user_email in listed  # `payor demo` prints every user of result.users
        user = User.objects.get(email=vendor_spec.user_email)
        assignments = ProjectRoleAssignment.objects.filter(user=user, revoked_at__isnull=True)
        assert [(a.project_id, a.role, a.vendor.name) for a in assignments] == [
            (klamath.pk, ProjectRole.VENDOR, vendor_spec.name)
        ]
        assert not Membership.objects.filter(user=user).exists()  # a vendor's user is not a member of the DAO
    pm = User.objects.get(email="pm@orenna.test")
    for project in result.projects:
        assignment = ProjectRoleAssignment.objects.get(project=project, user=pm, role=ProjectRole.PROJECT_MANAGER)
        assert assignment.approval_limit == usd("100000.00")

    # The WBS: three top-level lines with their leaves, within the funding.
    lines = {line.wbs_code: line for line in BudgetLine.objects.filter(project=klamath)}
    assert sorted(lines) == ["1", "1.1", "1.2", "2", "2.1", "2.2", "2.3", "3", "3.1", "3.2"]
    assert lines["2.1"].description == "Nursery stock"
    roots = Money.sum((line.cap for line in lines.values() if line.parent_id is None), "USD")
    assert roots == usd("850000.00")

    # Four compliant vendors, onboarded by procurement and passed by the finance reviewer.
    today = timezone.localdate()
    finance = User.objects.get(email="finance@orenna.test")
    procurement = User.objects.get(email="procurement@orenna.test")
    for vendor_spec in DEMO_VENDORS:
        vendor = Vendor.objects.get(name=vendor_spec.name)
        assert vendor_compliance_status(vendor=vendor, on=today).ok
        assert vendor.bank_method == vendor_spec.bank_method
        assert (vendor.created_by, vendor.kyc_reviewed_by) == (procurement, finance)
        assert vendor.coi_expiry is not None
        if vendor_spec.coi_days is None:
            assert vendor.coi_expiry > today + dt.timedelta(days=365)
        else:  # the hydroseeding firm's cover runs out soon: the finance home's COI alert
            assert vendor.coi_expiry == today + dt.timedelta(days=21)

    # Contracts: NTE, retention and terms as agreed; CO-1 approved by PM, finance and treasurer, CO-2 pending.
    contracts = {c.title: c for c in Contract.objects.filter(project=klamath)}
    assert {(c.number, c.status, c.not_to_exceed, c.retention_percent, c.terms_label) for c in contracts.values()} == {
        ("PO-0001", ContractStatus.EXECUTED, usd("197000.00"), 10, "Net 30"),
        ("PO-0002", ContractStatus.EXECUTED, usd("88000.00"), 5, "2/10 net 30"),
        ("PO-0003", ContractStatus.EXECUTED, usd("42000.00"), 10, "On approval"),
        ("PO-0004", ContractStatus.EXECUTED, usd("6400.00"), 0, "On approval"),
        ("PO-0005", ContractStatus.EXECUTED, usd("74000.00"), 10, "Net 30"),
    }
    riverworks = contracts["Site preparation, bank grading and live staking"]
    assert riverworks.original_not_to_exceed == usd("185000.00")
    changes = list(ChangeOrder.objects.filter(contract=riverworks).order_by("number"))
    assert [(c.number, c.status, c.delta) for c in changes] == [
        (1, ChangeOrderStatus.APPROVED, usd("12000.00")),
        (2, ChangeOrderStatus.PENDING, usd("8500.00")),
    ]
    assert roles(changes[0]) == [
        ("PROJECT_MANAGER", "pm@orenna.test"),
        ("FINANCE_REVIEWER", "finance@orenna.test"),
        ("TREASURER", "treasurer@orenna.test"),
    ]
    assert roles(changes[1]) == [("PROJECT_MANAGER", "pm@orenna.test")]
    assert changes[0].requested_by.email == "sitelead@orenna.test"

    # Every invoice status, as the demo planned it.
    invoices = {invoice.vendor_reference: invoice for invoice in Invoice.objects.filter(project=klamath)}
    assert len(invoices) == len(DEMO_INVOICES)
    assert set(InvoiceStatus.values) <= {invoice.status for invoice in invoices.values()}
    for invoice in invoices.values():
        assert invoice.period_end < today
        assert invoice.attachments.count() == 1
    rejected = invoices["WCN-331"]
    assert rejected.status == InvoiceStatus.REJECTED
    assert rejected.rejection_reason.startswith("Delivery tickets DT-5512 and DT-5513")
    returned = invoices["CEM-1158"]
    assert (returned.status, returned.round) == (InvoiceStatus.DRAFT, 2)
    assert returned.return_note.startswith("Attach the lab's chain-of-custody forms")
    assert (invoices["CEM-1182"].status, invoices["CEM-1182"].round) == (InvoiceStatus.DRAFT, 1)
    assert invoices["RW-1070"].status == InvoiceStatus.UNDER_REVIEW
    assert invoices["WCN-347"].status == InvoiceStatus.SUBMITTED

    # Band 2 (10,000.01-50,000.00): PM, finance and treasurer.
    band_two = invoices["RW-1063"]
    assert (band_two.status, band_two.total) == (InvoiceStatus.APPROVED, usd("38650.00"))
    assert roles(band_two) == [
        ("PROJECT_MANAGER", "pm@orenna.test"),
        ("FINANCE_REVIEWER", "finance@orenna.test"),
        ("TREASURER", "treasurer@orenna.test"),
    ]
    assert ApprovalDecision.objects.filter(target_type=ApprovalTarget.INVOICE, target_id=band_two.pk).count() == 3

    # Taxes, withholding, fees, the nursery's 5 % retention and its early-pay discount, to the cent.
    nursery = invoices["WCN-318"]
    assert (nursery.subtotal, nursery.taxes, nursery.total) == (usd("27460.00"), usd("1848.75"), usd("29308.75"))
    assert (nursery.retention, nursery.early_pay_discount) == (usd("1373.00"), usd("521.74"))
    assert nursery.net_payable == usd("27414.01")
    withheld = invoices["CEM-1131"]
    assert (withheld.status, withheld.withholds, withheld.net_payable) == (
        InvoiceStatus.APPROVED,
        usd("672.00"),
        usd("7968.00"),
    )
    assert invoices["WCN-347"].fees == usd("35.00")

    # Payments: one scheduled for its due date, two paid (the nursery's with its discount), one closed.
    disbursements = {
        d.invoice.vendor_reference: d for d in Disbursement.objects.filter(project=klamath).select_related("invoice")
    }
    assert {ref: d.status for ref, d in disbursements.items()} == {
        "RW-1052": DisbursementStatus.SCHEDULED,
        "RW-1041": DisbursementStatus.EXECUTED,
        "WCN-318": DisbursementStatus.EXECUTED,
        "CEM-1104": DisbursementStatus.EXECUTED,
        "SHE-2207": DisbursementStatus.FAILED,  # the bank returned it: the invoice is approved again
    }
    assert disbursements["SHE-2207"].failure_reason.startswith("ACH return R03")
    assert invoices["SHE-2207"].status == InvoiceStatus.APPROVED
    assert disbursements["RW-1052"].scheduled_on == invoices["RW-1052"].due_on
    assert (disbursements["WCN-318"].amount, disbursements["WCN-318"].discount_taken) == (
        usd("27414.01"),
        usd("521.74"),
    )
    assert disbursements["CEM-1104"].rail_reference.startswith("0x")
    assert invoices["CEM-1104"].status == InvoiceStatus.CLOSED

    # The ledger verifies and the project's figures add up, to the cent.
    report = ledger_verify()
    assert report.ok, report.problems
    assert audit_verify().ok
    figures = ledger_selectors.project_summary(project_id=klamath.pk)["USD"]
    assert figures.balanced
    assert figures.funded == usd("1048500.00")
    # NTEs 197,000.00 + 88,000.00 + 42,000.00 + 6,400.00 + 74,000.00, plus the 35.00 wire fee, less the 521.74
    # discount taken (released to the nursery's commitment, still held by the contract): out of available.
    assert figures.available == usd("641065.00")
    assert figures.disbursed == usd("21555.00") + usd("27414.01") + usd("6400.00")
    assert figures.pending == usd("35280.00")  # RW-1052's 39,200.00 less 10 % retention, scheduled
    assert figures.retention == (
        usd("2395.00") + usd("1373.00") + usd("3920.00") + usd("960.00") + usd("3865.00") + usd("1560.00")
    )
    assert figures.withheld == usd("672.00")
    for contract in contracts.values():
        held = ledger_selectors.contract_figures(contract_id=contract.pk)["USD"]
        fees = Money.sum(
            (i.fees for i in contract.invoices.filter(status__in=InvoiceStatus.in_review())), contract.currency
        )
        in_contract = held.committed + held.encumbered + held.retention + held.withheld + held.disbursed + held.pending
        assert in_contract == contract.not_to_exceed + fees, contract.title


def test_seed_is_idempotent(stripe_state):
    seed()
    before = counts()
    summaries = [ledger_selectors.project_summary(project_id=p.pk) for p in Project.objects.order_by("name")]
    statuses = sorted(WorkRequest.objects.values_list("number", "status"))
    stripe_file = stripe_state.read_bytes()
    seed()
    assert counts() == before
    assert [ledger_selectors.project_summary(project_id=p.pk) for p in Project.objects.order_by("name")] == summaries
    assert sorted(WorkRequest.objects.values_list("number", "status")) == statuses
    assert stripe_state.read_bytes() == stripe_file  # everything was paid: the local Stripe server was not started
    report = ledger_verify()
    assert report.ok, report.problems


def test_the_milestone_project_has_work_requests_in_every_state_and_a_milestone_paid_through_stripe(stripe_state):
    result = seed()
    willamette = result.projects[1]
    assert willamette.name == WILLAMETTE
    requests = {wr.title: wr for wr in WorkRequest.objects.filter(project=willamette)}
    assert {(wr.number, wr.status) for wr in requests.values()} == {
        ("WR-0001", WorkRequestStatus.ACCEPTED),
        ("WR-0002", WorkRequestStatus.SENT),
        ("WR-0003", WorkRequestStatus.DRAFT),
        ("WR-0004", WorkRequestStatus.DECLINED),
        ("WR-0005", WorkRequestStatus.WITHDRAWN),
        ("WR-0006", WorkRequestStatus.EXPIRED),
    }
    assert set(WorkRequestStatus.values) == {wr.status for wr in requests.values()}
    contractor = User.objects.get(email="contractor@mckenzie-eco.test")
    second = User.objects.get(email="permits@tualatin-permits.test")
    pm = User.objects.get(email="pm@orenna.test")
    accepted = requests["Floodplain baseline surveys"]
    assert (accepted.accepted_by, len(accepted.terms_sha256), accepted.contract.status) == (
        contractor,
        64,
        ContractStatus.EXECUTED,
    )
    declined = requests["Landowner access agreements, south parcels"]
    assert (declined.ended_by, declined.end_reason) == (
        second,
        "We are fully booked until March; happy to quote again for the spring.",
    )
    withdrawn = requests["Soil sampling, north parcel"]
    assert (withdrawn.ended_by, withdrawn.end_reason) == (
        pm,
        "The county soil survey already covers the north parcel: not needed.",
    )
    expired = requests["County floodplain development permit"]
    assert expired.ended_by is None  # the system expired it, by the job's own rule
    assert expired.expires_at is not None
    assert expired.ended_at is not None
    assert expired.expires_at <= expired.ended_at
    assert AuditEvent.objects.filter(action="work_request.expired", actor__isnull=True).count() == 1
    assert requests["Cottonwood gallery forest planting plan"].sent_by == pm

    # The accepted request's milestones, one per state; the revision request carries its note.
    milestones = list(accepted.milestones.order_by("position"))
    assert [(m.title, m.status) for m in milestones] == [
        ("Topographic survey and LiDAR ground-truthing", MilestoneStatus.APPROVED),
        ("Vegetation community map", MilestoneStatus.SUBMITTED),
        ("Wetland and habitat assessment", MilestoneStatus.REVISION_REQUESTED),
        ("Baseline report", MilestoneStatus.PENDING),
    ]
    [revision] = Submission.objects.filter(milestone=milestones[2])
    assert (revision.approval_status, revision.reviewer) == ("revision_requested", pm)
    assert revision.review_note.startswith("Add the data sheets for plots W-7 to W-12")
    assert Submission.objects.get(milestone=milestones[1]).files.count() == 1

    # Milestone 1: its self-billed invoice through the matrix (site lead, finance), paid over the Stripe rail.
    invoice = milestones[0].invoice
    assert (invoice.kind, invoice.status, invoice.total, invoice.net_payable) == (
        "self_billed",
        InvoiceStatus.PAID,
        usd("8400.00"),
        usd("7980.00"),
    )
    assert roles(invoice) == [("PROJECT_MANAGER", "sitelead@orenna.test"), ("FINANCE_REVIEWER", "finance@orenna.test")]
    [disbursement] = Disbursement.objects.filter(project=willamette)
    assert result.milestones.paid == [disbursement]
    assert (disbursement.status, disbursement.method, disbursement.executed_via_rail) == (
        DisbursementStatus.EXECUTED,
        "stripe_connect",
        True,
    )
    assert disbursement.scheduled_by_system
    assert disbursement.rail_reference.startswith("tr_")
    assert (disbursement.milestone_id, disbursement.amount) == (milestones[0].pk, usd("7980.00"))
    [attempt] = PaymentAttempt.objects.filter(disbursement=disbursement)
    assert (attempt.status, attempt.provider_reference) == ("succeeded", disbursement.rail_reference)
    assert Receipt.objects.filter(disbursement=disbursement, kind="invoice").count() == 1
    # The webhooks went through the inbox: onboarding completed, the transfer confirmed (a no-op by then).
    assert sorted(WebhookEvent.objects.filter(processed_at__isnull=False).values_list("type", flat=True)) == [
        "account.updated",
        "account.updated",
        "transfer.created",
    ]
    account = ConnectedAccount.objects.get(vendor__name=STRIPE_CONTRACTOR)
    assert (account.transfers_capability, account.details_submitted, account.created_by) == ("active", True, contractor)

    # The ledger: 31,050.00 committed on acceptance; 8,400.00 approved, 420.00 (5 %) retained, 7,980.00 paid.
    figures = ledger_selectors.project_summary(project_id=willamette.pk)["USD"]
    assert figures.balanced
    assert (figures.funded, figures.available, figures.committed) == (
        usd("120000.00"),
        usd("88950.00"),
        usd("22650.00"),
    )
    assert (figures.encumbered, figures.retention, figures.pending, figures.disbursed) == (
        Money.zero("USD"),
        usd("420.00"),
        Money.zero("USD"),
        usd("7980.00"),
    )
    report = ledger_verify()
    assert report.ok, report.problems
    assert audit_verify().ok

    # The demo's own local Stripe server, started afresh from the state file, knows the account and the transfer.
    running = local_server.start(state_file=stripe_state)
    try:
        rail = StripeConnectRail(api_key="sk_test_after_restart", api_base=running.url, webhook_secret="whsec_x")
        assert rail.account_retrieve(account.account_id)["capabilities"] == {"transfers": "active"}
        transfer = rail.fetch_status(disbursement.rail_reference)
        assert (transfer.reference, transfer.summary["amount"], transfer.summary["destination"]) == (
            disbursement.rail_reference,
            798000,
            account.account_id,
        )
        assert transfer.summary["transfer_group"] == f"project-{willamette.pk}"
        # Its idempotent answers too: the seed's attempt again replays the transfer instead of paying twice.
        replay = rail.submit(_order(disbursement, attempt.idempotency_key, account.account_id))
        assert (replay.reference, replay.replayed) == (disbursement.rail_reference, True)
        assert len(running.state.transfers) == 1
    finally:
        running.stop()


def test_the_finance_home_has_an_alert_of_every_kind():
    result = seed()
    klamath = result.projects[0]
    treasurer = User.objects.get(email="treasurer@orenna.test")
    alerts = finance_alerts(viewer=treasurer, project=klamath)
    assert [(a.vendor.name, a.days_left) for a in alerts.cois] == [("Siskiyou Hydroseed", 21)]
    assert [node.line.wbs_code for node in alerts.budget_lines] == ["2.3"]
    [line] = alerts.budget_lines
    assert (line.figures.used, line.figures.cap) == (usd("74000.00"), usd("80000.00"))
    assert [(d.invoice.vendor_reference, d.status) for d in alerts.failed_payments] == [
        ("SHE-2207", DisbursementStatus.FAILED)
    ]
