"""Fixtures for the budget-line tests (the WBS tree)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.db import transaction

from payor.accounts.models import User
from payor.audit.models import AuditEvent
from payor.core.money import Money
from payor.ledger import services as ledger
from payor.ledger.models import Transfer
from payor.projects import services
from payor.projects.models import BudgetLine, Project
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def grant(project: Project, user: User, role: ProjectRole) -> None:
    """A role granted directly (test setup only: real grants go through the audited rbac services)."""
    ProjectRoleFactory(project=project, user=user, role=role)


def budget_state() -> tuple[object, ...]:
    """Everything a refused budget change must leave untouched: every line, the audit log and the ledger."""
    lines = list(
        BudgetLine.objects.order_by("id").values_list(
            "id", "project_id", "parent_id", "wbs_code", "description", "cap", "position", "archived_at", "updated_at"
        )
    )
    return lines, AuditEvent.objects.count(), Transfer.objects.count()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Many users are made here; the real hasher would spend most of the run hashing the factory's password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project(db) -> Project:
    return ProjectFactory(currency="USD", name="Klamath riparian")


@pytest.fixture
def pm(project) -> User:
    manager = UserFactory()
    grant(project, manager, ProjectRole.PROJECT_MANAGER)
    return manager


@pytest.fixture
def funded(project) -> Project:
    ledger.fund(bucket=project.buckets.get(), amount=usd("1000000.00"), key=f"funding:{project.pk}")
    return project


@pytest.fixture
def make_line(project, pm) -> Callable[..., BudgetLine]:
    """``make_line("1.2", "250000.00", parent=line)``: a line created through the service, as the PM."""

    def _make_line(code: str, cap: str, *, parent: BudgetLine | None = None, on: Project | None = None) -> BudgetLine:
        return services.budget_line_create(
            actor=pm,
            project=on or project,
            wbs_code=code,
            description=f"Line {code}",
            cap=usd(cap),
            parent_id=parent.pk if parent else None,
        )

    return _make_line


def commit_on(project: Project, lines: dict[BudgetLine, str], *, key: str | None = None) -> ledger.Party:
    """A contract committing ``lines`` (line -> amount) the way the contracts service will: check, then post."""
    party = ledger.Party(bucket=project.buckets.get(), contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())
    with transaction.atomic():
        services.budget_allocation_check(project=project, allocations={line.pk: usd(a) for line, a in lines.items()})
        ledger.commit(
            party=party,
            lines=[ledger.Line(usd(amount), line.pk) for line, amount in lines.items()],
            key=key or f"contract:{party.contract_id}",
        )
    return party
