"""Writes for identity: users, organizations, API tokens. Each is audited in its own transaction."""

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

from payor import audit
from payor.accounts.errors import TokenInvalid, UserExists, UserNotFound
from payor.accounts.models import ApiToken, Membership, Organization, User
from payor.core.errors import ValidationFailed

TOKEN_PREFIX = "payor"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    full_name: str = "",
    is_superuser: bool = False,
    check_password: bool = True,
    actor: User | None = None,
) -> User:
    """Create a user (audited as ``user.created``; ``actor`` None is an operator command)."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise UserExists(f"A user with email {email} already exists")
    if password and check_password:
        try:
            validate_password(password, User(email=email, full_name=full_name))
        except ValidationError as exc:
            raise ValidationFailed("; ".join(exc.messages), code="password_too_weak") from exc
    if is_superuser:
        user = User.objects.create_superuser(email, password, full_name=full_name)
    else:
        user = User.objects.create_user(email, password, full_name=full_name)
    after = {"email": user.email, "full_name": user.full_name, "is_superuser": user.is_superuser}
    audit.record(actor, "user.created", user, after=after)
    return user


@transaction.atomic
def organization_create(
    *, name: str, kind: str = Organization.Kind.COMPANY, slug: str | None = None, actor: User | None = None
) -> Organization:
    organization = Organization.objects.create(name=name, kind=kind, slug=slug or slugify(name)[:80])
    after = {"name": organization.name, "kind": organization.kind, "slug": organization.slug}
    audit.record(actor, "organization.created", organization, after=after)
    return organization


@transaction.atomic
def membership_ensure(*, organization: Organization, user: User, actor: User | None = None) -> Membership:
    """``user`` belongs to ``organization`` (audited as ``membership.added`` when it is new)."""
    membership, created = Membership.objects.get_or_create(organization=organization, user=user)
    if created:
        after = {"organization": organization.pk, "user": user.pk}
        audit.record(actor, "membership.added", membership, after=after)
    return membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def _token_snapshot(token: ApiToken) -> dict[str, object]:
    """What the audit log keeps of a token: never its secret or digest."""
    return {
        "user": token.user_id,
        "name": token.name,
        "prefix": token.prefix,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


@transaction.atomic
def api_token_create(
    *, email: str, name: str, expires_at: datetime | None = None, actor: User | None = None
) -> IssuedToken:
    """Issue a personal API token for the user with ``email`` (audited as ``api_token.created``)."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise UserNotFound(f"No user with email {email}")
    prefix = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, digest=_digest(secret), expires_at=expires_at)
    audit.record(actor, "api_token.created", token, after=_token_snapshot(token))
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
def api_token_revoke(*, token: ApiToken, actor: User | None = None) -> ApiToken:
    """Revoke ``token`` (audited as ``api_token.revoked``); revoking a revoked token changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        before = _token_snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        audit.record(actor, "api_token.revoked", token, before=before, after=_token_snapshot(token))
    return token
