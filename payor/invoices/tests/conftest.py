"""Fixtures: the contracts' funded world (150,000.00 USD; WBS 1.1 Planting / 1.2 Monitoring; a holder of every
approver role, DAO signers with wallets) plus a compliant vendor with a linked vendor user and an executed
45,000.00 contract (1.1: 30,000.00, 1.2: 15,000.00; retention 10 %; 2/10 net 30)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import F
from eth_account.messages import encode_typed_data

from payor.accounts.models import User
from payor.approvals.decisions import decision_typed_data
from payor.approvals.models import ApprovalDecision
from payor.audit.models import AuditEvent
from payor.contracts.models import Contract
from payor.contracts.services import Terms, contract_create, contract_execute
from payor.contracts.tests.conftest import CHAIN, DAO, FIN, PM, TREAS, World, fast_password_hashing, usd, world
from payor.core.money import Money
from payor.events.models import OutboxEvent
from payor.invoices.math import CodingIn, SovLineIn
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceCoding, InvoiceLine
from payor.invoices.services import InvoiceInput, invoice_decide, invoice_item
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer
from payor.projects.services import funding_record
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.models import Vendor
from payor.vendors.tests.conftest import compliant

__all__ = ["CHAIN", "DAO", "FIN", "PM", "TREAS", "fast_password_hashing", "usd", "world"]

PERIOD = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


@dataclass
class Billing:
    """The invoicing side of the world: vendor, its user, the executed contract."""

    world: World
    vendor: Vendor
    vendor_user: User
    contract: Contract

    @property
    def people(self) -> dict[str, User]:
        return self.world.people

    def line_id(self, code: str):
        return self.world.lines[code].pk

    def data(
        self,
        *lines: SovLineIn,
        coding: dict[str, str] | None = None,
        taxes: str = "0.00",
        withholds: str = "0.00",
        fees: str = "0.00",
        **fields: object,
    ) -> InvoiceInput:
        """An invoice input; ``coding`` maps WBS codes to amounts (default: the whole subtotal on 1.1)."""
        if not lines:
            lines = (SovLineIn("1", "Site preparation", usd("10000.00"), this_period=usd("1000.00")),)
        if coding is None:
            subtotal = sum((line.this_period.minor for line in lines if line.this_period is not None), 0)
            coding = {"1.1": Money.of_minor(subtotal, "USD").amount_str()}
        return InvoiceInput(
            period_start=PERIOD[0],
            period_end=PERIOD[1],
            lines=list(lines),
            coding=[CodingIn(self.line_id(code), usd(amount)) for code, amount in coding.items()],
            taxes=usd(taxes),
            withholds=usd(withholds),
            fees=usd(fees),
            **fields,  # type: ignore[arg-type]
        )

    def sign(self, name: str, invoice: Invoice, decision: str = "approved") -> str:
        typed = decision_typed_data(
            item=invoice_item(invoice), role=DAO, decision=decision, chain_id=CHAIN, matrix_version=1
        )
        return "0x" + self.world.keys[name].sign_message(encode_typed_data(full_message=typed)).signature.hex()


def contract_for(world: World, vendor: Vendor, *, nte: str = "45000.00", allocations=None, **fields) -> Contract:
    allocations = allocations or [world.alloc("1.1", "30000.00"), world.alloc("1.2", "15000.00")]
    contract = contract_create(
        actor=world.people["pm"],
        project=world.project,
        vendor=vendor,
        title="Riparian planting, phase 1",
        not_to_exceed=usd(nte),
        allocations=allocations,
        retention_percent=fields.pop("retention_percent", Decimal("10.00")),
        terms=fields.pop(
            "terms", Terms(kind="early_pay", net_days=30, discount_percent=Decimal("2"), discount_days=10)
        ),
        **fields,
    )
    return contract_execute(actor=world.people["pm"], contract=contract)


def vendor_user_for(world: World, vendor: Vendor, email: str = "billing@willow.test") -> User:
    user = UserFactory(email=email)
    ProjectRoleFactory(project=world.project, user=user, role=ProjectRole.VENDOR, vendor=vendor)
    return user


@pytest.fixture
def billing(world) -> Billing:
    vendor = compliant(
        VendorFactory(organization=world.project.organization, name="Willow Creek Restoration"),
        coi_until=dt.date(2099, 12, 31),
    )
    return Billing(
        world=world, vendor=vendor, vendor_user=vendor_user_for(world, vendor), contract=contract_for(world, vendor)
    )


def figures(billing: Billing):
    return ledger_selectors.project_summary(project_id=billing.world.project.pk)["USD"]


def contract_figures(billing: Billing):
    return ledger_selectors.contract_figures(contract_id=billing.contract.pk)["USD"]


def state(billing: Billing) -> tuple[object, ...]:
    """Everything a refused invoice operation must leave untouched."""
    f = figures(billing)
    return (
        f.available,
        f.committed,
        f.encumbered,
        f.retention,
        f.withheld,
        Transfer.objects.count(),
        list(Invoice.objects.order_by("id").values_list("id", "status", "round", "subtotal", "net_payable")),
        InvoiceLine.objects.count(),
        InvoiceCoding.objects.count(),
        InvoiceAttachment.objects.count(),
        OutboxEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def pytest_collection_modifyitems(config, items):
    """Every invoices test touches the database: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/invoices/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)


# --------------------------------------------------------------------------------------------------------
# Helpers for the acceptance modules (lifecycle, segregation, concurrency, refusals, attachments)
# --------------------------------------------------------------------------------------------------------


def full_state(billing: Billing) -> tuple[object, ...]:
    """:func:`state` plus the approval decisions (a refused decision records none)."""
    return (
        *state(billing),
        list(ApprovalDecision.objects.order_by("id").values_list("id", "round", "role", "decision", "approver_id")),
    )


def audit_mark() -> int:
    """The last audit event's ``seq`` (0 when the log is empty): pass to :func:`audit_actions`."""
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def audit_actions(since: int) -> list[str]:
    return list(AuditEvent.objects.filter(seq__gt=since).order_by("seq").values_list("action", flat=True))


def outbox_mark() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def topics(since: int) -> list[str]:
    """Outbox topics after ``since``, in delivery order (``position``; inside a test transaction positions are
    only assigned at commit, so insertion order breaks the tie)."""
    rows = OutboxEvent.objects.filter(id__gt=since).order_by(F("position").asc(nulls_last=True), "id")
    return list(rows.values_list("topic", flat=True))


def transfers(invoice: Invoice) -> list[tuple[str, str]]:
    """The invoice's ledger transfers as ``(code, id suffix after invoice:<id>:)`` in posting order."""
    prefix = f"invoice:{invoice.pk}:"
    return [(t.code, t.id.removeprefix(prefix)) for t in ledger_selectors.invoice_transfers(invoice_id=invoice.pk)]


def fund_more(world: World, amount: str) -> None:
    funding_record(
        actor=None, bucket=world.project.buckets.get(), amount=usd(amount), source="lift_bond", received_on=PERIOD[0]
    )


def big_contract(billing: Billing) -> Contract:
    """A second executed contract of the vendor, 120,000.00 (1.1: 80,000.00, 1.2: 40,000.00), for band-3 invoices;
    the project is funded 20,000.00 more first (available after: 5,000.00)."""
    world = billing.world
    fund_more(world, "20000.00")
    allocations = [world.alloc("1.1", "80000.00"), world.alloc("1.2", "40000.00")]
    return contract_for(world, billing.vendor, nte="120000.00", allocations=allocations)


def grant(world: World, email: str, role: ProjectRole, *, limit: str | None = "1000000.00", vendor=None) -> User:
    """A new user holding ``role`` on the world's project (approver roles with ``limit``)."""
    user = UserFactory(email=email)
    return grant_to(world, user, role, limit=limit, vendor=vendor)


def grant_to(world: World, user: User, role: ProjectRole, *, limit: str | None = "1000000.00", vendor=None) -> User:
    """Give an existing user one more role on the world's project."""
    extra: dict[str, object] = {}
    if role != ProjectRole.VENDOR:
        extra["limit"] = usd(limit) if limit else None
    elif vendor is not None:
        extra["vendor"] = vendor  # else a new vendor of the organization
    ProjectRoleFactory(project=world.project, user=user, role=role, **extra)
    return user


def decide(
    billing: Billing,
    invoice: Invoice,
    name: str,
    role: ProjectRole,
    decision: str = "approved",
    note: str = "",
    *,
    actor: User | None = None,
) -> Invoice:
    """``people[name]`` decides at ``role``; DAO stages are signed with the person's wallet key."""
    extra: dict[str, object] = {}
    if role == DAO:
        extra = {"chain_id": CHAIN, "signature": billing.sign(name, invoice, decision)}
    return invoice_decide(
        actor=actor or billing.people[name], invoice=invoice, role=role, decision=decision, note=note, **extra
    )


@pytest.fixture
def media(settings, tmp_path) -> Path:
    """Stored files go to a fresh directory per test (request it before ``billing``)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root
