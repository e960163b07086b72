"""Writes for identity: users, organizations, API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from payor.accounts.errors import TokenInvalid, UserExists, UserNotFound
from payor.accounts.models import ApiToken, Membership, Organization, User
from payor.core.errors import ValidationFailed

TOKEN_PREFIX = "payor"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_create(
    *, email: str, password: str | None, full_name: str = "", is_superuser: bool = False, check_password: bool = True
) -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise UserExists(f"A user with email {email} already exists")
    if password and check_password:
        try:
            validate_password(password, User(email=email, full_name=full_name))
        except ValidationError as exc:
            raise ValidationFailed("; ".join(exc.messages), code="password_too_weak") from exc
    if is_superuser:
        return User.objects.create_superuser(email, password, full_name=full_name)
    return User.objects.create_user(email, password, full_name=full_name)


def organization_create(*, name: str, kind: str = Organization.Kind.COMPANY, slug: str | None = None) -> Organization:
    return Organization.objects.create(name=name, kind=kind, slug=slug or slugify(name)[:80])


def membership_ensure(*, organization: Organization, user: User) -> Membership:
    membership, _ = Membership.objects.get_or_create(organization=organization, user=user)
    return membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def api_token_create(*, email: str, name: str, expires_at: datetime | None = None) -> IssuedToken:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise UserNotFound(f"No user with email {email}")
    prefix = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, digest=_digest(secret), expires_at=expires_at)
    return IssuedToken(token=token, secret=secret)


def api_token_authenticate(*, secret: str) -> User:
    """Return the active user owning ``secret`` or raise ``TokenInvalid``."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[2]:
        raise TokenInvalid()
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    now = timezone.now()
    if (
        token is None
        or not hmac.compare_digest(token.digest, _digest(secret))
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not token.user.is_active
    ):
        raise TokenInvalid()
    # Record use at most once a minute to keep authenticated reads read-only in the common case.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token
