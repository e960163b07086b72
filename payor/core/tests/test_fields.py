from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from payor.core.money import CurrencyMismatch, Money
from payor.projects.models import FundingEvent
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def event(bucket, amount):
    instance = FundingEvent(
        bucket=bucket, source="lift_bond", received_on=dt.date(2026, 1, 2), currency=bucket.currency
    )
    instance.amount = amount
    return instance


def test_money_field_round_trips_exact_minor_units():
    bucket = ProjectFactory(currency="USDC").buckets.get()
    saved = event(bucket, Money.parse("1234567.123456", "USDC"))
    saved.save()
    loaded = FundingEvent.objects.get(pk=saved.pk)
    assert loaded.amount == Money.of_minor(1_234_567_123_456, "USDC")
    assert loaded.amount.amount_str() == "1234567.123456"


def test_money_field_lookups_accept_money():
    bucket = ProjectFactory().buckets.get()
    event(bucket, Money.parse("10.00", "USD")).save()
    event(bucket, Money.parse("99.99", "USD")).save()
    assert FundingEvent.objects.filter(amount__gte=Money.parse("50", "USD")).count() == 1


def test_assigning_another_currency_is_refused():
    bucket = ProjectFactory().buckets.get()
    instance = event(bucket, Money.parse("1.00", "USD"))
    with pytest.raises(CurrencyMismatch):
        instance.amount = Money.parse("1.00", "EUR")
    assert instance.amount == Money.parse("1.00", "USD")


def test_floats_are_refused_in_queries():
    with pytest.raises(TypeError):
        FundingEvent.objects.filter(amount=1.5).count()


def test_database_refuses_non_positive_funding():
    bucket = ProjectFactory().buckets.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        event(bucket, Money.zero("USD")).save()
    assert FundingEvent.objects.count() == 0
