from __future__ import annotations

import pytest

from payor.accounts.models import Organization, User
from payor.core.money import Money
from payor.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed
from payor.projects.models import FundingEvent, Project
from payor.projects.selectors import bucket_funded_total

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return (Organization.objects.count(), User.objects.count(), Project.objects.count(), FundingEvent.objects.count())


def test_seed_creates_users_for_every_role_and_a_funded_project():
    result = seed()
    assert {spec.role for spec, _ in result.users} >= {
        "Project manager",
        "Finance reviewer",
        "Treasurer",
        "DAO multisig signer",
        "Auditor (read-only)",
        "Beneficiary (read-only)",
        "Vendor / contractor",
        "Procurement",
        "Platform admin",
    }
    for spec in DEMO_USERS:
        assert User.objects.get(email=spec.email).check_password(DEMO_PASSWORD)
    klamath = Project.objects.get(name="Klamath River Riparian Restoration")
    assert bucket_funded_total(bucket=klamath.buckets.get()) == Money.parse("1048500.00", "USD")


def test_seed_is_idempotent():
    seed()
    before = counts()
    seed()
    assert counts() == before
