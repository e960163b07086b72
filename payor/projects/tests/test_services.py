from __future__ import annotations

import datetime as dt

import pytest

from payor.audit.models import AuditEvent
from payor.core.money import Money, UnknownCurrency
from payor.projects.errors import (
    FundingAmountInvalid,
    FundingCurrencyMismatch,
    FundingSourceInvalid,
    ProjectDatesInvalid,
)
from payor.projects.models import FundingBucket, FundingEvent, Project
from payor.projects.selectors import bucket_funded_total
from payor.projects.services import bucket_ensure, funding_record, project_create

pytestmark = pytest.mark.django_db


def test_project_create_makes_one_bucket_in_project_currency(user, org):
    project = project_create(actor=user, organization=org, name="P", currency="EUR")
    assert [(b.kind, b.currency) for b in project.buckets.all()] == [("lift_forward", "EUR")]


def test_unknown_currency_and_bad_dates_write_nothing(user, org):
    with pytest.raises(UnknownCurrency):
        project_create(actor=user, organization=org, name="P", currency="DOGE")
    with pytest.raises(ProjectDatesInvalid):
        project_create(
            actor=user,
            organization=org,
            name="P",
            currency="USD",
            start_date=dt.date(2026, 2, 1),
            end_date=dt.date(2026, 1, 1),
        )
    assert Project.objects.count() == 0
    assert FundingBucket.objects.count() == 0


def test_bucket_ensure_is_one_per_currency(user, org):
    project = project_create(actor=user, organization=org, name="P", currency="USD")
    usdc = bucket_ensure(actor=user, project=project, currency="USDC")
    assert bucket_ensure(actor=user, project=project, currency="USDC") == usdc
    assert project.buckets.count() == 2


def test_funding_totals_are_exact(user, org):
    project = project_create(actor=user, organization=org, name="P", currency="USD")
    bucket = project.buckets.get()
    for amount in ("750000.00", "250000.00", "0.01"):
        funding_record(
            actor=user,
            bucket=bucket,
            amount=Money.parse(amount, "USD"),
            source="lift_bond",
            received_on=dt.date(2026, 1, 1),
        )
    assert bucket_funded_total(bucket=bucket) == Money.parse("1000000.01", "USD")


def test_funding_in_the_wrong_currency_or_non_positive_is_refused(user, org):
    bucket = project_create(actor=user, organization=org, name="P", currency="USD").buckets.get()
    with pytest.raises(FundingCurrencyMismatch):
        funding_record(
            actor=user,
            bucket=bucket,
            amount=Money.parse("5", "EUR"),
            source="lift_bond",
            received_on=dt.date(2026, 1, 1),
        )
    with pytest.raises(FundingAmountInvalid):
        funding_record(
            actor=user,
            bucket=bucket,
            amount=Money.parse("-5", "USD"),
            source="lift_bond",
            received_on=dt.date(2026, 1, 1),
        )
    assert FundingEvent.objects.count() == 0
    assert bucket_funded_total(bucket=bucket) == Money.zero("USD")


def test_project_creation_bucket_and_funding_are_audited_in_order(user, org):
    project = project_create(actor=user, organization=org, name="Klamath", currency="USD")
    usdc = bucket_ensure(actor=user, project=project, currency="USDC")
    bucket_ensure(actor=user, project=project, currency="USDC")  # exists: nothing recorded
    event = funding_record(
        actor=user,
        bucket=usdc,
        amount=Money.parse("1250.50", "USDC"),
        source="treasury_allocation",
        received_on=dt.date(2026, 3, 2),
        tx_hash="0x" + "ab" * 32,
    )
    events = list(AuditEvent.objects.filter(project_id=project.pk).order_by("seq"))
    assert [(e.action, e.subject_type, e.actor_id) for e in events] == [
        ("project.created", "projects.project", user.pk),
        ("role.assigned", "rbac.projectroleassignment", user.pk),
        ("bucket.created", "projects.fundingbucket", user.pk),
        ("funding.recorded", "projects.fundingevent", user.pk),
    ]
    assert events[0].after["name"] == "Klamath"
    assert events[0].after["currency"] == "USD"
    assert events[2].subject_id == str(usdc.pk)
    assert events[3].subject_id == str(event.pk)
    assert events[3].after["amount"] == {"amount": "1250.500000", "currency": "USDC"}
    assert events[3].after["tx_hash"] == "0x" + "ab" * 32


def test_refused_funding_records_no_audit_event(user, org):
    bucket = project_create(actor=user, organization=org, name="P", currency="USD").buckets.get()
    before = AuditEvent.objects.count()
    with pytest.raises(FundingCurrencyMismatch):
        funding_record(
            actor=user,
            bucket=bucket,
            amount=Money.parse("10.00", "EUR"),
            source="lift_bond",
            received_on=dt.date(2026, 1, 1),
        )
    assert AuditEvent.objects.count() == before


def test_unknown_funding_source_is_refused_and_writes_nothing(user, org):
    bucket = project_create(actor=user, organization=org, name="P", currency="USD").buckets.get()
    before = (FundingEvent.objects.count(), AuditEvent.objects.count())
    with pytest.raises(FundingSourceInvalid):
        funding_record(
            actor=user,
            bucket=bucket,
            amount=Money.parse("10.00", "USD"),
            source="dao_treasury",
            received_on=dt.date(2026, 1, 1),
        )
    assert (FundingEvent.objects.count(), AuditEvent.objects.count()) == before
    assert bucket_funded_total(bucket=bucket) == Money.zero("USD")
