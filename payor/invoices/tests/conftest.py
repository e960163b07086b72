"""Fixtures: the contracts' funded world (150,000.00 USD; WBS 1.1 Planting / 1.2 Monitoring; a holder of every
approver role, DAO signers with wallets) plus a compliant vendor with a linked vendor user and an executed
45,000.00 contract (1.1: 30,000.00, 1.2: 15,000.00; retention 10 %; 2/10 net 30)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from eth_account.messages import encode_typed_data

from payor.accounts.models import User
from payor.approvals.decisions import decision_typed_data
from payor.audit.models import AuditEvent
from payor.contracts.models import Contract
from payor.contracts.services import Terms, contract_create, contract_execute
from payor.contracts.tests.conftest import CHAIN, DAO, FIN, PM, TREAS, World, fast_password_hashing, usd, world
from payor.core.money import Money
from payor.events.models import OutboxEvent
from payor.invoices.math import CodingIn, SovLineIn
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceCoding, InvoiceLine
from payor.invoices.services import InvoiceInput, invoice_item
from payor.ledger import selectors as ledger_selectors
from payor.ledger.models import Transfer
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
