"""Test helpers: real secp256k1 keys (eth-account) signing real EIP-4361 messages, as a browser wallet would."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.test import Client
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

from payor.accounts.models import User, Wallet
from payor.accounts.wallets import wallet_link, wallet_nonce_issue

#: The Django test client's site: EIP-4361 domain and scheme.
DOMAIN = "testserver"
SCHEME = "http"
NONCE_URL = "/api/v1/auth/siwe/nonce"
WALLETS_URL = "/api/v1/me/wallets"
SIGN_IN_URL = "/accounts/wallet/sign-in/"


def key(name: str) -> LocalAccount:
    """A deterministic test key per name (never holds funds)."""
    return Account.from_key(hashlib.sha256(f"payor test wallet {name}".encode()).digest())


def sign(account: LocalAccount, message: str) -> str:
    """EIP-191 ``personal_sign`` of ``message``, as 0x + 130 hex digits (what wallets return)."""
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()
    return signature if signature.startswith("0x") else f"0x{signature}"


def issue(purpose: str, account: LocalAccount, *, user: User | None = None, chain_id: int = 1) -> str:
    """A fresh nonce's message, issued by the service for the test client's site."""
    return wallet_nonce_issue(
        purpose=purpose, address=account.address, chain_id=chain_id, domain=DOMAIN, scheme=SCHEME, user=user
    ).message


def link(user: User, account: LocalAccount, *, chain_id: int = 1, label: str = "") -> Wallet:
    """``account`` linked to ``user`` through the real service (audited)."""
    message = issue("link", account, user=user, chain_id=chain_id)
    wallet, _ = wallet_link(
        actor=user, message=message, signature=sign(account, message), domain=DOMAIN, scheme=SCHEME, label=label
    )
    return wallet


def rewrite(message: str, **changes: object) -> str:
    """``message`` parsed, with fields changed, written back in canonical EIP-4361 form (a client-built message)."""
    fields = SiweMessage.from_message(message).model_dump()
    for name, value in changes.items():
        fields[name] = _iso(value) if isinstance(value, dt.datetime) else value
    return SiweMessage(**fields).prepare_message()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_json(client: Client, path: str, body: dict, **headers: str):
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


def csrf_client() -> tuple[Client, str]:
    """A browser-like client that enforces CSRF, with the token the sign-in page gave it."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    return client, client.cookies["csrftoken"].value
