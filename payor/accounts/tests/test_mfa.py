"""Two-factor sign-in with TOTP (RFC 6238), as an authenticator app would do it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.test import Client

from payor.testing.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def totp(secret_b32: str, at: float | None = None) -> str:
    """An independent RFC 6238 implementation (SHA-1, 30 s, 6 digits), like authenticator apps."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def test_activate_totp_then_sign_in_needs_the_code(user):
    client = Client()
    assert client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD}).status_code == 302
    page = client.get("/accounts/2fa/totp/activate/", follow=True)
    if page.redirect_chain and "/accounts/reauthenticate/" in page.redirect_chain[-1][0]:
        # Security-sensitive changes ask for the password again.
        page = client.post(page.redirect_chain[-1][0], {"password": TEST_PASSWORD}, follow=True)
    assert page.status_code == 200
    assert page.request["PATH_INFO"] == "/accounts/2fa/totp/activate/"
    secret = client.session["mfa.totp.secret"]
    activated = client.post("/accounts/2fa/totp/activate/", {"code": totp(secret)})
    assert activated.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    client.post("/accounts/logout/")
    cache.clear()  # allauth refuses a code twice; a new 30 s window would do the same

    second = Client()
    step1 = second.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    assert step1.status_code == 302
    assert step1["Location"] == "/accounts/2fa/authenticate/"
    assert second.get("/projects/").status_code == 302  # not signed in yet
    wrong = second.post("/accounts/2fa/authenticate/", {"code": "000000" if totp(secret) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert second.get("/projects/").status_code == 302
    done = second.post("/accounts/2fa/authenticate/", {"code": totp(secret)})
    assert done.status_code == 302
    assert second.get("/projects/").status_code == 200
