from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payor.accounts.models import ApiToken
from payor.accounts.services import api_token_create, api_token_revoke
from payor.projects.models import Project
from payor.testing.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_valid_token_authenticates_and_records_use(user, token):
    assert bearer(token).get("/api/v1/projects").status_code == 200
    assert ApiToken.objects.get(user=user).last_used_at is not None


def test_only_a_digest_of_the_token_is_stored(user, token):
    stored = ApiToken.objects.get(user=user)
    assert token not in (stored.digest, stored.prefix)
    assert len(stored.digest) == 64
    assert token.startswith(f"payor_{stored.prefix}_")


@pytest.mark.parametrize(
    "secret",
    ["garbage", "payor_abc", "payor_000000000000_wrongsecret", "Bearer", "payor__"],
)
def test_unknown_tokens_are_401_token_invalid(user, token, secret):
    response = bearer(secret).get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_tampered_secret_with_a_real_prefix_is_refused(token):
    response = bearer(token[:-2] + "xx").get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_revoked_token_is_refused(user, token):
    api_token_revoke(token=ApiToken.objects.get(user=user))
    assert bearer(token).get("/api/v1/projects").json()["code"] == "token_invalid"


def test_expired_token_is_refused(user):
    issued = api_token_create(email=user.email, name="old", expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(issued.secret).get("/api/v1/projects").json()["code"] == "token_invalid"


def test_inactive_user_token_is_refused(user, token):
    user.is_active = False
    user.save()
    assert bearer(token).get("/api/v1/projects").json()["code"] == "token_invalid"


def test_session_auth_works_for_reads(user):
    client = Client()
    assert client.login(email=user.email, password=TEST_PASSWORD)
    assert client.get("/api/v1/projects").status_code == 200


def test_session_writes_need_csrf(user, org):
    client = Client(enforce_csrf_checks=True)
    assert client.login(email=user.email, password=TEST_PASSWORD)
    payload = {"organization_id": str(org.pk), "name": "P", "currency": "USD"}
    refused = client.post("/api/v1/projects", data=payload, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    assert Project.objects.count() == 0
    client.get("/projects/")  # the page uses the CSRF token, which sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/projects", data=payload, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201
