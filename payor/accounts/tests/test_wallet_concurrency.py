"""Races over real parallel database connections: a nonce works once, an address links to one user."""

from __future__ import annotations

import pytest

from payor.accounts import wallets
from payor.accounts.errors import SiweNonceUsed, WalletAlreadyLinked
from payor.accounts.models import User, Wallet, WalletNonce
from payor.accounts.tests.siwe_helpers import DOMAIN, SCHEME, issue, key, link, sign
from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.testing.concurrency import race
from payor.testing.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.database_facing]

WORKERS = 8


def test_parallel_verifications_of_one_link_nonce_succeed_exactly_once(user):
    account = key("race")
    message = issue("link", account, user=user)
    signature = sign(account, message)
    events = AuditEvent.objects.count()

    def attempt() -> object:
        return wallets.wallet_link(actor=user, message=message, signature=signature, domain=DOMAIN, scheme=SCHEME)

    results = race([attempt] * WORKERS)
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, SiweNonceUsed)]
    assert (len(won), len(lost)) == (1, WORKERS - 1), results
    assert won[0][1] is True
    assert Wallet.objects.get().user == user
    assert WalletNonce.objects.get().used_at is not None
    assert AuditEvent.objects.count() == events + 1
    assert audit_verify().ok


def test_parallel_sign_ins_with_one_message_sign_in_exactly_once(user):
    account = key("race-sign-in")
    link(user, account)
    message = issue("sign_in", account)
    signature = sign(account, message)
    events = AuditEvent.objects.count()

    def attempt() -> object:
        return wallets.wallet_sign_in(message=message, signature=signature, domain=DOMAIN, scheme=SCHEME)

    results = race([attempt] * WORKERS)
    won = [r for r in results if isinstance(r, User)]
    lost = [r for r in results if isinstance(r, SiweNonceUsed)]
    assert (len(won), len(lost)) == (1, WORKERS - 1), results
    assert won[0] == user
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.order_by("-seq").first().action == "auth.wallet_signed_in"


def test_users_racing_to_link_one_address_leave_it_linked_to_exactly_one(org):
    account = key("contested")
    people = [UserFactory() for _ in range(4)]
    signed = []
    for person in people:
        message = issue("link", account, user=person)
        signed.append((person, message, sign(account, message)))
    events = AuditEvent.objects.count()

    results = race(
        [
            lambda person=person, message=message, signature=signature: wallets.wallet_link(
                actor=person, message=message, signature=signature, domain=DOMAIN, scheme=SCHEME
            )
            for person, message, signature in signed
        ]
    )
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, WalletAlreadyLinked)]
    assert (len(won), len(lost)) == (1, len(people) - 1), results
    wallet = Wallet.objects.get()
    assert wallet.user == won[0][0].user
    assert AuditEvent.objects.count() == events + 1
    # The losers' nonces were rolled back with their refusal: unused.
    assert WalletNonce.objects.filter(used_at__isnull=False).count() == 1
