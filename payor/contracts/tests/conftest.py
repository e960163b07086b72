from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone
from eth_account import Account

from payor.accounts.models import User, Wallet
from payor.contracts.services import Allocation
from payor.core.money import Money
from payor.projects.models import BudgetLine, Project
from payor.projects.services import budget_line_create, funding_record
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory, VendorFactory

PM = ProjectRole.PROJECT_MANAGER
FIN = ProjectRole.FINANCE_REVIEWER
TREAS = ProjectRole.TREASURER
DAO = ProjectRole.DAO_MULTISIG
CHAIN = 1


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    """A funded project (150,000.00 USD) with a WBS, a vendor and a holder of each approver role."""

    project: Project
    lines: dict[str, BudgetLine]
    people: dict[str, User]
    keys: dict[str, object]

    def line(self, code: str) -> BudgetLine:
        return self.lines[code]

    def alloc(self, code: str, amount: str) -> Allocation:
        return Allocation(budget_line_id=self.lines[code].pk, amount=usd(amount))


@pytest.fixture
def world(db) -> World:
    project = ProjectFactory(currency="USD")
    people: dict[str, User] = {}
    limit = usd("1000000.00")
    for name, role in (("pm", PM), ("pm2", PM), ("fin", FIN), ("tre", TREAS), ("dao1", DAO), ("dao2", DAO)):
        user = UserFactory(email=f"{name}@example.test")
        ProjectRoleFactory(project=project, user=user, role=role, limit=limit)
        people[name] = user
    keys = {}
    for name in ("dao1", "dao2"):
        keys[name] = Account.create()
        Wallet.objects.create(user=people[name], address=keys[name].address, chain_id=CHAIN, linked_at=timezone.now())
    pm = people["pm"]
    root = budget_line_create(actor=pm, project=project, wbs_code="1", description="Restoration", cap=usd("200000.00"))
    lines = {
        "1": root,
        "1.1": budget_line_create(
            actor=pm, project=project, wbs_code="1.1", description="Planting", cap=usd("120000.00"), parent_id=root.pk
        ),
        "1.2": budget_line_create(
            actor=pm, project=project, wbs_code="1.2", description="Monitoring", cap=usd("80000.00"), parent_id=root.pk
        ),
    }
    funding_record(
        actor=None,
        bucket=project.buckets.get(),
        amount=usd("150000.00"),
        source="lift_bond",
        received_on=dt.date(2026, 2, 1),
    )
    return World(project=project, lines=lines, people=people, keys=keys)


@pytest.fixture
def vendor(world):
    return VendorFactory(organization=world.project.organization, name="Willow Creek Restoration")


@pytest.fixture
def readers(world, vendor) -> dict[str, User]:
    """More people on the world's project: procurement, auditor, beneficiary, a VENDOR user of ``vendor``
    (``own``), a VENDOR user of another vendor of the organization (``other``), and someone with no role."""
    people: dict[str, User] = {}
    for name, role in (
        ("proc", ProjectRole.PROCUREMENT),
        ("aud", ProjectRole.AUDITOR),
        ("ben", ProjectRole.BENEFICIARY),
    ):
        people[name] = UserFactory(email=f"{name}@example.test")
        ProjectRoleFactory(project=world.project, user=people[name], role=role)
    people["own"] = UserFactory(email="own@vendor.example.test")
    ProjectRoleFactory(project=world.project, user=people["own"], role=ProjectRole.VENDOR, vendor=vendor)
    people["other"] = UserFactory(email="other@vendor.example.test")
    ProjectRoleFactory(project=world.project, user=people["other"], role=ProjectRole.VENDOR)
    people["outsider"] = UserFactory(email="outsider@example.test")
    return people


@pytest.fixture
def media(settings, tmp_path):
    """Stored files go to a fresh directory per test (request it before ``flow``)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


@pytest.fixture
def flow(media, world):
    """The world plus two compliant contractors with one acting user each (``payor.testing.milestones``)."""
    from payor.testing.milestones import flow_for
    from payor.vendors.tests.conftest import compliant

    return flow_for(world, lambda vendor: compliant(vendor, coi_until=dt.date(2099, 12, 31)))
