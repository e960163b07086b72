"""Wallets: Sign-In with Ethereum (EIP-4361) nonces, and linking wallet addresses to your account.

``POST /auth/siwe/nonce`` returns the complete message to sign, so a client only needs ``personal_sign``.
Signing in with a wallet creates a browser session, so it is a CSRF-protected web view
(``POST /accounts/wallet/sign-in/``), not an API endpoint. See ``payor.accounts.wallets`` for the checks.
"""

# No ``from __future__ import annotations``: ninja reads the paginated endpoint's signature through its wrapper.
import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate
from ninja.throttling import AnonRateThrottle
from ninja.utils import check_csrf
from pydantic import Field

from payor.accounts import wallets
from payor.accounts.models import User, Wallet, WalletNonce
from payor.api.auth import principal
from payor.api.pagination import Cursor
from payor.api.schemas import Problem
from payor.core.errors import NotAuthenticated

router = Router(tags=["wallets"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}
#: Issuing a nonce writes a row and needs no account: at most this many per client address.
NONCE_RATE = "30/m"


class NonceIn(Schema):
    purpose: WalletNonce.Purpose = Field(
        description="`link`: add the wallet to your account (needs authentication); `sign_in`: sign in with it"
    )
    address: str = Field(
        max_length=42,
        examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
        description="The wallet's address (`eth_requestAccounts`); any case, EIP-55 checksum checked if mixed",
    )
    chain_id: int = Field(
        ge=1, le=wallets.CHAIN_ID_MAX, examples=[1], description="The wallet's current chain (`eth_chainId`)"
    )


class NonceOut(Schema):
    nonce: str
    purpose: WalletNonce.Purpose
    address: str = Field(description="EIP-55 checksummed")
    chain_id: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    message: str = Field(description="The EIP-4361 text to sign with `personal_sign`, byte for byte")


class WalletOut(Schema):
    address: str = Field(description="EIP-55 checksummed")
    chain_id: int = Field(description="The chain named in the message that linked the wallet")
    label: str
    linked_at: dt.datetime
    last_sign_in_at: dt.datetime | None


class WalletLinkIn(Schema):
    message: str = Field(max_length=wallets.MESSAGE_MAX, description="The message from `POST /auth/siwe/nonce`")
    signature: str = Field(max_length=200, description="`personal_sign` of the message: 0x and 130 hex digits")
    label: str = Field(default="", max_length=wallets.LABEL_MAX, examples=["Ledger (treasury signer)"])


def _scheme(request: HttpRequest) -> str:
    return request.scheme or "https"


def _linking_user(request: HttpRequest) -> User:
    """The authenticated user (bearer token, or session with a valid CSRF token) or ``not_authenticated``."""
    user = principal(request)
    if user is None:
        raise NotAuthenticated("Sign in (or send a bearer token) to link a wallet")
    if not request.headers.get("Authorization") and check_csrf(request) is not None:
        raise HttpError(403, "CSRF check Failed")
    return user


@router.post(
    "/auth/siwe/nonce",
    auth=None,
    throttle=[AnonRateThrottle(NONCE_RATE)],
    response={201: NonceOut, 401: Problem, 403: Problem, 422: Problem, 429: Problem},
    summary="A single-use Sign-In with Ethereum nonce and the exact message to sign",
    description=(
        "The message names this site, the address and chain, the nonce and its expiry "
        "(`PAYOR_SIWE_NONCE_TTL_SECONDS`, 10 minutes by default). Sign it with `personal_sign`, then send it to "
        "`POST /me/wallets` (purpose `link`) or to the web sign-in form `POST /accounts/wallet/sign-in/` "
        "(purpose `sign_in`). Purpose `link` needs authentication; `sign_in` does not, and does not say "
        "whether the address is linked to any account."
    ),
)
def issue_nonce(request: HttpRequest, payload: NonceIn) -> Status[dict[str, object]]:
    user = _linking_user(request) if payload.purpose == WalletNonce.Purpose.LINK else None
    issued = wallets.wallet_nonce_issue(
        purpose=payload.purpose,
        address=payload.address,
        chain_id=payload.chain_id,
        user=user,
        domain=request.get_host(),
        scheme=_scheme(request),
    )
    nonce = issued.nonce
    return Status(
        201,
        {
            "nonce": nonce.nonce,
            "purpose": nonce.purpose,
            "address": nonce.address,
            "chain_id": nonce.chain_id,
            "issued_at": nonce.issued_at,
            "expires_at": nonce.expires_at,
            "message": issued.message,
        },
    )


@router.get("/me/wallets", response={200: list[WalletOut], 401: Problem}, summary="Your linked wallets")
@paginate(Cursor)
def list_wallets(request: HttpRequest) -> object:
    return wallets.wallet_list(viewer=request.user)


@router.post(
    "/me/wallets",
    response={200: WalletOut, 201: WalletOut, **ERRORS},
    summary="Link the wallet that signed a `link` message to your account (201; 200 if it already was)",
)
def link_wallet(request: HttpRequest, payload: WalletLinkIn) -> Status[Wallet]:
    wallet, created = wallets.wallet_link(
        actor=request.user,  # type: ignore[arg-type]
        message=payload.message,
        signature=payload.signature,
        label=payload.label,
        domain=request.get_host(),
        scheme=_scheme(request),
        request=request,
    )
    return Status(201 if created else 200, wallet)


@router.delete(
    "/me/wallets/{address}",
    response={204: None, **ERRORS},
    summary="Unlink one of your wallets (it can no longer sign in or sign for you)",
)
def unlink_wallet(request: HttpRequest, address: str) -> HttpResponse:
    wallets.wallet_unlink(actor=request.user, address=address, request=request)  # type: ignore[arg-type]
    return HttpResponse(status=204)
