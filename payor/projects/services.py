"""Writes for projects: lock, check, write (ledger, audit and events join as they land)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from payor.accounts.models import Organization, User
from payor.core.money import Money, get_currency
from payor.ledger import services as ledger
from payor.projects.errors import (
    FundingAmountInvalid,
    FundingCurrencyMismatch,
    OrganizationNotFound,
    ProjectDatesInvalid,
    ProjectNameTaken,
)
from payor.projects.models import FundingBucket, FundingEvent, Project, ProjectPhase, ProjectStatus
from payor.rbac.services import role_bootstrap


def project_create(
    *,
    actor: User,
    organization: Organization,
    name: str,
    currency: str,
    description: str = "",
    phase: str = ProjectPhase.ORIGINATION,
    status: str = ProjectStatus.ACTIVE,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
) -> Project:
    """Create a project and its Lift Forward bucket in the project currency, in one transaction."""
    get_currency(currency)  # raises currency_unknown
    if start_date and end_date and end_date < start_date:
        raise ProjectDatesInvalid(f"end_date {end_date} is before start_date {start_date}")
    if not actor.is_superuser and not organization.memberships.filter(user=actor).exists():
        raise OrganizationNotFound()
    try:
        with transaction.atomic():
            project = Project.objects.create(
                organization=organization,
                name=name.strip(),
                description=description,
                currency=currency,
                phase=phase,
                status=status,
                start_date=start_date,
                end_date=end_date,
                created_by=actor,
            )
            FundingBucket.objects.create(project=project, kind=FundingBucket.Kind.LIFT_FORWARD, currency=currency)
            # The creator becomes the project's PROJECT_MANAGER (audited as role.assigned).
            role_bootstrap(project=project, user=actor)
    except IntegrityError as exc:
        if "projects_project_name_unique_per_org" in str(exc):
            raise ProjectNameTaken(f"{organization.name} already has a project named {name!r}") from exc
        raise
    return project


def bucket_ensure(*, project: Project, currency: str) -> FundingBucket:
    """The project's Lift Forward bucket for ``currency`` (created on first use)."""
    get_currency(currency)
    bucket, _ = FundingBucket.objects.get_or_create(
        project=project, kind=FundingBucket.Kind.LIFT_FORWARD, currency=currency
    )
    return bucket


@transaction.atomic
def funding_record(
    *,
    actor: User | None,
    bucket: FundingBucket,
    amount: Money,
    source: str,
    received_on: dt.date,
    reference: str = "",
    tx_hash: str = "",
) -> FundingEvent:
    """Record money arriving in a bucket and post it to the ledger (funding → available), atomically."""
    bucket = FundingBucket.objects.select_for_update().get(pk=bucket.pk)
    if amount.currency.code != bucket.currency:
        raise FundingCurrencyMismatch(f"bucket is in {bucket.currency}, amount is in {amount.currency.code}")
    if not amount.is_positive:
        raise FundingAmountInvalid()
    event = FundingEvent(
        bucket=bucket,
        source=source,
        currency=bucket.currency,
        received_on=received_on,
        reference=reference,
        tx_hash=tx_hash,
        recorded_by=actor,
    )
    event.amount = amount
    event.save()
    ledger.fund(bucket=bucket, amount=amount, key=f"funding:{event.pk}", actor_id=actor.pk if actor else None)
    return event
