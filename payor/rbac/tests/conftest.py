from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.audit.models import AuditEvent
from payor.core.money import Money
from payor.projects.models import Project
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import ProjectFactory, UserFactory, VendorFactory
from payor.vendors.models import Vendor, VendorUser


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def make_assignment(
    project: Project,
    user: User,
    role: ProjectRole,
    *,
    limit: Money | None = None,
    vendor_id: uuid.UUID | None = None,
) -> ProjectRoleAssignment:
    """A role granted directly (test setup only: real grants go through the audited services).

    A VENDOR role without ``vendor_id`` acts for a new vendor of the project's organization; the user is linked to
    the vendor either way (as ``role_assign`` requires).
    """
    if role == ProjectRole.VENDOR:
        if vendor_id is None:
            vendor_id = VendorFactory(organization=project.organization).pk
        VendorUser.objects.get_or_create(vendor_id=vendor_id, user=user)
    assignment = ProjectRoleAssignment(
        project=project, user=user, role=role, currency=project.currency, vendor_id=vendor_id
    )
    assignment.approval_limit = limit
    assignment.save()
    return assignment


def state() -> tuple[object, ...]:
    """Everything a refused change must leave untouched: every assignment row (with its limit) and the audit log."""
    project_rows = list(
        ProjectRoleAssignment.objects.order_by("id").values_list(
            "id", "project_id", "user_id", "role", "approval_limit", "vendor_id", "revoked_at", "revoked_by_id"
        )
    )
    system_rows = list(
        SystemRoleAssignment.objects.order_by("id").values_list("id", "user_id", "role", "revoked_at", "revoked_by_id")
    )
    return project_rows, system_rows, AuditEvent.objects.count()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hundreds of users are made here; scrypt would spend most of the run hashing the factory's password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project(db) -> Project:
    return ProjectFactory(currency="USD")


@pytest.fixture
def other_project(db) -> Project:
    return ProjectFactory(currency="USD")


@pytest.fixture
def admin(db) -> User:
    return UserFactory(email="root@example.test", is_superuser=True, is_staff=True)


@pytest.fixture
def holder(project) -> Callable[..., User]:
    """``holder(*roles, limit=None, on=project)``: a new user holding ``roles`` on the project."""

    def _holder(*roles: ProjectRole, limit: Money | None = None, on: Project | None = None) -> User:
        user = UserFactory()
        for role in roles:
            make_assignment(on or project, user, role, limit=limit)
        return user

    return _holder


@pytest.fixture
def system_holder(db) -> Callable[[SystemRole], User]:
    def _system_holder(role: SystemRole) -> User:
        user = UserFactory()
        SystemRoleAssignment.objects.create(user=user, role=role)
        return user

    return _system_holder


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    """An API client authenticated as ``user`` with a bearer token."""

    def _client_for(user: User) -> Client:
        secret = api_token_create(email=user.email, name="tests").secret
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    return _client_for


def pytest_collection_modifyitems(config, items):
    """Every rbac test is database-facing: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/rbac/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)


def linked_vendor(project: Project, user: User, **fields: object) -> Vendor:
    """A vendor of ``project``'s organization that ``user`` is linked to (what a VENDOR grant needs)."""
    vendor = VendorFactory(organization=project.organization, **fields)
    VendorUser.objects.create(vendor=vendor, user=user)
    return vendor
