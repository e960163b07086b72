"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest
from django.test import Client

from payor.accounts.services import api_token_create
from payor.testing.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def user(org):
    member = UserFactory()
    MembershipFactory(organization=org, user=member)
    return member


@pytest.fixture
def token(user) -> str:
    return api_token_create(email=user.email, name="tests").secret


@pytest.fixture
def api(token) -> Client:
    """A client authenticated with a bearer token, sending JSON."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")
