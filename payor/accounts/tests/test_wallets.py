"""Sign-In with Ethereum (EIP-4361): nonces, linking, signing in, unlinking — with real eth-account signatures."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django import app
from siwe import SiweMessage

from payor.accounts import wallets
from payor.accounts.errors import (
    AccountInactive,
    SiweChainUnsupported,
    SiweDomainMismatch,
    SiweMessageExpired,
    SiweMessageInvalid,
    SiweMessageNotYetValid,
    SiweNonceExpired,
    SiweNonceInvalid,
    SiweNonceUsed,
    SiweSignatureInvalid,
    SiweUriMismatch,
    WalletAddressInvalid,
)
from payor.accounts.models import User, Wallet, WalletNonce
from payor.accounts.tests.siwe_helpers import (
    DOMAIN,
    NONCE_URL,
    SCHEME,
    SIGN_IN_URL,
    WALLETS_URL,
    csrf_client,
    issue,
    key,
    link,
    post_json,
    rewrite,
    sign,
)
from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.core.errors import NotAuthenticated, ValidationFailed
from payor.testing.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fresh_throttle():
    """The nonce endpoint is rate limited per client address (the cache); every test starts afresh."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice_key():
    return key("alice")


@pytest.fixture
def mallory_key():
    return key("mallory")


def state() -> tuple[object, ...]:
    """Everything a refused attempt must leave as it was."""
    return (
        list(Wallet.objects.order_by("id").values_list("id", "user_id", "address", "label", "last_sign_in_at")),
        list(WalletNonce.objects.order_by("id").values_list("id", "used_at")),
        AuditEvent.objects.count(),
    )


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def do_link(user: User, message: str, signature: str):
    return wallets.wallet_link(actor=user, message=message, signature=signature, domain=DOMAIN, scheme=SCHEME)


def do_sign_in(message: str, signature: str) -> User:
    return wallets.wallet_sign_in(message=message, signature=signature, domain=DOMAIN, scheme=SCHEME)


def nonce_of(message: str) -> WalletNonce:
    return WalletNonce.objects.get(nonce=SiweMessage.from_message(message).nonce)


# -- nonces -------------------------------------------------------------------------------------------


def test_nonce_endpoint_returns_the_exact_message_to_sign(alice_key):
    response = post_json(
        Client(), NONCE_URL, {"purpose": "sign_in", "address": alice_key.address.lower(), "chain_id": 8453}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["nonce"])  # 128 random bits
    assert (body["purpose"], body["address"], body["chain_id"]) == ("sign_in", alice_key.address, 8453)
    issued_at = dt.datetime.fromisoformat(body["issued_at"])
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert expires_at - issued_at == dt.timedelta(minutes=10)
    message = SiweMessage.from_message(body["message"])
    assert message.prepare_message() == body["message"]
    assert (message.domain, message.uri, message.address, message.chain_id, message.nonce, message.version) == (
        DOMAIN,
        "http://testserver/",
        alice_key.address,
        8453,
        body["nonce"],
        "1",
    )
    assert message.statement == "Sign in to Payor with this wallet."
    assert dt.datetime.fromisoformat(message.expiration_time) == expires_at
    nonce = WalletNonce.objects.get(nonce=body["nonce"])
    assert (nonce.purpose, nonce.user, nonce.address, nonce.used_at) == ("sign_in", None, alice_key.address, None)
    assert (nonce.issued_at, nonce.expires_at) == (issued_at, expires_at)


def test_nonces_are_unique_and_the_lifetime_is_a_setting(settings, alice_key):
    settings.SIWE_NONCE_TTL_SECONDS = 120
    first = wallets.wallet_nonce_issue(purpose="sign_in", address=alice_key.address, chain_id=1, domain=DOMAIN)
    second = wallets.wallet_nonce_issue(purpose="sign_in", address=alice_key.address, chain_id=1, domain=DOMAIN)
    assert first.nonce.nonce != second.nonce.nonce
    assert first.nonce.expires_at - first.nonce.issued_at == dt.timedelta(seconds=120)


def test_link_nonces_need_an_account_and_name_it(user, token, alice_key):
    before = state()
    anonymous = post_json(Client(), NONCE_URL, {"purpose": "link", "address": alice_key.address, "chain_id": 1})
    problem(anonymous, 401, "not_authenticated")
    assert state() == before
    with pytest.raises(NotAuthenticated):
        wallets.wallet_nonce_issue(purpose="link", address=alice_key.address, chain_id=1, domain=DOMAIN)

    response = post_json(
        Client(),
        NONCE_URL,
        {"purpose": "link", "address": alice_key.address, "chain_id": 1},
        Authorization=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    assert f"Link this wallet to the Payor account {user.email}." in response.json()["message"]
    assert WalletNonce.objects.get(nonce=response.json()["nonce"]).user == user


def test_session_link_nonces_need_the_csrf_token(user, alice_key):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    body = {"purpose": "link", "address": alice_key.address, "chain_id": 1}
    problem(post_json(client, NONCE_URL, body), 403, "csrf_failed")
    assert WalletNonce.objects.count() == 0
    client.get("/accounts/wallet/")
    ok = post_json(client, NONCE_URL, body, **{"X-CSRFToken": client.cookies["csrftoken"].value})
    assert ok.status_code == 201, ok.content


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("0x1234", "wallet_address_invalid"),
        ("0x" + "g" * 40, "wallet_address_invalid"),
        ("0x52908400098527886E0F7030069857D2E4169Ee7", "wallet_address_invalid"),  # one letter's case flipped
    ],
)
def test_nonce_refuses_malformed_addresses(address, code):
    problem(post_json(Client(), NONCE_URL, {"purpose": "sign_in", "address": address, "chain_id": 1}), 422, code)
    assert WalletNonce.objects.count() == 0


def test_nonce_refuses_unsupported_chains(settings, alice_key):
    body = problem(
        post_json(Client(), NONCE_URL, {"purpose": "sign_in", "address": alice_key.address, "chain_id": 5}),
        422,
        "siwe_chain_unsupported",
    )
    assert "8453" in body["detail"]
    settings.SIWE_CHAIN_IDS = [10]
    problem(
        post_json(Client(), NONCE_URL, {"purpose": "sign_in", "address": alice_key.address, "chain_id": 1}),
        422,
        "siwe_chain_unsupported",
    )
    assert WalletNonce.objects.count() == 0


def test_the_nonce_endpoint_is_rate_limited(alice_key):
    body = {"purpose": "sign_in", "address": alice_key.address, "chain_id": 1}
    statuses = [post_json(Client(), NONCE_URL, body).status_code for _ in range(31)]
    assert statuses == [201] * 30 + [429]
    problem(post_json(Client(), NONCE_URL, body), 429, "rate_limited")
    assert WalletNonce.objects.count() == 30


# -- linking ------------------------------------------------------------------------------------------


def test_link_through_the_api_with_a_real_signature(user, api, token, alice_key):
    body = {"purpose": "link", "address": alice_key.address, "chain_id": 1}
    issued = post_json(api, NONCE_URL, body, Authorization=f"Bearer {token}").json()
    events = AuditEvent.objects.count()
    signature = sign(alice_key, issued["message"])
    response = post_json(api, WALLETS_URL, {"message": issued["message"], "signature": signature, "label": " Ledger "})
    assert response.status_code == 201, response.content
    out = response.json()
    assert (out["address"], out["chain_id"], out["label"], out["last_sign_in_at"]) == (
        alice_key.address,
        1,
        "Ledger",
        None,
    )
    wallet = Wallet.objects.get()
    assert (wallet.user, wallet.address, wallet.chain_id) == (user, alice_key.address, 1)
    assert WalletNonce.objects.get(nonce=issued["nonce"]).used_at is not None

    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor_id, event.subject_type, event.subject_id, event.project_id) == (
        "wallet.linked",
        user.pk,
        "accounts.wallet",
        str(wallet.pk),
        None,
    )
    assert event.before is None
    assert event.after == {"user_id": str(user.pk), "address": alice_key.address, "chain_id": 1, "label": "Ledger"}
    assert event.request_id == response["X-Request-ID"]
    assert audit_verify().ok

    listed = api.get(WALLETS_URL)
    assert listed.status_code == 200
    assert [item["address"] for item in listed.json()["results"]] == [alice_key.address]


def test_linking_an_address_you_already_linked_is_a_no_op(user, api, alice_key):
    wallet = link(user, alice_key, label="first")
    events = AuditEvent.objects.count()
    message = issue("link", alice_key, user=user)
    response = post_json(api, WALLETS_URL, {"message": message, "signature": sign(alice_key, message)})
    assert response.status_code == 200, response.content
    assert response.json()["label"] == "first"
    assert list(Wallet.objects.values_list("pk", flat=True)) == [wallet.pk]
    assert AuditEvent.objects.count() == events
    assert nonce_of(message).used_at is not None  # the nonce still served its one use


def test_an_address_linked_to_another_user_is_409_and_nothing_changes(user, api, alice_key):
    other = UserFactory()
    link(other, alice_key)
    message = issue("link", alice_key, user=user)
    before = state()
    body = problem(
        post_json(api, WALLETS_URL, {"message": message, "signature": sign(alice_key, message)}),
        409,
        "wallet_already_linked",
    )
    assert alice_key.address in body["detail"]
    assert state() == before
    assert Wallet.objects.get().user == other


def test_addresses_are_unique_whatever_their_case(user):
    wallet = link(user, key("case"))
    lower = Wallet(user=UserFactory(), address=wallet.address.lower(), chain_id=1, linked_at=timezone.now())
    with pytest.raises(Exception, match="accounts_wallet_address_ci_unique"):
        lower.save()


def test_a_replayed_link_message_is_refused(user, api, alice_key):
    message = issue("link", alice_key, user=user)
    signature = sign(alice_key, message)
    assert post_json(api, WALLETS_URL, {"message": message, "signature": signature}).status_code == 201
    before = state()
    problem(post_json(api, WALLETS_URL, {"message": message, "signature": signature}), 422, "siwe_nonce_used")
    assert state() == before


def test_an_expired_nonce_is_refused(user, alice_key):
    message = issue("link", alice_key, user=user)
    past = timezone.now() - dt.timedelta(minutes=11)
    WalletNonce.objects.update(issued_at=past - dt.timedelta(minutes=10), expires_at=past)
    before = state()
    with pytest.raises(SiweNonceExpired):
        do_link(user, message, sign(alice_key, message))
    assert state() == before


def test_an_expired_message_is_refused_even_with_a_live_nonce(user, alice_key):
    message = rewrite(issue("link", alice_key, user=user), expiration_time=timezone.now() - dt.timedelta(seconds=1))
    before = state()
    with pytest.raises(SiweMessageExpired):
        do_link(user, message, sign(alice_key, message))
    assert state() == before


@pytest.mark.parametrize("field", ["issued_at", "not_before"])
def test_a_message_from_the_future_is_refused(user, alice_key, field):
    message = rewrite(issue("link", alice_key, user=user), **{field: timezone.now() + dt.timedelta(minutes=5)})
    before = state()
    with pytest.raises(SiweMessageNotYetValid):
        do_link(user, message, sign(alice_key, message))
    assert state() == before


def test_a_little_clock_skew_is_tolerated(user, alice_key):
    message = rewrite(issue("link", alice_key, user=user), issued_at=timezone.now() + dt.timedelta(seconds=30))
    _wallet, created = do_link(user, message, sign(alice_key, message))
    assert created


def test_a_nonce_for_another_purpose_is_refused(user, alice_key):
    sign_in_message = issue("sign_in", alice_key)
    link(user, key("other"))
    link_message = issue("link", key("other"), user=user)
    before = state()
    with pytest.raises(SiweNonceInvalid, match="sign in"):
        do_link(user, sign_in_message, sign(alice_key, sign_in_message))
    assert state() == before
    with pytest.raises(SiweNonceInvalid, match="link a wallet"):
        do_sign_in(link_message, sign(key("other"), link_message))
    assert state() == before


def test_a_link_nonce_issued_to_someone_else_is_refused(user, alice_key):
    other = UserFactory()
    message = issue("link", alice_key, user=other)
    before = state()
    with pytest.raises(SiweNonceInvalid, match="another account"):
        do_link(user, message, sign(alice_key, message))
    assert state() == before


def test_an_unknown_nonce_is_refused(user, alice_key):
    message = rewrite(issue("link", alice_key, user=user), nonce="f" * 32)
    before = state()
    with pytest.raises(SiweNonceInvalid, match="not issued"):
        do_link(user, message, sign(alice_key, message))
    assert state() == before


def test_a_nonce_issued_for_another_address_or_chain_is_refused(user, alice_key, mallory_key):
    for changes, signer in (({"address": mallory_key.address}, mallory_key), ({"chain_id": 10}, alice_key)):
        message = rewrite(issue("link", alice_key, user=user), **changes)
        before = state()
        with pytest.raises(SiweNonceInvalid, match="another address or chain"):
            do_link(user, message, sign(signer, message))
        assert state() == before


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"domain": "evil.example"}, SiweDomainMismatch),
        ({"domain": "testserver:8443"}, SiweDomainMismatch),
        ({"scheme": "https"}, SiweDomainMismatch),
        ({"uri": "http://evil.example/"}, SiweUriMismatch),
        ({"uri": "https://testserver/"}, SiweUriMismatch),
        ({"uri": "http://attacker@testserver/"}, SiweUriMismatch),
        ({"chain_id": 5}, SiweChainUnsupported),
    ],
    ids=["domain", "domain port", "scheme", "uri host", "uri scheme", "uri userinfo", "chain"],
)
def test_messages_for_another_site_or_chain_are_refused_before_the_nonce(user, alice_key, changes, error):
    message = rewrite(issue("link", alice_key, user=user), **changes)
    before = state()
    with pytest.raises(error):
        do_link(user, message, sign(alice_key, message))
    assert state() == before  # the nonce is still usable


def test_the_expected_domain_is_the_request_host(user, alice_key):
    message = issue("link", alice_key, user=user)
    with pytest.raises(SiweDomainMismatch):
        wallets.wallet_link(
            actor=user, message=message, signature=sign(alice_key, message), domain="payor.example", scheme=SCHEME
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "testserver wants you to sign in with your Ethereum account:\n0xnot-an-address\n",
        "x" * 5000,
    ],
    ids=["empty", "prose", "bad address", "too long"],
)
def test_malformed_messages_are_refused_and_leave_the_nonce(user, text):
    before = state()
    with pytest.raises(SiweMessageInvalid):
        do_link(user, text, "0x" + "00" * 65)
    assert state() == before


def test_a_message_not_in_canonical_form_is_refused(user, alice_key):
    message = issue("link", alice_key, user=user).replace("\nChain ID: 1\n", "\nChain ID: 01\n")
    assert "Chain ID: 01" in message
    before = state()
    with pytest.raises(SiweMessageInvalid, match="canonical"):
        do_link(user, message, sign(alice_key, message))
    assert state() == before


def test_a_tampered_message_fails_the_signature_and_burns_the_nonce(user, alice_key):
    message = issue("link", alice_key, user=user)
    signature = sign(alice_key, message)
    tampered = message.replace("Link this wallet", "Link this wallat")
    with pytest.raises(SiweSignatureInvalid):
        do_link(user, tampered, signature)
    assert Wallet.objects.count() == 0
    assert nonce_of(message).used_at is not None
    with pytest.raises(SiweNonceUsed):
        do_link(user, message, signature)  # the genuine message can no longer be used either
    assert Wallet.objects.count() == 0


def test_a_signature_by_another_key_is_refused_and_burns_the_nonce(user, alice_key, mallory_key):
    message = issue("link", alice_key, user=user)
    events = AuditEvent.objects.count()
    with pytest.raises(SiweSignatureInvalid):
        do_link(user, message, sign(mallory_key, message))
    assert (Wallet.objects.count(), AuditEvent.objects.count()) == (0, events)
    assert nonce_of(message).used_at is not None
    with pytest.raises(SiweNonceUsed):
        do_link(user, message, sign(alice_key, message))


@pytest.mark.parametrize(
    "signature",
    ["", "0x", "0x1234", "0x" + "zz" * 65, "0x" + "00" * 65, "0x" + "ff" * 65, "0x" + "00" * 64, None, 42],
    ids=["empty", "0x", "short", "not hex", "zeros", "ones", "64 bytes", "None", "int"],
)
def test_malformed_signatures_are_refused_and_burn_the_nonce(user, alice_key, signature):
    message = issue("link", alice_key, user=user)
    with pytest.raises(SiweSignatureInvalid):
        do_link(user, message, signature)
    assert Wallet.objects.count() == 0
    assert nonce_of(message).used_at is not None


def test_malformed_signature_through_the_api(user, api, alice_key):
    message = issue("link", alice_key, user=user)
    problem(post_json(api, WALLETS_URL, {"message": message, "signature": "0xdeadbeef"}), 422, "siwe_signature_invalid")
    problem(post_json(api, WALLETS_URL, {"message": "nope", "signature": "0x"}), 422, "siwe_message_invalid")
    problem(post_json(api, WALLETS_URL, {"signature": "0x"}), 422, "validation_error")


def test_link_needs_authentication(alice_key):
    problem(post_json(Client(), WALLETS_URL, {"message": "m", "signature": "0x"}), 401, "not_authenticated")
    problem(Client().get(WALLETS_URL), 401, "not_authenticated")
    problem(Client().delete(f"{WALLETS_URL}/{alice_key.address}"), 401, "not_authenticated")


def test_labels_are_checked(user, alice_key):
    message = issue("link", alice_key, user=user)
    with pytest.raises(ValidationFailed) as refused:
        wallets.wallet_link(
            actor=user,
            message=message,
            signature=sign(alice_key, message),
            domain=DOMAIN,
            scheme=SCHEME,
            label="bell\x07",
        )
    assert refused.value.code == "wallet_label_invalid"
    assert nonce_of(message).used_at is None


def test_a_user_may_link_several_wallets_and_only_sees_their_own(user, api, alice_key):
    link(user, alice_key, label="hardware")
    link(user, key("second"), chain_id=137)
    link(UserFactory(), key("stranger"))
    listed = api.get(WALLETS_URL).json()["results"]
    assert sorted((item["address"], item["chain_id"], item["label"]) for item in listed) == sorted(
        [(alice_key.address, 1, "hardware"), (key("second").address, 137, "")]
    )


# -- unlinking ----------------------------------------------------------------------------------------


def test_unlink_through_the_api(user, api, alice_key):
    wallet = link(user, alice_key, label="old laptop")
    events = AuditEvent.objects.count()
    response = api.delete(f"{WALLETS_URL}/{alice_key.address.lower()}")
    assert response.status_code == 204, response.content
    assert Wallet.objects.count() == 0
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor_id, event.subject_type, event.subject_id) == (
        "wallet.unlinked",
        user.pk,
        "accounts.wallet",
        str(wallet.pk),
    )
    assert event.before == {
        "user_id": str(user.pk),
        "address": alice_key.address,
        "chain_id": 1,
        "label": "old laptop",
    }
    assert event.after is None
    problem(api.delete(f"{WALLETS_URL}/{alice_key.address}"), 404, "wallet_not_linked")
    problem(api.delete(f"{WALLETS_URL}/not-an-address"), 422, "wallet_address_invalid")


def test_you_cannot_unlink_someone_elses_wallet(api, alice_key):
    other = UserFactory()
    link(other, alice_key)
    before = state()
    problem(api.delete(f"{WALLETS_URL}/{alice_key.address}"), 404, "wallet_not_linked")
    assert state() == before


def test_an_unlinked_address_can_be_linked_again_by_someone_else(user, alice_key):
    link(user, alice_key)
    wallets.wallet_unlink(actor=user, address=alice_key.address)
    other = UserFactory()
    assert link(other, alice_key).user == other


def test_unlink_from_the_wallets_page(user, alice_key):
    link(user, alice_key)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/accounts/wallet/")
    assert page.status_code == 200
    assert alice_key.address in page.content.decode()
    token = client.cookies["csrftoken"].value
    assert client.post("/accounts/wallet/unlink/", {"address": alice_key.address}).status_code == 403
    assert Wallet.objects.count() == 1
    response = client.post(
        "/accounts/wallet/unlink/", {"address": alice_key.address, "csrfmiddlewaretoken": token}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/accounts/wallet/"
    assert Wallet.objects.count() == 0
    assert "unlinked" in response.content.decode()
    again = client.post(
        "/accounts/wallet/unlink/", {"address": alice_key.address, "csrfmiddlewaretoken": token}, follow=True
    )
    assert "is not linked to your account" in again.content.decode()


def test_the_wallets_page_needs_a_signed_in_user():
    response = Client().get("/accounts/wallet/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_wallets_page_shows_an_empty_state_and_the_link_form(user):
    client = Client()
    client.force_login(user)
    html = client.get("/accounts/wallet/").content.decode()
    assert "No wallet linked yet" in html
    assert 'data-nonce-url="/api/v1/auth/siwe/nonce"' in html
    assert 'data-link-url="/api/v1/me/wallets"' in html
    assert "payor/siwe.js" in html
    assert 'href="/accounts/wallet/"' in html  # the user menu's entry


# -- signing in ---------------------------------------------------------------------------------------


def wallet_sign_in_request(client: Client, csrf: str | None, account, **extra: str):
    issued = post_json(client, NONCE_URL, {"purpose": "sign_in", "address": account.address, "chain_id": 1})
    assert issued.status_code == 201, issued.content
    message = issued.json()["message"]
    form = {"message": message, "signature": sign(account, message), **extra}
    headers = {"X-CSRFToken": csrf} if csrf else {}
    return client.post(SIGN_IN_URL, form, headers=headers, HTTP_ACCEPT="application/json"), message


def test_sign_in_with_a_linked_wallet_creates_a_session(user, alice_key):
    wallet = link(user, alice_key)
    events = AuditEvent.objects.count()
    client, csrf = csrf_client()
    response, message = wallet_sign_in_request(client, csrf, alice_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"location": "/projects/"}
    assert client.get("/projects/").status_code == 200
    assert client.session["_auth_user_backend"] == "allauth.account.auth_backends.AuthenticationBackend"
    assert str(client.session["_auth_user_id"]) == str(user.pk)

    wallet.refresh_from_db()
    user.refresh_from_db()
    assert wallet.last_sign_in_at is not None
    assert user.last_login is not None
    assert nonce_of(message).used_at is not None
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor_id, event.subject_id, event.project_id) == (
        "auth.wallet_signed_in",
        user.pk,
        str(wallet.pk),
        None,
    )
    assert event.after == {"address": alice_key.address, "chain_id": 1}
    assert event.ip == "127.0.0.1"
    assert audit_verify().ok


def test_sign_in_goes_to_a_safe_next_page_only(user, alice_key):
    link(user, alice_key)
    client, csrf = csrf_client()
    response, _ = wallet_sign_in_request(client, csrf, alice_key, next="/accounts/wallet/")
    assert response.json() == {"location": "/accounts/wallet/"}
    client, csrf = csrf_client()
    response, _ = wallet_sign_in_request(client, csrf, alice_key, next="https://evil.example/")
    assert response.json() == {"location": "/projects/"}


def test_sign_in_is_csrf_protected(user, alice_key):
    link(user, alice_key)
    client, _csrf = csrf_client()
    before = state()
    response, _ = wallet_sign_in_request(client, None, alice_key)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    after = state()
    assert (after[0], after[2]) == (before[0], before[2])  # no sign-in recorded
    assert WalletNonce.objects.filter(purpose="sign_in", used_at__isnull=False).count() == 0  # the view never ran
    assert client.get("/projects/").status_code == 302


def test_sign_in_with_a_replayed_message_is_refused(user, alice_key):
    link(user, alice_key)
    client, csrf = csrf_client()
    issued = post_json(client, NONCE_URL, {"purpose": "sign_in", "address": alice_key.address, "chain_id": 1})
    message = issued.json()["message"]
    form = {"message": message, "signature": sign(alice_key, message)}
    assert client.post(SIGN_IN_URL, form, headers={"X-CSRFToken": csrf}).status_code == 200
    attacker, attacker_csrf = csrf_client()
    events = AuditEvent.objects.count()
    problem(attacker.post(SIGN_IN_URL, form, headers={"X-CSRFToken": attacker_csrf}), 422, "siwe_nonce_used")
    assert "_auth_user_id" not in attacker.session
    assert AuditEvent.objects.count() == events


def test_sign_in_with_an_unlinked_address_is_refused(alice_key):
    client, csrf = csrf_client()
    events = AuditEvent.objects.count()
    response, message = wallet_sign_in_request(client, csrf, alice_key)
    body = problem(response, 404, "wallet_not_linked")
    assert "link the wallet first" in body["detail"]
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.count() == events
    assert nonce_of(message).used_at is None  # refusals after a good signature roll everything back


def test_an_inactive_user_cannot_sign_in_with_a_wallet(user, alice_key):
    wallet = link(user, alice_key)
    User.objects.filter(pk=user.pk).update(is_active=False)
    client, csrf = csrf_client()
    before = state()
    response, message = wallet_sign_in_request(client, csrf, alice_key)
    problem(response, 403, "account_inactive")
    assert "_auth_user_id" not in client.session
    after = state()
    assert (after[0], after[2]) == (before[0], before[2])
    assert nonce_of(message).used_at is None
    wallet.refresh_from_db()
    assert wallet.last_sign_in_at is None
    message = issue("sign_in", alice_key)
    with pytest.raises(AccountInactive):
        do_sign_in(message, sign(alice_key, message))


def test_sign_in_with_a_bad_signature_is_refused(user, alice_key, mallory_key):
    link(user, alice_key)
    client, csrf = csrf_client()
    issued = post_json(client, NONCE_URL, {"purpose": "sign_in", "address": alice_key.address, "chain_id": 1})
    message = issued.json()["message"]
    form = {"message": message, "signature": sign(mallory_key, message)}
    problem(client.post(SIGN_IN_URL, form, headers={"X-CSRFToken": csrf}), 422, "siwe_signature_invalid")
    assert "_auth_user_id" not in client.session
    assert nonce_of(message).used_at is not None


def test_sign_in_with_two_factor_authentication_still_asks_for_the_code(user, alice_key):
    link(user, alice_key)
    TOTP.activate(user, generate_totp_secret())
    client, csrf = csrf_client()
    response, _ = wallet_sign_in_request(client, csrf, alice_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"location": "/accounts/2fa/authenticate/"}
    assert "_auth_user_id" not in client.session
    assert client.get("/projects/").status_code == 302


def test_the_sign_in_page_offers_sign_in_with_ethereum():
    html = Client().get("/accounts/login/?next=/accounts/wallet/").content.decode()
    assert "Sign in with Ethereum" in html
    assert 'data-sign-in-url="/accounts/wallet/sign-in/"' in html
    assert "payor/siwe.js" in html
    assert Client().get(SIGN_IN_URL).status_code == 405


def test_the_script_is_served():
    from django.contrib.staticfiles import finders

    path = finders.find("payor/siwe.js")
    assert path is not None
    with open(path, encoding="utf-8") as handle:
        script = handle.read()
    for needle in ("eth_requestAccounts", "eth_chainId", "personal_sign", "No Ethereum wallet was found"):
        assert needle in script


# -- selectors, housekeeping --------------------------------------------------------------------------


def test_wallet_find_ignores_case_and_refuses_bad_checksums(user, alice_key):
    wallet = link(user, alice_key)
    assert wallets.wallet_find(alice_key.address.lower()) == wallet
    assert wallets.wallet_find("0x" + alice_key.address[2:].upper()) == wallet
    assert wallets.wallet_find(alice_key.address.swapcase().replace("0X", "0x")) is None
    assert wallets.wallet_find(key("nobody").address) is None
    with pytest.raises(WalletAddressInvalid):
        wallets.address_normalize("0x12")


def test_multisig_signer_addresses(user, alice_key):
    from payor.rbac.models import ProjectRoleAssignment
    from payor.rbac.roles import ProjectRole
    from payor.testing.factories import ProjectFactory

    project = ProjectFactory()
    other_project = ProjectFactory()

    def holder(name: str, role: ProjectRole, *, on=project, active: bool = True) -> User:
        person = UserFactory(is_active=active)
        ProjectRoleAssignment.objects.create(project=on, user=person, role=role, currency=on.currency)
        return person

    sana = holder("sana", ProjectRole.DAO_MULTISIG)
    link(sana, key("sana-hot"))
    link(sana, key("sana-ledger"))
    grace = holder("grace", ProjectRole.DAO_MULTISIG)
    link(grace, key("grace"))
    revoked = holder("revoked", ProjectRole.DAO_MULTISIG)
    link(revoked, key("revoked"))
    ProjectRoleAssignment.objects.filter(user=revoked).update(revoked_at=timezone.now())
    inactive = holder("inactive", ProjectRole.DAO_MULTISIG)
    link(inactive, key("inactive"))
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    treasurer = holder("treasurer", ProjectRole.TREASURER)
    link(treasurer, key("treasurer"))
    elsewhere = holder("elsewhere", ProjectRole.DAO_MULTISIG, on=other_project)
    link(elsewhere, key("elsewhere"))
    holder("no wallet", ProjectRole.DAO_MULTISIG)

    expected = sorted((key(name).address for name in ("sana-hot", "sana-ledger", "grace")), key=str.lower)
    assert wallets.multisig_signer_addresses(project=project) == expected
    assert wallets.multisig_signer_addresses(project=other_project) == [key("elsewhere").address]


def test_expired_nonces_are_purged_by_an_hourly_job(alice_key):
    stale = issue("sign_in", alice_key)
    fresh = issue("sign_in", alice_key)
    long_ago = timezone.now() - dt.timedelta(hours=2)
    WalletNonce.objects.filter(pk=nonce_of(stale).pk).update(
        issued_at=long_ago - dt.timedelta(minutes=10), expires_at=long_ago
    )
    assert wallets.wallet_nonce_purge() == 1
    assert list(WalletNonce.objects.values_list("nonce", flat=True)) == [SiweMessage.from_message(fresh).nonce]
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["accounts.wallet_nonce.purge"].cron == "23 * * * *"


def test_the_nonce_table_refuses_inconsistent_rows(user):
    now = timezone.now()
    row = {"address": key("x").address, "chain_id": 1, "issued_at": now, "expires_at": now + dt.timedelta(minutes=1)}
    with pytest.raises(Exception, match="accounts_wallet_nonce_user_iff_link"):
        WalletNonce.objects.create(nonce="a" * 32, purpose="link", user=None, **row)


def test_chain_settings_are_validated(settings):
    settings.SIWE_CHAIN_IDS = ["1", "x"]
    with pytest.raises(Exception, match="PAYOR_SIWE_CHAIN_IDS"):
        wallets.chain_ids_allowed()
    settings.SIWE_CHAIN_IDS = None
    assert wallets.chain_ids_allowed() == frozenset(wallets.DEFAULT_CHAIN_IDS)


def test_inconsistent_settings_are_refused(settings, monkeypatch):
    settings.SIWE_NONCE_TTL_SECONDS = None
    monkeypatch.setenv("PAYOR_SIWE_NONCE_TTL_SECONDS", "5")
    with pytest.raises(Exception, match="PAYOR_SIWE_NONCE_TTL_SECONDS"):
        wallets.nonce_ttl()
    monkeypatch.setenv("PAYOR_SIWE_NONCE_TTL_SECONDS", "900")
    assert wallets.nonce_ttl() == dt.timedelta(minutes=15)
    monkeypatch.setenv("PAYOR_SIWE_CHAIN_IDS", "1, 31337")
    assert wallets.chain_ids_allowed() == frozenset({1, 31337})


# -- demo data ----------------------------------------------------------------------------------------

#: Accounts 1-3 of the public Anvil/Hardhat development mnemonic (``payor.demo.seed.DEMO_MNEMONIC``).
ANVIL_ACCOUNTS = (
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
)


def test_the_demo_links_a_wallet_to_each_multisig_signer_once(settings, tmp_path):
    from payor.demo.seed import seed
    from payor.projects.models import Project

    # The seed hashes 16 passwords and stores vendor documents: keep both cheap and out of the source tree.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    settings.STRIPE_LOCAL_STATE_FILE = tmp_path / "stripe-local.json"  # the seed's local Stripe server state
    result = seed()
    signers = ("signer1@orenna.test", "signer2@orenna.test", "signer3@orenna.test")
    expected = dict(zip(signers, ANVIL_ACCOUNTS, strict=True))
    assert result.wallets == expected
    assert {wallet.user.email: wallet.address for wallet in Wallet.objects.select_related("user")} == expected
    assert set(AuditEvent.objects.filter(action="wallet.linked").values_list("after__address", flat=True)) == set(
        ANVIL_ACCOUNTS
    )
    project = Project.objects.get(name="Klamath River Riparian Restoration")
    assert wallets.multisig_signer_addresses(project=project) == sorted(ANVIL_ACCOUNTS, key=str.lower)

    before = state()
    again = seed()
    assert again.wallets == expected
    assert state() == before
