"""Reads for projects. Every selector takes the viewer so scoping cannot be skipped."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet, Sum

from payor.accounts.models import Organization, User
from payor.core.errors import NotFound
from payor.core.money import Money
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
    """Sum of funding received by a bucket (the ledger's FUND total once it exists)."""
    total = bucket.funding_events.aggregate(total=Sum("amount"))["total"] or 0
    return Money.of_minor(int(total), bucket.currency)
