from __future__ import annotations

import datetime as dt

import pytest

from payor.core.money import Money, UnknownCurrency
from payor.projects.errors import FundingAmountInvalid, FundingCurrencyMismatch, ProjectDatesInvalid
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
    usdc = bucket_ensure(project=project, currency="USDC")
    assert bucket_ensure(project=project, currency="USDC") == usdc
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
