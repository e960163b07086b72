from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import pytest

from payor.accounts.models import User
from payor.approvals.matrix import BandSpec, StageSpec
from payor.approvals.models import ApprovalMatrix
from payor.audit.models import AuditEvent
from payor.core.money import Money
from payor.projects.models import Project
from payor.rbac.roles import APPROVAL_LIMIT_ROLES, ProjectRole
from payor.rbac.services import role_assign
from payor.testing.factories import MembershipFactory, ProjectFactory, VendorUserFactory

PM = ProjectRole.PROJECT_MANAGER
FIN = ProjectRole.FINANCE_REVIEWER
TREAS = ProjectRole.TREASURER
DAO = ProjectRole.DAO_MULTISIG


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def stage(role: str, k: int = 1, n: int | None = None) -> StageSpec:
    return StageSpec(role=role, signers_required=k, signers_of=n)


def band(lower: str, upper: str | None, *stages: StageSpec, currency: str = "USD") -> BandSpec:
    return BandSpec(
        lower=Money.parse(lower, currency),
        upper=None if upper is None else Money.parse(upper, currency),
        stages=stages,
    )


def state(project: Project) -> tuple[object, ...]:
    """Everything a refused change must leave untouched: matrix version, bands, audit events."""
    matrix = ApprovalMatrix.objects.filter(project=project).prefetch_related("bands").first()
    stored = None if matrix is None else (matrix.version, matrix.updated_by_id, matrix.document().as_json())
    return stored, AuditEvent.objects.count()


_clock = itertools.count()


def decided_at() -> dt.datetime:
    """Strictly increasing decision times."""
    return dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC) + dt.timedelta(minutes=next(_clock))


def person(email: str) -> User:
    """A user without a password (hashing one costs a quarter second; the API tests use tokens)."""
    return User.objects.create_user(email)


@pytest.fixture
def admin(db) -> User:
    """A platform admin: grants roles (nobody grants their own) but holds no project role."""
    return User.objects.create_superuser("admin@example.test")


@pytest.fixture
def project(db) -> Project:
    return ProjectFactory(currency="USD")


Grant = Callable[..., User]


@pytest.fixture
def grant(admin, project) -> Grant:
    """``grant(email, *roles, limit="1000000.00", on=project)``: a member of the organization holding ``roles``.

    Calling it again with the same email adds roles to the same user; ``limit=None`` grants no approval limit
    (roles that never approve get none either).
    """

    def _grant(email: str, *roles: str, limit: str | None = "1000000.00", on: Project | None = None) -> User:
        target = on or project
        user = User.objects.filter(email=email).first() or person(email)
        if not user.memberships.filter(organization=target.organization).exists():
            MembershipFactory(organization=target.organization, user=user)
        for role in roles:
            carries_limit = limit is not None and role in APPROVAL_LIMIT_ROLES
            approval_limit = Money.parse(limit, target.currency) if carries_limit else None
            vendor_id = None
            if role == ProjectRole.VENDOR:  # a vendor of the organization the user acts for
                vendor_id = VendorUserFactory(vendor__organization=target.organization, user=user).vendor_id
            role_assign(
                actor=admin, project=target, user=user, role=role, approval_limit=approval_limit, vendor_id=vendor_id
            )
        return user

    return _grant


def pytest_collection_modifyitems(config, items):
    """Every approvals test is database-facing: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/approvals/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)
