"""Demo data for the milestone project of seed 000 (the second demo project, Willamette Floodplain
Reforestation): a WBS, two contractors, work requests in every state and a milestone paid through the Stripe rail.

Who does what (all through the real services, like :mod:`payor.demo.finance`):

* the project manager builds the WBS, drafts and sends the work requests, withdraws one and reviews the
  deliverables; procurement onboards the two contractors (McKenzie Field Ecology, paid by Stripe Connect, and
  Tualatin Permitting Partners, by ACH), the finance reviewer verifies their W-9 and COI and passes KYC;
* the contractors' users accept, decline and submit deliverables; the site lead fills the PM stage of the
  self-billed invoice (the reviewing PM created it), the finance reviewer the finance stage.

Work requests, one per state: **draft**, **sent** (awaiting the contractor), **accepted** (its milestones
*approved* and paid, *submitted* awaiting review, *revision_requested* with the reviewer's note, *pending*),
**declined** (with the contractor's reason), **withdrawn** (with the PM's reason) and **expired**. Expiry goes by
the service's own rule: drafting and sending refuse an expiry in the past, so the request is sent with an expiry
1.5 s ahead, the seed waits for it to pass and runs the expiry job's function (``work_requests_expire``), which
marks it expired as the system, audited and announced, exactly as the worker's periodic job would.

**The Stripe payment.** The demo's worker starts only after seeding, so the seed pays the first milestone itself,
synchronously, through the same functions the jobs call: it starts the local Stripe server in-process on a free
port (``local_server.start``) with the same state file the demo's own local Stripe server loads
(``settings.STRIPE_LOCAL_STATE_FILE``, ``<PAYOR_DATA_DIR>/stripe-local.json``) and points the rail at it
(``settings.STRIPE_API_BASE``, restored afterwards); the contractor's user creates the Stripe connected account
(``connected_account_create``), onboarding is completed through the server's control endpoint, the signed
``account.updated`` event goes through the webhook inbox (``webhook_receive`` + ``webhook_process``, what
``/webhooks/stripe`` and the worker do) so Payor knows the account can receive transfers; the milestone's
self-billed invoice passes the matrix (terms "on approval": due today), ``invoice_autoschedule`` schedules it
and ``disbursement_submit`` pays it over the rail (a Stripe transfer, the disbursement executed by the system
with the transfer id, ``executed_via_rail``); the resulting ``transfer.created`` event goes through the inbox
too (a no-op: the API answer already executed it). The server writes its state file after every change, so
when ``payor demo`` then starts its local Stripe server it knows the connected account (transfers active) and
the transfer, and later payments to the contractor work; a second seed run finds everything done and does not
start the server. (Should the seed fail after paying, its one transaction rolls back while the state file keeps
the transfer — an orphan, as a real provider would keep it; the next run pays under new ids.) With a real Stripe
key (or another ``PAYOR_STRIPE_API_BASE``) the seed does not pay: the milestone's invoice is left awaiting the PM
stage, for a person to take on through the real onboarding.

Idempotent: work requests are found by title, milestones by position, and each is only moved on towards the
state the demo wants, so a second run creates nothing and posts nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from payor.accounts.models import User
from payor.approvals.models import Decision
from payor.contracts.models import (
    Milestone,
    MilestoneStatus,
    PaymentTermsKind,
    Submission,
    SubmissionStatus,
    WorkRequest,
    WorkRequestStatus,
)
from payor.contracts.services import (
    MilestoneIn,
    Terms,
    UploadIn,
    submission_create,
    submission_review,
    work_request_accept,
    work_request_create,
    work_request_decline,
    work_request_send,
    work_request_withdraw,
    work_requests_expire,
)
from payor.demo.finance import (
    Cast,
    DemoLine,
    DemoVendor,
    _pdf,
    approval_plan_of,
    budget_lines_seed,
    usd,
    vendor_seed,
)
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_decide, invoice_item
from payor.payments.models import ConnectedAccount, Disbursement, DisbursementStatus, Rail
from payor.payments.rail_services import (
    connected_account_create,
    disbursement_submit,
    invoice_autoschedule,
    webhook_process,
    webhook_receive,
)
from payor.payments.rails.stripe import local_server
from payor.projects.models import BudgetLine, Project
from payor.rbac.roles import ProjectRole
from payor.vendors.models import BankMethod, Vendor

# --------------------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------------------

#: The origination budget: surveys, permits and agreements, design; within the project's 120,000.00.
MILESTONE_WBS = (
    DemoLine("1", "Surveys and baseline", "50000.00"),
    DemoLine("1.1", "Topographic and LiDAR survey", "22000.00"),
    DemoLine("1.2", "Vegetation and habitat baseline", "28000.00"),
    DemoLine("2", "Permits and agreements", "40000.00"),
    DemoLine("2.1", "Permit applications", "24000.00"),
    DemoLine("2.2", "Landowner agreements", "16000.00"),
    DemoLine("3", "Design", "25000.00"),
    DemoLine("3.1", "Planting plan and specifications", "25000.00"),
)

STRIPE_CONTRACTOR = "McKenzie Field Ecology"
SECOND_CONTRACTOR = "Tualatin Permitting Partners"

MILESTONE_VENDORS = (
    DemoVendor(
        name=STRIPE_CONTRACTOR,
        legal_name="McKenzie Field Ecology LLC",
        email="billing@mckenzie-eco.test",
        address_line1="1445 Willamette Street, Suite 6",
        city="Eugene",
        region="OR",
        postal_code="97401",
        bank_method=BankMethod.STRIPE_CONNECT,
        category="Field ecology and survey contractor",
        user_email="contractor@mckenzie-eco.test",
    ),
    DemoVendor(
        name=SECOND_CONTRACTOR,
        legal_name="Tualatin Permitting Partners LLC",
        email="office@tualatin-permits.test",
        address_line1="8700 SW Nimbus Avenue",
        city="Beaverton",
        region="OR",
        postal_code="97008",
        bank_method=BankMethod.ACH,
        category="Environmental permitting",
        user_email="permits@tualatin-permits.test",
    ),
)

PAID = "paid"  # a milestone approved and paid through the Stripe rail


@dataclass(frozen=True)
class DemoMilestone:
    title: str
    amount: str
    wbs: str
    due_in_days: int
    description: str
    acceptance_criteria: str
    state: str = MilestoneStatus.PENDING  # a MilestoneStatus, or PAID
    note: str = ""  # the contractor's submission note
    review_note: str = ""  # the PM's revision request


@dataclass(frozen=True)
class DemoWorkRequest:
    title: str
    vendor: str
    scope: str
    status: str  # a WorkRequestStatus
    milestones: tuple[DemoMilestone, ...]
    retention: str = "0.00"
    terms: Terms = field(default_factory=lambda: Terms(kind=PaymentTermsKind.ON_APPROVAL, net_days=None))
    reason: str = ""  # why it was declined or withdrawn


#: The time an expiring request is given to be sent (then the seed waits for it to pass).
EXPIRY_AHEAD = dt.timedelta(seconds=1.5)

#: In drafting order (the numbers WR-0001… follow it).
DEMO_WORK_REQUESTS = (
    DemoWorkRequest(
        title="Floodplain baseline surveys",
        vendor=STRIPE_CONTRACTOR,
        scope=(
            "Survey the 18 ha floodplain before any design work: ground-truth the county LiDAR, map the vegetation "
            "communities, assess wetlands and habitat, and write the baseline report the verification gates use."
        ),
        status=WorkRequestStatus.ACCEPTED,
        retention="5.00",
        milestones=(
            DemoMilestone(
                "Topographic survey and LiDAR ground-truthing",
                "8400.00",
                "1.1",
                -10,
                "RTK-GPS survey of 120 check points against the 2024 county LiDAR; 0.5 m contours.",
                "Vertical RMSE at or under 10 cm; CAD and GeoTIFF delivered.",
                state=PAID,
                note="Survey control report, contour CAD file and the check-point table attached.",
            ),
            DemoMilestone(
                "Vegetation community map",
                "9600.00",
                "1.2",
                7,
                "Map the plant communities of the floodplain at 1:2,000 with 30 relevé plots.",
                "Map and plot data accepted by the project ecologist.",
                state=MilestoneStatus.SUBMITTED,
                note="Community map (PDF) and the relevé plot data; invasives flagged in red.",
            ),
            DemoMilestone(
                "Wetland and habitat assessment",
                "7250.00",
                "1.2",
                21,
                "Delineate wetlands (1987 manual, Western Mountains supplement) and score salmonid habitat.",
                "Delineation report ready for the state's concurrence.",
                state=MilestoneStatus.REVISION_REQUESTED,
                note="Wetland delineation report, draft 1.",
                review_note=(
                    "Add the data sheets for plots W-7 to W-12 and the soil pit photos; "
                    "the north swale needs its hydrology indicators."
                ),
            ),
            DemoMilestone(
                "Baseline report",
                "5800.00",
                "1.2",
                45,
                "The baseline report that the 12-month verification compares against.",
                "Report approved by the project manager.",
            ),
        ),
    ),
    DemoWorkRequest(
        title="Cottonwood gallery forest planting plan",
        vendor=STRIPE_CONTRACTOR,
        scope="Design the planting of the gallery forest: species mix, spacing, stock types and the specifications.",
        status=WorkRequestStatus.SENT,
        retention="5.00",
        terms=Terms(kind=PaymentTermsKind.NET_DAYS, net_days=7),
        milestones=(
            DemoMilestone(
                "Draft planting plan",
                "6500.00",
                "3.1",
                30,
                "Planting zones, species mix and densities on the survey base map.",
                "Reviewed with the landowners and the PM.",
            ),
            DemoMilestone(
                "Final plans and specifications",
                "8500.00",
                "3.1",
                60,
                "Bid-ready drawings and the planting specifications.",
                "Stamped set accepted by the PM.",
            ),
        ),
    ),
    DemoWorkRequest(
        title="Joint permit application for the floodplain reconnection",
        vendor=SECOND_CONTRACTOR,
        scope="Prepare and file the state removal-fill and federal Section 404 joint permit application.",
        status=WorkRequestStatus.DRAFT,
        milestones=(
            DemoMilestone(
                "Joint permit application filed",
                "11800.00",
                "2.1",
                75,
                "Application, drawings, alternatives analysis and the functional assessment.",
                "Filed and deemed complete by the agencies.",
            ),
        ),
    ),
    DemoWorkRequest(
        title="Landowner access agreements, south parcels",
        vendor=SECOND_CONTRACTOR,
        scope="Negotiate 10-year access and conservation agreements with the owners of the four south parcels.",
        status=WorkRequestStatus.DECLINED,
        milestones=(
            DemoMilestone(
                "Four signed access agreements",
                "9000.00",
                "2.2",
                90,
                "Access for planting and monitoring, recorded with the county.",
                "Recorded agreements on file.",
            ),
        ),
        reason="We are fully booked until March; happy to quote again for the spring.",
    ),
    DemoWorkRequest(
        title="Soil sampling, north parcel",
        vendor=STRIPE_CONTRACTOR,
        scope="Twelve soil cores on the north parcel for texture, organic matter and nutrients.",
        status=WorkRequestStatus.WITHDRAWN,
        milestones=(
            DemoMilestone(
                "Soil cores and lab results",
                "3200.00",
                "1.2",
                30,
                "Twelve cores to 1 m, lab analysis, a short memo.",
                "Lab report received.",
            ),
        ),
        reason="The county soil survey already covers the north parcel: not needed.",
    ),
    DemoWorkRequest(
        title="County floodplain development permit",
        vendor=SECOND_CONTRACTOR,
        scope="Prepare the county floodplain development permit and the no-rise analysis.",
        status=WorkRequestStatus.EXPIRED,
        milestones=(
            DemoMilestone(
                "Floodplain permit issued",
                "4500.00",
                "2.1",
                60,
                "Application and the no-rise certification.",
                "Permit issued by the county.",
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------------------


@dataclass
class DemoMilestones:
    lines: dict[str, BudgetLine] = field(default_factory=dict)
    vendors: dict[str, Vendor] = field(default_factory=dict)
    work_requests: dict[str, WorkRequest] = field(default_factory=dict)  # by title
    paid: list[Disbursement] = field(default_factory=list)  # executed through the Stripe rail


def _milestones_in(spec: DemoWorkRequest, lines: dict[str, BudgetLine]) -> list[MilestoneIn]:
    today = timezone.localdate()
    return [
        MilestoneIn(
            title=m.title,
            amount=usd(m.amount),
            budget_line_id=lines[m.wbs].pk,
            description=m.description,
            acceptance_criteria=m.acceptance_criteria,
            due_date=today + dt.timedelta(days=m.due_in_days),
        )
        for m in spec.milestones
    ]


def _work_request(project: Project, spec: DemoWorkRequest, seeded: DemoMilestones, cast: Cast) -> WorkRequest:
    """Draft, then move the request on towards ``spec.status`` (never back)."""
    work_request = WorkRequest.objects.filter(project=project, title=spec.title).first()
    expiring = spec.status == WorkRequestStatus.EXPIRED
    if work_request is None:
        work_request = work_request_create(
            actor=cast.pm,
            project=project,
            vendor=seeded.vendors[spec.vendor],
            title=spec.title,
            scope=spec.scope,
            milestones=_milestones_in(spec, seeded.lines),
            retention_percent=Decimal(spec.retention),
            terms=spec.terms,
            expires_at=timezone.now() + EXPIRY_AHEAD if expiring else None,
        )
    if spec.status == WorkRequestStatus.DRAFT:
        return work_request
    contractor = cast.vendor_users[spec.vendor]
    if work_request.status == WorkRequestStatus.DRAFT:
        work_request = work_request_send(actor=cast.pm, work_request=work_request)
    if work_request.status != WorkRequestStatus.SENT:
        return work_request
    if spec.status == WorkRequestStatus.ACCEPTED:
        work_request = work_request_accept(
            actor=contractor, work_request=work_request, terms_sha256=work_request.terms_sha256
        )
    elif spec.status == WorkRequestStatus.DECLINED:
        work_request = work_request_decline(actor=contractor, work_request=work_request, reason=spec.reason)
    elif spec.status == WorkRequestStatus.WITHDRAWN:
        work_request = work_request_withdraw(actor=cast.pm, work_request=work_request, reason=spec.reason)
    elif expiring and work_request.expires_at is not None:
        # Let the expiry pass for real, then run what the periodic job runs.
        time.sleep(max((work_request.expires_at - timezone.now()).total_seconds(), 0) + 0.05)
        work_requests_expire()
        work_request.refresh_from_db()
    return work_request


def _open_submission(milestone: Milestone) -> Submission:
    return Submission.objects.get(milestone=milestone, approval_status=SubmissionStatus.SUBMITTED)


def _milestone(milestone: Milestone, spec: DemoMilestone, contractor_user: User, cast: Cast) -> Milestone:
    """Submit and review the milestone towards ``spec.state`` (approved for PAID; the payment comes after)."""
    target = MilestoneStatus.APPROVED if spec.state == PAID else spec.state
    if target == MilestoneStatus.PENDING:
        return milestone
    if milestone.status == MilestoneStatus.PENDING:
        slug = milestone.title.lower().replace(" ", "-")[:40]
        submission_create(
            actor=contractor_user,
            milestone=milestone,
            note=spec.note,
            files=[UploadIn(_pdf(f"{milestone.title}, {spec.note}"), f"{slug}.pdf")],
        )
        milestone.refresh_from_db()
    if milestone.status == MilestoneStatus.SUBMITTED and target != MilestoneStatus.SUBMITTED:
        decision = "approved" if target == MilestoneStatus.APPROVED else "revision_requested"
        submission_review(
            actor=cast.pm, submission=_open_submission(milestone), decision=decision, note=spec.review_note
        )
        milestone.refresh_from_db()
    return milestone


def _approve_invoice(invoice: Invoice, cast: Cast) -> Invoice:
    """The matrix's stages in order: the site lead for the PM stage (the reviewing PM created the self-billed
    invoice), then finance (and the treasurer above 10,000.00)."""
    approvers = {
        ProjectRole.PROJECT_MANAGER: cast.site_lead,
        ProjectRole.FINANCE_REVIEWER: cast.finance,
        ProjectRole.TREASURER: cast.treasurer,
    }
    while invoice.status in InvoiceStatus.in_review():
        stage = approval_plan_of(invoice_item(invoice)).next_stage
        if stage is None:  # pragma: no cover - an invoice in review always has a next stage
            raise RuntimeError(f"{invoice.number} has no stage left to decide")
        invoice = invoice_decide(
            actor=approvers[ProjectRole(stage.role)], invoice=invoice, role=stage.role, decision=Decision.APPROVED
        )
    return invoice


def stripe_is_local() -> bool:
    """No real Stripe key and the default API base: the demo's own local Stripe server is what pays."""
    return not settings.STRIPE_REAL and f"http://127.0.0.1:{settings.STRIPE_LOCAL_PORT}" == settings.STRIPE_API_BASE


@contextmanager
def local_stripe() -> Iterator[local_server.Running]:
    """The local Stripe server in-process on a free port, keeping its state in the demo's state file, with the
    rail pointed at it for the duration (module docstring)."""
    running = local_server.start(
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET, state_file=settings.STRIPE_LOCAL_STATE_FILE
    )
    api_base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = running.url
    try:
        yield running
    finally:
        settings.STRIPE_API_BASE = api_base
        running.stop()


def _control(running: local_server.Running, path: str) -> None:
    request = urllib.request.Request(running.url + path, data=b"{}", method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def _webhooks(running: local_server.Running, since: int) -> None:
    """The events the server sent since ``since`` through the webhook inbox, signed like Stripe signs them."""
    for event in list(running.state.events[since:]):
        body = json.dumps(event)
        signature = local_server.sign(body, settings.STRIPE_WEBHOOK_SECRET.split(",")[0].strip())
        row, _new = webhook_receive(
            rail=Rail.STRIPE_CONNECT, payload=body.encode(), headers={"Stripe-Signature": signature}
        )
        webhook_process(event_id=row.pk)


def _pay_through_stripe(invoice: Invoice, vendor: Vendor, contractor_user: User) -> Disbursement | None:
    """Onboard the contractor's connected account if needed and pay the approved self-billed invoice over the
    Stripe rail (module docstring)."""
    with local_stripe() as running:
        since = len(running.state.events)
        account = ConnectedAccount.objects.filter(vendor=vendor).first()
        if account is None:
            account = connected_account_create(
                actor=contractor_user,
                vendor=vendor,
                return_url="http://127.0.0.1:8000/portal/",
                refresh_url="http://127.0.0.1:8000/portal/",
            ).account
        if account.transfers_capability != "active":
            _control(running, f"/_control/accounts/{account.account_id}/complete")
            _webhooks(running, since)
            since = len(running.state.events)
        disbursement = invoice_autoschedule(invoice_id=invoice.pk)
        if disbursement is None:
            return None
        disbursement_submit(disbursement_id=disbursement.pk)
        _webhooks(running, since)
    return Disbursement.objects.get(pk=disbursement.pk)


def _paid(milestone: Milestone, vendor: Vendor, contractor_user: User, cast: Cast) -> Disbursement | None:
    invoice = milestone.invoice
    if invoice is None or not stripe_is_local():
        return None  # a real Stripe account is onboarded by a person: the invoice waits for its approvals
    invoice = _approve_invoice(invoice, cast)
    executed = Disbursement.objects.filter(invoice=invoice, status=DisbursementStatus.EXECUTED).first()
    if executed is not None or invoice.status != InvoiceStatus.APPROVED:
        return executed
    return _pay_through_stripe(invoice, vendor, contractor_user)


def seed_milestones(*, project: Project, cast: Cast) -> DemoMilestones:
    """Seed (or complete) the milestone project; call inside the demo seed's transaction."""
    seeded = DemoMilestones()
    seeded.lines = budget_lines_seed(project, cast, MILESTONE_WBS)
    for vendor_spec in MILESTONE_VENDORS:
        seeded.vendors[vendor_spec.name] = vendor_seed(project.organization, project, vendor_spec, cast)
    for spec in DEMO_WORK_REQUESTS:
        work_request = _work_request(project, spec, seeded, cast)
        seeded.work_requests[spec.title] = work_request
        if work_request.status != WorkRequestStatus.ACCEPTED:
            continue
        contractor_user = cast.vendor_users[spec.vendor]
        for position, milestone_spec in enumerate(spec.milestones, start=1):
            milestone = _milestone(
                work_request.milestones.get(position=position), milestone_spec, contractor_user, cast
            )
            if milestone_spec.state == PAID and milestone.status == MilestoneStatus.APPROVED:
                paid = _paid(milestone, seeded.vendors[spec.vendor], contractor_user, cast)
                if paid is not None:
                    seeded.paid.append(paid)
    return seeded
