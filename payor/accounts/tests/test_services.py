from __future__ import annotations

import pytest

from payor.accounts.errors import TokenInvalid, UserExists, UserNotFound
from payor.accounts.models import User
from payor.accounts.services import api_token_authenticate, api_token_create, user_create
from payor.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_user_create_normalises_email_and_hashes_password():
    user = user_create(email="  Rosa@Riverworks.TEST ", password="a long passphrase 2026")
    assert user.email == "rosa@riverworks.test"
    assert user.check_password("a long passphrase 2026")
    assert user.password.startswith("scrypt$")


def test_duplicate_email_is_refused_case_insensitively():
    user_create(email="a@example.test", password="a long passphrase 2026")
    with pytest.raises(UserExists):
        user_create(email="A@EXAMPLE.test", password="a long passphrase 2026")
    assert User.objects.count() == 1


def test_weak_password_is_refused_with_code():
    with pytest.raises(ValidationFailed) as exc:
        user_create(email="a@example.test", password="short")
    assert exc.value.code == "password_too_weak"
    assert User.objects.count() == 0


def test_token_for_unknown_user_is_refused():
    with pytest.raises(UserNotFound):
        api_token_create(email="ghost@example.test", name="x")


def test_token_round_trip(user):
    issued = api_token_create(email=user.email.upper(), name="ci")
    assert api_token_authenticate(secret=issued.secret) == user
    with pytest.raises(TokenInvalid):
        api_token_authenticate(secret=issued.secret + "x")
