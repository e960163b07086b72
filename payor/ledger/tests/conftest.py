from __future__ import annotations

import uuid

import pytest

from payor.core.money import Money
from payor.ledger import services as ledger
from payor.testing.factories import ProjectFactory


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


@pytest.fixture
def bucket(db):
    return ProjectFactory().buckets.get()


@pytest.fixture
def funded(bucket):
    ledger.fund(bucket=bucket, amount=usd("100000.00"), key="funding:seed")
    return bucket


@pytest.fixture
def party(funded):
    return ledger.Party(bucket=funded, contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())


def pytest_collection_modifyitems(config, items):
    """Every ledger test is database-facing: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/ledger/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)
