"""Reads for projects. Every selector takes the viewer so scoping cannot be skipped."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from payor.accounts.models import Organization, User
from payor.core.errors import NotFound
from payor.core.money import Money
from payor.ledger import selectors as ledger_selectors
from payor.projects.models import FundingBucket, Project


def organization_list(*, viewer: User) -> QuerySet[Organization]:
    if viewer.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=viewer)


def project_list(*, viewer: User) -> QuerySet[Project]:
    """Projects the viewer may see: those of their organizations (all, for platform admins).

    Project-level roles (rbac) narrow this further once they exist.
    """
    projects = Project.objects.select_related("organization")
    if viewer.is_superuser:
        return projects
    return projects.filter(organization__memberships__user=viewer)


def project_get(*, viewer: User, project_id: UUID | str) -> Project:
    try:
        return project_list(viewer=viewer).prefetch_related("buckets").get(pk=project_id)
    except (Project.DoesNotExist, ValueError) as exc:
        raise NotFound("No such project", code="project_not_found") from exc


def bucket_funded_total(*, bucket: FundingBucket) -> Money:
    """What a bucket has been funded, from the ledger's funding account."""
    figures = ledger_selectors.project_summary(project_id=bucket.project_id).get(bucket.currency)
    return figures.funded if figures else Money.zero(bucket.currency)


def project_figures(*, project: Project) -> list[ledger_selectors.Figures]:
    """Ledger figures for each of the project's buckets (zero for a bucket with no activity yet)."""
    summary = ledger_selectors.project_summary(project_id=project.pk)
    return [
        summary.get(bucket.currency) or ledger_selectors.Figures.zero(bucket.currency)
        for bucket in project.buckets.all()
    ]
