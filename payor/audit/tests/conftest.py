from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.audit.models import AuditEvent
from payor.audit.services import audit_record
from payor.projects.models import Project
from payor.rbac.models import SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import ProjectFactory, ProjectRoleFactory, UserFactory

GENESIS = "0" * 64


def independent_hash(prev_hash: str, event: AuditEvent) -> str:
    """The documented formula, written out again here rather than calling payor.audit.canonical."""
    obj = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": None if event.actor_id is None else str(event.actor_id),
        "actor_label": event.actor_label,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "project_id": None if event.project_id is None else str(event.project_id),
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "ip": event.ip,
    }
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def tamper(sql: str, params: list[object] | None = None) -> None:
    """Run ``sql`` as a superuser with triggers bypassed (session_replication_role = replica)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        cursor.execute("SET LOCAL session_replication_role = origin")


def pytest_collection_modifyitems(config, items):
    """Every audit test is database-facing: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/audit/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)


# --------------------------------------------------------------------------
# Readers of the log (scoping, API and page tests)
# --------------------------------------------------------------------------

#: The project roles that read a project's audit trail (seed 004: finance, treasury, the DAO, auditors).
AUDIT_PROJECT_ROLES = frozenset(
    {ProjectRole.FINANCE_REVIEWER, ProjectRole.TREASURER, ProjectRole.DAO_MULTISIG, ProjectRole.AUDITOR}
)
#: The system roles that read every event.
AUDIT_SYSTEM_ROLES = frozenset({SystemRole.PLATFORM_ADMIN, SystemRole.SYSTEM_AUDITOR})


def grant(user: User, role: ProjectRole | SystemRole, project: Project | None = None) -> None:
    """A role given directly (test setup: real grants go through the audited services and record events)."""
    if isinstance(role, SystemRole):
        SystemRoleAssignment.objects.create(user=user, role=role)
        return
    assert project is not None
    ProjectRoleFactory(project=project, user=user, role=role)  # a VENDOR role gets a vendor of its own


def reader(*roles: ProjectRole | SystemRole, on: Project | None = None, **fields: object) -> User:
    """A new user (no usable password: fast) holding ``roles`` (project roles on ``on``)."""
    user = UserFactory(password=None, **fields)
    for role in roles:
        grant(user, role, on)
    return user


@dataclass
class World:
    """Two projects and a platform-level event, recorded by ``admin``:

    #1 A role.assigned · #2 B role.assigned · #3 A approval_matrix.updated · #4 (no project) system_role.assigned ·
    #5 A role.revoked · #6 B invoice.approved
    """

    a: Project
    b: Project
    admin: User
    events: list[AuditEvent]

    def seqs(self, *projects: Project | None) -> list[int]:
        ids = {None if project is None else project.pk for project in projects}
        return [event.seq for event in self.events if event.project_id in ids]


def world_make() -> World:
    a = ProjectFactory(name="Klamath riparian")
    b = ProjectFactory(name="Willamette floodplain")
    admin = UserFactory(password=None, email="root@example.test", is_superuser=True)
    limit = {"amount": "10000.00", "currency": "USD"}
    specs: list[tuple[Project | None, str, str, object, object]] = [
        (a, "role.assigned", "rbac.projectroleassignment", None, {"role": "AUDITOR", "approval_limit": None}),
        (b, "role.assigned", "rbac.projectroleassignment", None, {"role": "TREASURER", "approval_limit": limit}),
        (a, "approval_matrix.updated", "approvals.approvalmatrix", {"version": 1}, {"version": 2}),
        (None, "system_role.assigned", "rbac.systemroleassignment", None, {"role": "SYSTEM_AUDITOR"}),
        (a, "role.revoked", "rbac.projectroleassignment", {"role": "AUDITOR", "approval_limit": None}, None),
        (b, "invoice.approved", "invoices.invoice", {"status": "submitted"}, {"status": "approved"}),
    ]
    events = [
        audit_record(
            actor=admin,
            action=action,
            subject_type=subject_type,
            subject_id=f"subject-{index}",
            before=before,
            after=after,
            project_id=None if project is None else project.pk,
        )
        for index, (project, action, subject_type, before, after) in enumerate(specs, start=1)
    ]
    return World(a=a, b=b, admin=admin, events=events)


@pytest.fixture
def world(db) -> World:
    return world_make()


@pytest.fixture
def api_client() -> Callable[[User], Client]:
    """An API client authenticated as ``user`` with a bearer token."""

    def _client(user: User) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")

    return _client
