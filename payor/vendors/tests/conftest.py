from __future__ import annotations

import datetime as dt
import hashlib
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from payor.accounts.models import Organization, User
from payor.accounts.services import api_token_create
from payor.audit.models import AuditEvent
from payor.projects.models import Project
from payor.rbac.models import ProjectRoleAssignment, SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import OrganizationFactory, ProjectFactory, ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.models import DocumentKind, DocumentStatus, Vendor, VendorDocument, VendorUser

TODAY = dt.date(2026, 6, 15)


def pdf_bytes(text: str = "W-9") -> bytes:
    body = f"1 0 obj << /Type /Catalog >> endobj\n% {text}\n".encode()
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body + b"trailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def upload(content: bytes, name: str = "form.pdf", content_type: str = "application/pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    """Uploaded files go to a fresh directory per test."""
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


@pytest.fixture
def today(monkeypatch) -> dt.date:
    """Freeze ``timezone.localdate()`` (the services' "today") at TODAY."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    return TODAY


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(name="Orenna DAO LLC")


@pytest.fixture
def project(org) -> Project:
    return ProjectFactory(organization=org)


@pytest.fixture
def other_project(db) -> Project:
    """A project of another organization."""
    return ProjectFactory()


@pytest.fixture
def vendor(org) -> Vendor:
    return VendorFactory(organization=org, name="Riverbank Restoration")


Person = Callable[..., User]


@pytest.fixture
def person(project) -> Person:
    """``person(*roles, on=project, vendor=None)``: a new user holding project roles (VENDOR acts for ``vendor``)."""

    def _person(*roles: ProjectRole, on: Project | None = None, vendor: Vendor | None = None) -> User:
        user = UserFactory()
        for role in roles:
            extra = {"vendor": vendor} if role == ProjectRole.VENDOR and vendor is not None else {}
            ProjectRoleFactory(project=on or project, user=user, role=role, **extra)
        return user

    return _person


@pytest.fixture
def system_person(db) -> Callable[[SystemRole], User]:
    def _system_person(role: SystemRole) -> User:
        user = UserFactory()
        SystemRoleAssignment.objects.create(user=user, role=role)
        return user

    return _system_person


@pytest.fixture
def procurement(person) -> User:
    return person(ProjectRole.PROCUREMENT)


@pytest.fixture
def reviewer(person) -> User:
    return person(ProjectRole.FINANCE_REVIEWER)


@pytest.fixture
def vendor_user(vendor) -> User:
    """A user account acting for ``vendor`` (linked; no project role)."""
    user = UserFactory(email="vera@riverbank.example.test")
    VendorUser.objects.create(vendor=vendor, user=user)
    return user


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def _client_for(user: User) -> Client:
        secret = api_token_create(email=user.email, name="tests").secret
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    return _client_for


def on_file(
    vendor: Vendor,
    kind: DocumentKind | str,
    *,
    valid_until: dt.date | None = None,
    status: DocumentStatus | str = DocumentStatus.VERIFIED,
    uploaded_by: User | None = None,
    reviewer: User | None = None,
    content: bytes | None = None,
) -> VendorDocument:
    """A document put on file directly (test setup only: real ones go through upload and verify)."""
    content = content or pdf_bytes(str(kind))
    uploader = uploaded_by or UserFactory()
    document = VendorDocument(
        vendor=vendor,
        kind=kind,
        original_filename=f"{kind}.pdf",
        content_type="application/pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=uploader,
        valid_until=valid_until,
        status=status,
    )
    if status == DocumentStatus.VERIFIED:
        document.verified_by = reviewer or UserFactory()
        document.verified_at = timezone.now()
    elif status == DocumentStatus.REJECTED:
        document.rejected_by = reviewer or UserFactory()
        document.rejected_at = timezone.now()
    document.file.save(f"{document.pk}.pdf", ContentFile(content), save=False)
    document.save()
    if kind == DocumentKind.COI and status == DocumentStatus.VERIFIED:
        Vendor.objects.filter(pk=vendor.pk).update(coi_expiry=valid_until)
        vendor.refresh_from_db()
    return document


def compliant(vendor: Vendor, *, coi_until: dt.date) -> Vendor:
    """Make ``vendor`` (a W-9 vendor) pass every check through ``coi_until``."""
    Vendor.objects.filter(pk=vendor.pk).update(kyc_status="passed", kyc_reviewed_at=timezone.now())
    vendor.refresh_from_db()
    on_file(vendor, DocumentKind.W9)
    on_file(vendor, DocumentKind.COI, valid_until=coi_until)
    return vendor


def state(media: Path) -> tuple[object, ...]:
    """Everything a refused request must leave untouched."""
    return (
        list(Vendor.objects.order_by("id").values()),
        list(VendorUser.objects.order_by("id").values_list("id", "vendor_id", "user_id")),
        list(VendorDocument.objects.order_by("id").values()),
        list(ProjectRoleAssignment.objects.order_by("id").values_list("id", "vendor_id", "revoked_at")),
        AuditEvent.objects.count(),
        stored_files(media),
    )


def pytest_collection_modifyitems(config, items):
    """Every vendors test touches the database: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/vendors/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)
