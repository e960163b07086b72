"""Test helpers for the milestone flow (work requests, submissions), shared by the contracts and notifications
tests: a compliant contractor with an acting user, a second contractor, and builders for each stage."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from payor.accounts.models import User
from payor.contracts.models import Milestone, Submission, WorkRequest
from payor.contracts.services import (
    MilestoneIn,
    Terms,
    UploadIn,
    submission_create,
    submission_review,
    work_request_accept,
    work_request_create,
    work_request_send,
)
from payor.core.money import Money
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.models import Vendor

#: The worked example's milestones: (title, amount, WBS code). Total 39,845.68 (1.1: 32,345.67; 1.2: 7,500.01).
DEFAULT_MILESTONES: tuple[tuple[str, str, str], ...] = (
    ("Site preparation", "12345.67", "1.1"),
    ("Planting", "20000.00", "1.1"),
    ("Monitoring report", "7500.01", "1.2"),
)

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def pdf_upload(name: str = "report.pdf", text: str = "deliverable") -> UploadIn:
    content = PDF.replace(b"endobj", f"endobj\n% {text}".encode(), 1)
    return UploadIn(file=io.BytesIO(content), filename=name)


@dataclass
class Flow:
    """The contracts tests' ``World`` plus two contractors, each with one acting user."""

    world: Any
    vendor: Vendor
    contractor: User
    other_vendor: Vendor
    other_contractor: User
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pm(self) -> User:
        return self.world.people["pm"]

    def milestones(self, *specs: tuple[str, str, str]) -> list[MilestoneIn]:
        return [
            MilestoneIn(
                title=title,
                amount=usd(amount),
                budget_line_id=self.world.lines[code].pk,
                description=f"{title} as specified",
                acceptance_criteria=f"{title} signed off on site",
                due_date=dt.date(2026, 12, 1) + dt.timedelta(days=30 * index),
            )
            for index, (title, amount, code) in enumerate(specs or DEFAULT_MILESTONES)
        ]

    def draft(self, *specs: tuple[str, str, str], vendor: Vendor | None = None, **fields: Any) -> WorkRequest:
        fields.setdefault("retention_percent", Decimal("5.00"))
        fields.setdefault("terms", Terms(kind="net_days", net_days=7))
        return work_request_create(
            actor=self.pm,
            project=self.world.project,
            vendor=vendor or self.vendor,
            title=fields.pop("title", "Riparian planting, plot A"),
            scope=fields.pop("scope", "Prepare, plant and monitor plot A"),
            milestones=self.milestones(*specs),
            **fields,
        )

    def sent(self, *specs: tuple[str, str, str], **fields: Any) -> WorkRequest:
        return work_request_send(actor=self.pm, work_request=self.draft(*specs, **fields))

    def accepted(self, *specs: tuple[str, str, str], **fields: Any) -> WorkRequest:
        work_request = self.sent(*specs, **fields)
        return work_request_accept(
            actor=self.contractor, work_request=work_request, terms_sha256=work_request.terms_sha256
        )

    def milestone(self, work_request: WorkRequest, position: int = 1) -> Milestone:
        return work_request.milestones.get(position=position)

    def submit(self, milestone: Milestone, note: str = "Done, see the report", files: int = 1) -> Submission:
        return submission_create(
            actor=self.contractor,
            milestone=milestone,
            note=note,
            files=[pdf_upload(f"report-{i}.pdf", f"{milestone.pk}-{i}") for i in range(files)],
        )

    def approve(self, submission: Submission, reviewer: User | None = None) -> Submission:
        return submission_review(actor=reviewer or self.pm, submission=submission, decision="approved")


def flow_for(world: Any, compliant: Any) -> Flow:
    """Two compliant contractors of the world's organization, each with one user holding its VENDOR role."""
    vendor = compliant(VendorFactory(organization=world.project.organization, name="Willow Creek Restoration"))
    other = compliant(VendorFactory(organization=world.project.organization, name="Alder Ecology"))
    contractor = cast(User, UserFactory(email="crew@willow.test"))
    ProjectRoleFactory(project=world.project, user=contractor, role=ProjectRole.VENDOR, vendor=vendor)
    other_contractor = cast(User, UserFactory(email="crew@alder.test"))
    ProjectRoleFactory(project=world.project, user=other_contractor, role=ProjectRole.VENDOR, vendor=other)
    return Flow(
        world=world, vendor=vendor, contractor=contractor, other_vendor=other, other_contractor=other_contractor
    )
