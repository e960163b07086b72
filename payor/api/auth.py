"""API authentication: bearer personal tokens, or the browser session (with CSRF)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from payor.accounts.errors import TokenInvalid
from payor.accounts.models import User
from payor.accounts.services import api_token_authenticate


class BearerToken(HttpBearer):
    openapi_description = "Personal API token: `Authorization: Bearer payor_…` (create with `payor token create`)."

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = api_token_authenticate(secret=token)  # raises TokenInvalid (401) on a bad token
        request.user = user
        return user


def principal(request: HttpRequest) -> User | None:
    """The authenticated user of a request, by bearer token or session, without raising."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        try:
            return api_token_authenticate(secret=token.strip())
        except TokenInvalid:
            return None
    user: Any = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None


API_AUTH = [BearerToken(), django_auth]
