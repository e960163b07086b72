from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payor.accounts.models import ApiToken, User
from payor.accounts.services import api_token_authenticate

pytestmark = pytest.mark.django_db


def test_createuser_then_token_create_prints_a_working_secret(org):
    call_command("createuser", email="pm@example.test", password="a long passphrase 2026", organization=org.slug)
    user = User.objects.get(email="pm@example.test")
    assert user.memberships.get().organization == org
    out = StringIO()
    call_command("token", "create", "--user", "pm@example.test", "--name", "laptop", stdout=out, stderr=StringIO())
    secret = out.getvalue().strip()
    assert api_token_authenticate(secret=secret) == user
    listing = StringIO()
    call_command("token", "list", "--user", "pm@example.test", stdout=listing)
    assert "laptop\tactive" in listing.getvalue()
    call_command("token", "revoke", ApiToken.objects.get().prefix, stdout=StringIO())
    assert ApiToken.objects.get().revoked_at is not None


def test_createuser_refuses_duplicates_and_unknown_organizations(user):
    with pytest.raises(CommandError, match="user_exists"):
        call_command("createuser", email=user.email, password="a long passphrase 2026")
    with pytest.raises(CommandError, match="no organization"):
        call_command("createuser", email="x@example.test", password="a long passphrase 2026", organization="nope")
    assert not User.objects.filter(email="x@example.test").exists()


def test_token_create_for_unknown_user_fails():
    with pytest.raises(CommandError, match="user_not_found"):
        call_command("token", "create", "--user", "ghost@example.test", stdout=StringIO())
