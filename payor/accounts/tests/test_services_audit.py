"""Identity writes land in the audit log in the same transaction; a token's secret never does."""

from __future__ import annotations

import pytest

from payor.accounts.errors import UserExists
from payor.accounts.services import (
    api_token_create,
    api_token_revoke,
    membership_ensure,
    organization_create,
    user_create,
)
from payor.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("seq").values_list("action", "subject_type", "actor_label"))


def test_user_organization_and_membership_are_audited(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin = user_create(email="Root@Example.test", password=None, is_superuser=True)
    org = organization_create(name="Orenna DAO LLC", kind="dao", actor=admin)
    member = user_create(email="pm@example.test", password="a long enough passphrase 42", actor=admin)
    membership_ensure(organization=org, user=member, actor=admin)
    membership_ensure(organization=org, user=member, actor=admin)  # already a member: nothing recorded
    assert actions() == [
        ("user.created", "accounts.user", "system"),
        ("organization.created", "accounts.organization", "root@example.test"),
        ("user.created", "accounts.user", "root@example.test"),
        ("membership.added", "accounts.membership", "root@example.test"),
    ]
    created = AuditEvent.objects.get(action="user.created", subject_id=str(member.pk))
    assert created.after == {"email": "pm@example.test", "full_name": "", "is_superuser": False}
    assert "password" not in str(created.after)


def test_a_refused_user_records_nothing():
    user_create(email="a@example.test", password=None)
    before = AuditEvent.objects.count()
    with pytest.raises(UserExists):
        user_create(email="A@example.test", password=None)
    assert AuditEvent.objects.count() == before


def test_tokens_are_audited_without_their_secret():
    user = user_create(email="t@example.test", password=None)
    issued = api_token_create(email=user.email, name="ci")
    api_token_revoke(token=issued.token, actor=user)
    api_token_revoke(token=issued.token, actor=user)  # already revoked: nothing recorded
    created, revoked = AuditEvent.objects.filter(subject_type="accounts.apitoken").order_by("seq")
    assert (created.action, revoked.action) == ("api_token.created", "api_token.revoked")
    assert created.after["prefix"] == issued.token.prefix
    assert created.after["revoked_at"] is None
    assert revoked.before["revoked_at"] is None
    assert revoked.after["revoked_at"] is not None
    secret_part = issued.secret.rsplit("_", 1)[1]
    for event in (created, revoked):
        assert secret_part not in str(event.before) + str(event.after)
        assert issued.token.digest not in str(event.before) + str(event.after)
