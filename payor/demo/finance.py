"""Demo finance data for the first demo project: a WBS, four vendors, contracts, change orders and invoices.

Everything goes through the real services, by the demo user whose job it is, so the audit log, the approval
trail and the ledger read like a real project's:

* the project manager builds the WBS and drafts and executes the contracts;
* procurement onboards the vendors, links each vendor's user and grants it the VENDOR role; the vendor's user
  uploads its W-9 and certificate of insurance; the finance reviewer verifies them and passes KYC (procurement
  entered the payee, so procurement cannot pass it);
* the site lead (a second project manager) proposes the change orders, which the approval matrix routes to the
  PM, finance and treasurer stages;
* the vendors' users enter their invoices (schedule-of-values lines, coded to the contract's budget lines, with a
  CSV of the schedule attached); the approvers of each stage take each one to the status the demo wants to show,
  and the treasurer schedules, records and closes the payments: every invoice status appears once or more.

So that the Project Finance Home's alerts have something to say on first open, a fourth
vendor (a hydroseeding firm) has a certificate of insurance that runs out within 30 days (renewed by a later run
only when fewer than 7 days are left, so it stays an alert), its contract takes budget line 2.3 above 90 % of its
cap, and the treasurer recorded its first payment as failed (``disbursement_fail``: the vendor's bank returned the
ACH entry; :data:`FAILED_PAYMENTS`), leaving the invoice approved and payable again. The burn chart shows the
current month only: the ledger stamps the seeded payments with the time of seeding.

Idempotent: vendors are found by name, budget lines by WBS code, contracts by title, change orders by reason
and invoices by the vendor's invoice number, and an object that exists is only moved on towards the state the
demo wants (never created again), so a second run creates nothing and posts nothing. Dates are relative to
today (billing periods are the last calendar months), so the seed works on any day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from payor.accounts.models import Organization, User
from payor.approvals.decisions import ApprovalItem, approval_records
from payor.approvals.models import Decision
from payor.approvals.plan import ApprovalPlan, approval_plan
from payor.contracts.models import ChangeOrder, ChangeOrderStatus, Contract, ContractStatus, PaymentTermsKind
from payor.contracts.services import (
    Allocation,
    Terms,
    change_order_create,
    change_order_decide,
    change_order_item,
    contract_create,
    contract_execute,
)
from payor.core.money import Money
from payor.invoices.math import CodingIn, SovLineIn
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import (
    InvoiceInput,
    invoice_attachment_add,
    invoice_create,
    invoice_decide,
    invoice_item,
    invoice_review_start,
)
from payor.payments.models import Disbursement, DisbursementMethod, DisbursementStatus
from payor.payments.services import disbursement_execute, disbursement_fail, disbursement_schedule, invoice_close
from payor.projects.models import BudgetLine, Project
from payor.projects.services import budget_line_create
from payor.rbac.roles import ProjectRole
from payor.rbac.services import role_assign
from payor.vendors.compliance import current_documents
from payor.vendors.models import BankMethod, DocumentKind, DocumentStatus, KycStatus, TaxStatus, Vendor, VendorDocument
from payor.vendors.services import (
    vendor_create,
    vendor_document_upload,
    vendor_document_verify,
    vendor_kyc_set,
    vendor_user_link,
)

CURRENCY = "USD"
#: A certificate of insurance this close to its end is renewed by the next run (an old demo database stays valid).
COI_RENEW_WITHIN = dt.timedelta(days=90)


def usd(amount: str) -> Money:
    return Money.parse(amount, CURRENCY)


# --------------------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLine:
    code: str
    description: str
    cap: str


#: Three top-level lines with their leaves; caps within the project's 1,048,500.00 of funding.
DEMO_WBS = (
    DemoLine("1", "Site preparation", "250000.00"),
    DemoLine("1.1", "Invasive species removal", "110000.00"),
    DemoLine("1.2", "Earthworks and bank grading", "140000.00"),
    DemoLine("2", "Planting", "420000.00"),
    DemoLine("2.1", "Nursery stock", "220000.00"),
    DemoLine("2.2", "Live staking", "120000.00"),
    DemoLine("2.3", "Seeding", "80000.00"),
    DemoLine("3", "Monitoring & verification", "180000.00"),
    DemoLine("3.1", "Vegetation surveys", "110000.00"),
    DemoLine("3.2", "Water quality", "70000.00"),
)


@dataclass(frozen=True)
class DemoVendor:
    name: str
    legal_name: str
    email: str
    address_line1: str
    city: str
    region: str
    postal_code: str
    bank_method: str
    category: str
    user_email: str  # the vendor's demo login (a DemoUser with ``vendor`` set to ``name``)
    coi_days: int | None = None  # the certificate of insurance runs this many days (None: about two more years)


DEMO_VENDORS = (
    DemoVendor(
        name="Riverworks Restoration",
        legal_name="Riverworks Restoration Co.",
        email="ap@riverworks.test",
        address_line1="1180 Second Avenue",
        city="Happy Camp",
        region="CA",
        postal_code="96039",
        bank_method=BankMethod.ACH,
        category="Restoration contractor (CSLB class A)",
        user_email="contractor@riverworks.test",
    ),
    DemoVendor(
        name="Willow Creek Native Plants",
        legal_name="Willow Creek Native Plant Nursery LLC",
        email="billing@willowcreek.test",
        address_line1="2250 Old Arcata Road",
        city="Arcata",
        region="CA",
        postal_code="95521",
        bank_method=BankMethod.WIRE,
        category="Native plant nursery",
        user_email="billing@willowcreek.test",
    ),
    DemoVendor(
        name="Cascade EcoMetrics",
        legal_name="Cascade EcoMetrics LLC",
        email="accounts@cascade-eco.test",
        address_line1="410 A Street, Suite 3",
        city="Ashland",
        region="OR",
        postal_code="97520",
        bank_method=BankMethod.USDC,
        category="Environmental monitoring",
        user_email="field@cascade-eco.test",
    ),
    DemoVendor(
        name="Siskiyou Hydroseed",
        legal_name="Siskiyou Hydroseed & Erosion Control Inc.",
        email="office@siskiyou-hydroseed.test",
        address_line1="77 Scott River Road",
        city="Fort Jones",
        region="CA",
        postal_code="96032",
        bank_method=BankMethod.ACH,
        category="Hydroseeding and erosion control",
        user_email="office@siskiyou-hydroseed.test",
        coi_days=21,  # the finance home's "COI expiring within 30 days" alert
    ),
)
#: A certificate of insurance this close to its end is renewed (vendors with a short ``coi_days``).
SHORT_COI_RENEW_WITHIN = dt.timedelta(days=7)


@dataclass(frozen=True)
class SovItem:
    """An item of a contract's schedule of values, charged to one leaf budget line."""

    code: str
    description: str
    scheduled: str
    wbs: str


@dataclass(frozen=True)
class DemoChangeOrder:
    reason: str
    items: tuple[SovItem, ...]  # the new SOV items it pays for (their scheduled values are its per-line deltas)
    approved: bool  # approved through every stage, or left pending after the PM stage


@dataclass(frozen=True)
class DemoContract:
    key: str
    vendor: str
    title: str
    scope: str
    allocations: tuple[tuple[str, str], ...]  # (WBS code, amount): the NTE is their sum
    retention: str
    terms: Terms
    items: tuple[SovItem, ...]
    change_orders: tuple[DemoChangeOrder, ...] = ()


DEMO_CONTRACTS = (
    DemoContract(
        key="riverworks",
        vendor="Riverworks Restoration",
        title="Site preparation, bank grading and live staking",
        scope=(
            "Clear invasive Himalayan blackberry and knotweed from 14 ha, regrade the lower banks into floodplain "
            "benches, lay coir erosion-control matting and install 9,000 willow and cottonwood live stakes."
        ),
        allocations=(("1.1", "60000.00"), ("1.2", "85000.00"), ("2.2", "40000.00")),
        retention="10.00",
        terms=Terms(kind=PaymentTermsKind.NET_DAYS, net_days=30),
        items=(
            SovItem("RW-01", "Mobilization and site access", "8500.00", "1.1"),
            SovItem("RW-02", "Invasive removal: Himalayan blackberry and knotweed, 14 ha", "51500.00", "1.1"),
            SovItem("RW-03", "Bank grading and floodplain benches", "62000.00", "1.2"),
            SovItem("RW-04", "Coir erosion-control matting", "23000.00", "1.2"),
            SovItem("RW-05", "Willow and cottonwood live stakes, 9,000 stakes", "40000.00", "2.2"),
        ),
        change_orders=(
            DemoChangeOrder(
                reason=(
                    "A high-water event scoured the lower bench: regrade 220 m of bank and re-lay the coir matting."
                ),
                items=(SovItem("RW-06", "High-water bank repair (CO-1)", "12000.00", "1.2"),),
                approved=True,
            ),
            DemoChangeOrder(
                reason=(
                    "Extend live staking to the Horse Creek confluence reach: 1,900 more stakes, as asked by the "
                    "tribal fisheries program."
                ),
                items=(SovItem("RW-07", "Live stakes, Horse Creek confluence reach (CO-2)", "8500.00", "2.2"),),
                approved=False,
            ),
        ),
    ),
    DemoContract(
        key="nursery",
        vendor="Willow Creek Native Plants",
        title="Native nursery stock for the riparian planting",
        scope=(
            "Grow, hold and deliver locally sourced container, bare-root and plug stock for 42 ha of riparian "
            "buffer. The NTE includes an allowance for California sales tax on the plants."
        ),
        allocations=(("2.1", "88000.00"),),
        retention="5.00",
        terms=Terms(kind=PaymentTermsKind.EARLY_PAY, net_days=30, discount_percent=Decimal("2"), discount_days=10),
        items=(
            SovItem("WC-01", "Container stock, 1-gal (Salix, Cornus, Rosa), 3,600 @ 9.50", "34200.00", "2.1"),
            SovItem("WC-02", "Bare-root stock (Populus trichocarpa, Alnus rubra), 6,000 @ 4.25", "25500.00", "2.1"),
            SovItem("WC-03", "Sedge and rush plugs (Carex obnupta, Juncus patens), 8,000 @ 1.80", "14400.00", "2.1"),
            SovItem("WC-04", "Delivery, cold storage and heeling-in", "4900.00", "2.1"),
        ),
    ),
    DemoContract(
        key="monitoring",
        vendor="Cascade EcoMetrics",
        title="Vegetation survival and water-quality monitoring, year 1",
        scope=(
            "Establish 40 permanent vegetation plots, survey survival at 12 months, sample turbidity and "
            "temperature monthly at 3 stations and run the nutrient and TSS lab analyses."
        ),
        allocations=(("3.1", "24000.00"), ("3.2", "18000.00")),
        retention="10.00",
        terms=Terms(kind=PaymentTermsKind.ON_APPROVAL),
        items=(
            SovItem("CE-01", "Baseline vegetation plots, 40 plots", "9600.00", "3.1"),
            SovItem("CE-02", "12-month survival survey", "14400.00", "3.1"),
            SovItem("CE-03", "Monthly turbidity and temperature sampling, 12 events", "14400.00", "3.2"),
            SovItem("CE-04", "Lab analysis: nutrients and TSS", "3600.00", "3.2"),
        ),
    ),
    DemoContract(
        key="baseline",
        vendor="Cascade EcoMetrics",
        title="Pre-construction baseline water-quality sampling",
        scope="Four sampling events at three stations before any ground disturbance, and the baseline report.",
        allocations=(("3.2", "6400.00"),),
        retention="0.00",
        terms=Terms(kind=PaymentTermsKind.ON_APPROVAL),
        items=(
            SovItem("BL-01", "Baseline sampling, 4 events at 3 stations", "4800.00", "3.2"),
            SovItem("BL-02", "Baseline water-quality report", "1600.00", "3.2"),
        ),
    ),
    DemoContract(
        key="hydroseed",
        vendor="Siskiyou Hydroseed",
        title="Hydroseeding of the graded terraces",
        scope=(
            "Hydroseed 16 ha of graded terraces and benches with a native riparian seed mix (blue wildrye, "
            "California brome, meadow barley), bonded-fibre matrix and tackifier; one re-seeding of failed patches."
        ),
        # 74,000.00 of the 80,000.00 cap of 2.3: above 90 %, the finance home's budget alert.
        allocations=(("2.3", "74000.00"),),
        retention="10.00",
        terms=Terms(kind=PaymentTermsKind.NET_DAYS, net_days=30),
        items=(
            SovItem("HS-01", "Hydroseeding, upper terraces, 11 ha", "52000.00", "2.3"),
            SovItem("HS-02", "Hydroseeding, lower benches, 5 ha, and re-seeding", "22000.00", "2.3"),
        ),
    ),
)


@dataclass(frozen=True)
class DemoInvoice:
    """A vendor invoice and the status the demo takes it to.

    ``status`` is an :class:`InvoiceStatus`, or ``returned`` (sent back for revision: a draft in round 2).
    ``stop_after`` approvals are given before a rejection or a return (which the next stage then decides).
    """

    contract: str
    reference: str
    months_ago: int  # the billing period is that calendar month
    lines: tuple[tuple[str, str], ...]  # (SOV item code, this period)
    status: str
    description: str
    taxes: str = "0.00"
    withholds: str = "0.00"
    fees: str = "0.00"
    note: str = ""  # the rejection reason or the return note
    stop_after: int = 0


RETURNED = "returned"

#: In billing order (the invoice numbers INV-0001… follow it).
DEMO_INVOICES = (
    DemoInvoice(
        "baseline",
        "CEM-1104",
        4,
        (("BL-01", "4800.00"), ("BL-02", "1600.00")),
        InvoiceStatus.CLOSED,
        "Baseline sampling, 4 events, and the baseline report: contract complete.",
    ),
    DemoInvoice(
        "riverworks",
        "RW-1041",
        4,
        (("RW-01", "8500.00"), ("RW-02", "15450.00")),
        InvoiceStatus.PAID,
        "Mobilization; invasive removal 30 % complete (reaches 1-3).",
    ),
    DemoInvoice(
        "nursery",
        "WCN-318",
        3,
        (("WC-02", "25500.00"), ("WC-04", "1960.00")),
        InvoiceStatus.PAID,
        "Bare-root stock delivered in full; delivery and cold storage to date.",
        taxes="1848.75",  # 7.25 % California sales tax on the plants (25,500.00)
    ),
    DemoInvoice(
        "riverworks",
        "RW-1052",
        3,
        (("RW-02", "20600.00"), ("RW-03", "18600.00")),
        InvoiceStatus.SCHEDULED,
        "Invasive removal to 70 %; bank grading 30 % complete.",
    ),
    DemoInvoice(
        "monitoring",
        "CEM-1131",
        3,
        (("CE-01", "9600.00"),),
        InvoiceStatus.APPROVED,
        "40 baseline vegetation plots established and surveyed.",
        withholds="672.00",  # 7 % California nonresident withholding (an Oregon firm working in California)
    ),
    DemoInvoice(
        "nursery",
        "WCN-331",
        2,
        (("WC-01", "11400.00"),),
        InvoiceStatus.REJECTED,
        "1,200 one-gallon containers delivered.",
        taxes="826.50",
        note=(
            "Delivery tickets DT-5512 and DT-5513 show 1,000 one-gallon containers received, not 1,200: "
            "re-bill the delivered quantity."
        ),
    ),
    DemoInvoice(
        "riverworks",
        "RW-1063",
        2,
        (("RW-02", "15450.00"), ("RW-03", "18600.00"), ("RW-04", "4600.00")),
        InvoiceStatus.APPROVED,
        "Invasive removal complete; bank grading to 60 %; matting 20 % laid.",
    ),
    DemoInvoice(
        "monitoring",
        "CEM-1158",
        2,
        (("CE-03", "3600.00"), ("CE-04", "900.00")),
        RETURNED,
        "Water-quality sampling, 3 events, with lab analyses.",
        note="Attach the lab's chain-of-custody forms for the three sampling events and split the lab fees per event.",
        stop_after=1,  # the PM approved; finance returns it
    ),
    DemoInvoice(
        "riverworks",
        "RW-1070",
        1,
        (("RW-03", "18600.00"), ("RW-06", "12000.00"), ("RW-05", "10000.00")),
        InvoiceStatus.UNDER_REVIEW,
        "Bank grading to 90 %; high-water bank repair (CO-1) complete; live staking 25 % installed.",
    ),
    DemoInvoice(
        "nursery",
        "WCN-347",
        1,
        (("WC-01", "9500.00"), ("WC-03", "7200.00")),
        InvoiceStatus.SUBMITTED,
        "1,000 one-gallon containers and 4,000 plugs delivered.",
        taxes="1210.75",
        fees="35.00",  # the outgoing wire fee, borne by the project
    ),
    DemoInvoice(
        "monitoring",
        "CEM-1182",
        1,
        (("CE-03", "2400.00"), ("CE-04", "600.00")),
        InvoiceStatus.DRAFT,
        "Water-quality sampling, 2 events, with lab analyses.",
    ),
    DemoInvoice(
        "hydroseed",
        "SHE-2207",
        1,
        (("HS-01", "15600.00"),),
        InvoiceStatus.APPROVED,  # then its first payment fails (FAILED_PAYMENTS)
        "Upper terraces hydroseeded, 30 % of the item.",
    ),
)


@dataclass(frozen=True)
class DemoFailedPayment:
    reference: str  # the invoice's vendor reference
    reason: str


#: Payments the treasurer scheduled and then recorded as failed (the finance home's "failed payments" alert).
FAILED_PAYMENTS = (
    DemoFailedPayment(
        "SHE-2207",
        "ACH return R03 (no account / unable to locate account) from the vendor's bank: ask Siskiyou Hydroseed "
        "for a new bank letter before paying again.",
    ),
)


# --------------------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """The demo users who do the finance work (see the module docstring)."""

    pm: User
    site_lead: User
    finance: User
    treasurer: User
    procurement: User
    vendor_users: Mapping[str, User]  # vendor name -> its user

    def approver(self, role: ProjectRole) -> User:
        approvers = {
            ProjectRole.PROJECT_MANAGER: self.pm,
            ProjectRole.FINANCE_REVIEWER: self.finance,
            ProjectRole.TREASURER: self.treasurer,
        }
        if role not in approvers:
            raise RuntimeError(f"the demo has no approver for the {role} stage")  # band 3 is not seeded
        return approvers[role]


@dataclass
class DemoFinance:
    lines: dict[str, BudgetLine] = field(default_factory=dict)
    vendors: dict[str, Vendor] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)
    change_orders: list[ChangeOrder] = field(default_factory=list)
    invoices: dict[str, Invoice] = field(default_factory=dict)  # by vendor reference


def _month(today: dt.date, months_ago: int) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar month ``months_ago`` before today's (always in the past)."""
    index = today.year * 12 + today.month - 1 - months_ago
    start = dt.date(index // 12, index % 12 + 1, 1)
    following = dt.date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    return start, following - dt.timedelta(days=1)


def _pdf(title: str) -> io.BytesIO:
    """A small valid PDF standing in for a scanned form."""
    body = (
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n" + f"% {title} (demo document)\n".encode()
    )
    return io.BytesIO(b"%PDF-1.7\n" + body + b"trailer << /Root 1 0 R >>\n%%EOF\n")


def budget_lines_seed(project: Project, cast: Cast, wbs: tuple[DemoLine, ...] = DEMO_WBS) -> dict[str, BudgetLine]:
    """The project manager builds the WBS ``wbs`` (parents first); existing lines are found by WBS code."""
    lines = {line.wbs_code: line for line in BudgetLine.objects.filter(project=project)}
    for spec in wbs:
        if spec.code in lines:
            continue
        parent = lines[spec.code.rsplit(".", 1)[0]] if "." in spec.code else None
        lines[spec.code] = budget_line_create(
            actor=cast.pm,
            project=project,
            wbs_code=spec.code,
            description=spec.description,
            cap=usd(spec.cap),
            parent_id=parent.pk if parent else None,
        )
    return lines


def _compliance_document(
    vendor: Vendor,
    kind: DocumentKind,
    cast: Cast,
    *,
    valid_until: dt.date | None,
    renew_within: dt.timedelta = COI_RENEW_WITHIN,
) -> None:
    """The vendor's user uploads the form, the finance reviewer verifies it (unless a current one is on file)."""
    today = timezone.localdate()
    current = current_documents(vendor).get(kind)
    if current is not None and (current.valid_until is None or current.valid_until >= today + renew_within):
        return
    uploader = cast.vendor_users[vendor.name]
    document = (
        VendorDocument.objects.filter(vendor=vendor, kind=kind, status=DocumentStatus.PENDING, uploaded_by=uploader)
        .order_by("-id")
        .first()
    )
    if document is None:
        label = DocumentKind(kind).label
        document = vendor_document_upload(
            actor=uploader,
            vendor=vendor,
            kind=kind,
            file=_pdf(f"{label} of {vendor.legal_name}"),
            filename=f"{kind}-{vendor.name.lower().replace(' ', '-')}.pdf",
            valid_until=valid_until,
        )
    vendor_document_verify(actor=cast.finance, document=document, note="Checked against the original")


def vendor_seed(organization: Organization, project: Project, spec: DemoVendor, cast: Cast) -> Vendor:
    """Procurement onboards the vendor and links its user (VENDOR role on ``project``); its user uploads the W-9
    and the COI, the finance reviewer verifies them and passes KYC. Idempotent."""
    vendor = Vendor.objects.filter(organization=organization, name__iexact=spec.name).first()
    if vendor is None:
        vendor = vendor_create(
            actor=cast.procurement,
            organization=organization,
            name=spec.name,
            legal_name=spec.legal_name,
            kind="company",
            country="US",
            bank_method=spec.bank_method,
            tax_status=TaxStatus.W9,
            email=spec.email,
            address_line1=spec.address_line1,
            city=spec.city,
            region=spec.region,
            postal_code=spec.postal_code,
            metadata={"category": spec.category},
        )
    user = cast.vendor_users[spec.name]
    vendor_user_link(actor=cast.procurement, vendor=vendor, user=user)
    role_assign(actor=cast.procurement, project=project, user=user, role=ProjectRole.VENDOR, vendor_id=vendor.pk)
    today = timezone.localdate()
    _compliance_document(vendor, DocumentKind.W9, cast, valid_until=None)
    if spec.coi_days is None:  # cover that runs about two more years
        _compliance_document(vendor, DocumentKind.COI, cast, valid_until=dt.date(today.year + 2, today.month, 1))
    else:
        _compliance_document(
            vendor,
            DocumentKind.COI,
            cast,
            valid_until=today + dt.timedelta(days=spec.coi_days),
            renew_within=SHORT_COI_RENEW_WITHIN,
        )
    return vendor_kyc_set(
        actor=cast.finance, vendor=vendor, status=KycStatus.PASSED, note="W-9 TIN matched; bank letter verified"
    )


def _contract(project: Project, spec: DemoContract, finance: DemoFinance, cast: Cast) -> Contract:
    contract = Contract.objects.filter(project=project, title=spec.title).first()
    if contract is None:
        allocations = [Allocation(finance.lines[code].pk, usd(amount)) for code, amount in spec.allocations]
        contract = contract_create(
            actor=cast.pm,
            project=project,
            vendor=finance.vendors[spec.vendor],
            title=spec.title,
            scope=spec.scope,
            not_to_exceed=Money.sum((allocation.amount for allocation in allocations), CURRENCY),
            allocations=allocations,
            retention_percent=spec.retention,
            terms=spec.terms,
            start_date=_month(timezone.localdate(), 5)[0],
        )
    if contract.status == ContractStatus.DRAFT:
        contract = contract_execute(actor=cast.pm, contract=contract)
    return contract


def approval_plan_of(item: ApprovalItem) -> ApprovalPlan:
    """Where the item's approvals stand (who may sign next is the demo's choice: not looked up)."""
    return approval_plan(
        project=item.project,
        amount=item.amount,
        submitter=item.submitter,
        approvals=approval_records(item),
        with_eligible=False,
    )


def _change_order(contract: Contract, spec: DemoChangeOrder, finance: DemoFinance, cast: Cast) -> ChangeOrder:
    """The site lead proposes; the approvers of each stage decide (all of them, or only the PM)."""
    change = ChangeOrder.objects.filter(contract=contract, reason=spec.reason).first()
    if change is None:
        change = change_order_create(
            actor=cast.site_lead,
            contract=contract,
            reason=spec.reason,
            lines=[Allocation(finance.lines[item.wbs].pk, usd(item.scheduled)) for item in spec.items],
        )
    while change.status == ChangeOrderStatus.PENDING:
        stage = approval_plan_of(change_order_item(change)).next_stage
        if stage is None or (not spec.approved and stage.role != ProjectRole.PROJECT_MANAGER):
            break
        change = change_order_decide(
            actor=cast.approver(stage.role), change_order=change, role=stage.role, decision=Decision.APPROVED
        )
    return change


def _sov_csv(invoice: Invoice) -> io.BytesIO:
    rows = ["item,description,scheduled_value,previous,this_period,percent_complete"]
    for line in invoice.lines.all():
        description = line.description.replace('"', "'")
        rows.append(
            f'{line.item_code},"{description}",{line.scheduled_value.amount_str()},{line.previous.amount_str()},'
            f"{line.this_period.amount_str()},{line.percent_complete}"
        )
    return io.BytesIO(("\n".join(rows) + "\n").encode())


def _invoice_input(spec: DemoInvoice, finance: DemoFinance) -> InvoiceInput:
    contract = next(c for c in DEMO_CONTRACTS if c.key == spec.contract)
    items = {item.code: item for item in contract.items}
    items.update({item.code: item for change in contract.change_orders for item in change.items})
    lines: list[SovLineIn] = []
    coding: dict[str, Money] = {}  # WBS code -> the amount coded to it
    for code, amount in spec.lines:
        item = items[code]
        lines.append(SovLineIn(item.code, item.description, usd(item.scheduled), this_period=usd(amount)))
        coding[item.wbs] = coding.get(item.wbs, Money.zero(CURRENCY)) + usd(amount)
    period_start, period_end = _month(timezone.localdate(), spec.months_ago)
    return InvoiceInput(
        period_start=period_start,
        period_end=period_end,
        lines=lines,
        coding=[CodingIn(finance.lines[code].pk, amount) for code, amount in coding.items()],
        taxes=usd(spec.taxes),
        withholds=usd(spec.withholds),
        fees=usd(spec.fees),
        vendor_reference=spec.reference,
        description=spec.description,
    )


#: The forward path of an invoice; the demo moves an existing invoice along it, never back.
_FORWARD = (
    InvoiceStatus.SUBMITTED,
    InvoiceStatus.UNDER_REVIEW,
    InvoiceStatus.APPROVED,
    InvoiceStatus.SCHEDULED,
    InvoiceStatus.PAID,
    InvoiceStatus.CLOSED,
)


def _decide_next(invoice: Invoice, cast: Cast, decision: Decision, note: str = "") -> Invoice:
    stage = approval_plan_of(invoice_item(invoice)).next_stage
    if stage is None:  # pragma: no cover - an invoice in review always has a next stage
        raise RuntimeError(f"{invoice.number} has no stage left to decide")
    return invoice_decide(
        actor=cast.approver(stage.role), invoice=invoice, role=stage.role, decision=decision, note=note
    )


def _advance(invoice: Invoice, spec: DemoInvoice, cast: Cast) -> Invoice | None:
    """Take one step (a decision, a review start, a payment step) towards the demo's status for the invoice;
    None when it is there, or when it went elsewhere (the demo never moves an invoice back)."""
    status = InvoiceStatus(invoice.status)
    if spec.status in (InvoiceStatus.REJECTED, RETURNED):
        if status not in InvoiceStatus.in_review():
            return None
        approvals = len([stage for stage in approval_plan_of(invoice_item(invoice)).stages if stage.signers])
        if approvals < spec.stop_after:
            return _decide_next(invoice, cast, Decision.APPROVED)
        decision = Decision.REJECTED if spec.status == InvoiceStatus.REJECTED else Decision.RETURNED
        return _decide_next(invoice, cast, decision, spec.note)
    if status not in _FORWARD or spec.status not in _FORWARD:
        return None
    if _FORWARD.index(status) >= _FORWARD.index(InvoiceStatus(spec.status)):
        return None
    if spec.status == InvoiceStatus.UNDER_REVIEW:
        return invoice_review_start(actor=cast.pm, invoice=invoice, role=ProjectRole.PROJECT_MANAGER)
    if status in InvoiceStatus.in_review():
        return _decide_next(invoice, cast, Decision.APPROVED)
    return _pay(invoice, spec, cast)


def _pay(invoice: Invoice, spec: DemoInvoice, cast: Cast) -> Invoice | None:
    """approved → scheduled → paid → closed, by the treasurer: a payment to be made is scheduled for the due
    date, one the demo shows as made is scheduled and executed today (taking any early-pay discount)."""
    if invoice.status == InvoiceStatus.APPROVED:
        today = timezone.localdate()
        due = invoice.due_on if spec.status == InvoiceStatus.SCHEDULED and invoice.due_on else today
        disbursement_schedule(actor=cast.treasurer, invoice=invoice, scheduled_on=max(due, today))
    elif invoice.status == InvoiceStatus.SCHEDULED:
        disbursement = Disbursement.objects.get(invoice=invoice, status=DisbursementStatus.SCHEDULED)
        disbursement_execute(
            actor=cast.treasurer, disbursement=disbursement, rail_reference=rail_reference(disbursement.method, spec)
        )
    elif invoice.status == InvoiceStatus.PAID:
        invoice_close(actor=cast.treasurer, invoice=invoice)
    else:  # pragma: no cover - _advance only calls with a payable status
        return None
    return Invoice.objects.get(pk=invoice.pk)


def rail_reference(method: str, spec: DemoInvoice) -> str:
    """A stand-in for what the rail returns: an ACH trace number, a Fedwire IMAD, a USDC transaction hash."""
    digest = hashlib.sha256(f"demo payment {spec.reference}".encode()).hexdigest()
    sequence = int(digest[:12], 16)
    if method == DisbursementMethod.USDC:
        return f"0x{digest}"
    if method == DisbursementMethod.WIRE:
        return f"IMAD {timezone.localdate():%Y%m%d}B1Q8152C{sequence % 10**6:06d}"
    return f"ACH trace 12100024{sequence % 10**7:07d}"


def _invoice(spec: DemoInvoice, finance: DemoFinance, cast: Cast) -> Invoice:
    contract = finance.contracts[spec.contract]
    invoice = Invoice.objects.filter(contract=contract, vendor_reference=spec.reference).order_by("-id").first()
    if invoice is None:
        vendor_user = cast.vendor_users[contract.vendor.name]
        invoice = invoice_create(
            actor=vendor_user,
            contract=contract,
            data=_invoice_input(spec, finance),
            submit=spec.status != InvoiceStatus.DRAFT,
        )
        invoice_attachment_add(
            actor=vendor_user,
            invoice=invoice,
            file=_sov_csv(invoice),
            filename=f"{spec.reference}-schedule-of-values.csv",
            description="Schedule of values",
        )
    while (moved := _advance(invoice, spec, cast)) is not None:
        invoice = moved
    return invoice


def _payment_failed(spec: DemoFailedPayment, finance: DemoFinance, cast: Cast) -> None:
    """The treasurer schedules the approved invoice for today and records the rail's failure (once: an invoice
    with any payment is left alone)."""
    invoice = finance.invoices[spec.reference]
    if invoice.status != InvoiceStatus.APPROVED or Disbursement.objects.filter(invoice=invoice).exists():
        return
    disbursement = disbursement_schedule(actor=cast.treasurer, invoice=invoice, scheduled_on=timezone.localdate())
    disbursement_fail(actor=cast.treasurer, disbursement=disbursement, reason=spec.reason)
    finance.invoices[spec.reference] = Invoice.objects.get(pk=invoice.pk)


def seed_finance(*, project: Project, cast: Cast) -> DemoFinance:
    """Seed (or complete) the demo project's finance data; call inside the demo seed's transaction."""
    finance = DemoFinance()
    finance.lines = budget_lines_seed(project, cast)
    for vendor_spec in DEMO_VENDORS:
        finance.vendors[vendor_spec.name] = vendor_seed(project.organization, project, vendor_spec, cast)
    for contract_spec in DEMO_CONTRACTS:
        finance.contracts[contract_spec.key] = _contract(project, contract_spec, finance, cast)
        for change_spec in contract_spec.change_orders:
            contract = finance.contracts[contract_spec.key]
            finance.change_orders.append(_change_order(contract, change_spec, finance, cast))
    for invoice_spec in DEMO_INVOICES:
        finance.invoices[invoice_spec.reference] = _invoice(invoice_spec, finance, cast)
    for failure in FAILED_PAYMENTS:
        _payment_failed(failure, finance, cast)
    return finance
