"""Wallet identity: Sign-In with Ethereum (EIP-4361) to link an address to a user and to sign in with it.

The flow, for both purposes:

1. :func:`wallet_nonce_issue` stores a single-use nonce (128 random bits, expiring after
   ``PAYOR_SIWE_NONCE_TTL_SECONDS``) for one purpose (``link`` for the signed-in ``user``, or ``sign_in``), one
   address and one chain, and returns the complete EIP-4361 message to sign (built with ``siwe.SiweMessage``,
   so clients need no SIWE library).
2. The wallet signs the message text (EIP-191 ``personal_sign``).
3. :func:`wallet_link` or :func:`wallet_sign_in` verify it, in this order: the text parses as EIP-4361 and is
   in canonical form (exactly what was signed); its domain (and scheme, if any) is this site; its URI is on
   this site; its chain is allowed (``PAYOR_SIWE_CHAIN_IDS``); its issued-at is not in the future (beyond
   :data:`CLOCK_SKEW`); its expiration time has not passed and its not-before has; then, in one transaction,
   the nonce is locked (``SELECT … FOR UPDATE``) and must be known, of the right purpose (and user, address,
   chain), unused and unexpired; it is consumed; the signature must recover the message's address.

Failures and what they leave behind: every refusal is a :class:`~payor.core.errors.DomainError` with its own code
(``docs/errors.md``) and writes nothing, with one exception: a wrong or malformed signature presented with a
valid, live nonce **burns the nonce** (the consumption is committed before the error is raised), so a message
is verified at most once whatever signature comes with it. (When the caller's own transaction rolls back, for
instance an API request sent with an ``Idempotency-Key``, the burn rolls back with it.) Refusals after a
correct signature (address linked to someone else, no account for the address, inactive account) roll back
everything, the nonce included.

Only externally owned accounts sign: contract wallets (EIP-1271, e.g. a Safe itself) are not verified, since
that needs an RPC node. ``siwe``, ``eth_utils`` and ``web3`` are imported when first needed: importing them
takes about two seconds, which every management command would otherwise pay.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone

from payor import audit
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
    WalletAlreadyLinked,
    WalletNotLinked,
)
from payor.accounts.models import User, Wallet, WalletNonce
from payor.config.env import env_int, env_list
from payor.core.errors import NotAuthenticated, ValidationFailed
from payor.rbac.roles import ProjectRole

if TYPE_CHECKING:
    from siwe import SiweMessage

    from payor.projects.models import Project

__all__ = [
    "CHAIN_NAMES",
    "DEFAULT_CHAIN_IDS",
    "IssuedNonce",
    "address_normalize",
    "chain_ids_allowed",
    "chain_name",
    "chains_allowed_named",
    "multisig_signer_addresses",
    "nonce_ttl",
    "wallet_find",
    "wallet_link",
    "wallet_list",
    "wallet_nonce_issue",
    "wallet_nonce_purge",
    "wallet_sign_in",
    "wallet_unlink",
]

#: Ethereum mainnet, Optimism, Polygon, Base, Arbitrum One, Sepolia and a local Anvil/Hardhat chain.
DEFAULT_CHAIN_IDS: tuple[int, ...] = (1, 10, 137, 8453, 42161, 11155111, 31337)
#: Names shown for the chains Payor knows; others show as "Chain <id>".
CHAIN_NAMES: dict[int, str] = {
    1: "Ethereum",
    10: "OP Mainnet",
    137: "Polygon",
    8453: "Base",
    42161: "Arbitrum One",
    11155111: "Sepolia (testnet)",
    31337: "Local development chain",
}
#: Test networks and local development chains (listed after the main networks).
TEST_CHAIN_IDS: frozenset[int] = frozenset({11155111, 31337})
DEFAULT_NONCE_TTL_SECONDS = 600
#: How far a message's issued-at may be ahead of this server's clock.
CLOCK_SKEW = dt.timedelta(seconds=60)
#: Expired nonces are deleted this long after they expire (``accounts.wallet_nonce.purge``, hourly).
NONCE_PURGE_AFTER = dt.timedelta(hours=1)
NONCE_BYTES = 16  # 128 bits, written as 32 hexadecimal digits (EIP-4361 wants alphanumerics)
MESSAGE_MAX = 4096
LABEL_MAX = 100
CHAIN_ID_MAX = 2**53 - 1  # what a wallet's JavaScript can represent exactly
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
SIGNATURE_RE = re.compile(r"0x[0-9a-fA-F]{130}")  # r ‖ s ‖ v, 65 bytes
# The characters an EIP-4361 statement may hold (RFC 3986 reserved / unreserved, and spaces).
STATEMENT_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]+")

Purpose = WalletNonce.Purpose


# -- configuration ----------------------------------------------------------------------------------


def chain_ids_allowed() -> frozenset[int]:
    """Chain ids a message may name: the ``SIWE_CHAIN_IDS`` setting, else ``PAYOR_SIWE_CHAIN_IDS``, else the default."""
    configured: Any = getattr(settings, "SIWE_CHAIN_IDS", None)
    if configured is None:
        configured = env_list("PAYOR_SIWE_CHAIN_IDS", [str(chain) for chain in DEFAULT_CHAIN_IDS])
    try:
        chains = frozenset(int(chain) for chain in configured)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"PAYOR_SIWE_CHAIN_IDS must be comma-separated chain ids, got {configured!r}"
        ) from exc
    if not chains or any(chain < 1 or chain > CHAIN_ID_MAX for chain in chains):
        raise ImproperlyConfigured(f"PAYOR_SIWE_CHAIN_IDS must list positive chain ids, got {configured!r}")
    return chains


def chain_name(chain_id: int) -> str:
    return CHAIN_NAMES.get(chain_id, f"Chain {chain_id}")


def chains_allowed_named() -> list[tuple[int, str]]:
    """``(chain id, name)`` of the allowed chains: main networks first, then test and local chains."""
    ordered = sorted(chain_ids_allowed(), key=lambda chain: (chain in TEST_CHAIN_IDS, chain))
    return [(chain, chain_name(chain)) for chain in ordered]


def nonce_ttl() -> dt.timedelta:
    """How long a nonce lives: ``SIWE_NONCE_TTL_SECONDS`` setting, else ``PAYOR_SIWE_NONCE_TTL_SECONDS``, else 600."""
    seconds: Any = getattr(settings, "SIWE_NONCE_TTL_SECONDS", None)
    if seconds is None:
        seconds = env_int("PAYOR_SIWE_NONCE_TTL_SECONDS", DEFAULT_NONCE_TTL_SECONDS)
    if not isinstance(seconds, int) or not 10 <= seconds <= 86_400:
        raise ImproperlyConfigured(f"PAYOR_SIWE_NONCE_TTL_SECONDS must be 10 to 86400 seconds, got {seconds!r}")
    return dt.timedelta(seconds=seconds)


# -- helpers ----------------------------------------------------------------------------------------


def _siwe() -> ModuleType:
    from abnf import GrammarWarning

    with warnings.catch_warnings():
        # siwe 4.4's grammar redefines RFC 5234 core rules (identically); abnf warns once, at import.
        warnings.simplefilter("ignore", GrammarWarning)
        import siwe

    return siwe


def address_normalize(address: object) -> str:
    """``address`` in EIP-55 form; ``wallet_address_invalid`` if malformed, or mixed case with a bad checksum."""
    from eth_utils import is_checksum_address, to_checksum_address

    if not isinstance(address, str) or not ADDRESS_RE.fullmatch(address):
        raise WalletAddressInvalid(f"{str(address)[:60]!r} is not an Ethereum address")
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(address):
        raise WalletAddressInvalid(f"{address} has a wrong EIP-55 checksum (a typo?)")
    return str(to_checksum_address(address))


def _by_address(queryset: QuerySet[Wallet], address: str) -> QuerySet[Wallet]:
    """Filter on the case-insensitive unique index (``lower(address)``)."""
    return queryset.alias(address_lower=Lower("address")).filter(address_lower=address.lower())


def _chain_check(chain_id: object) -> int:
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id not in chain_ids_allowed():
        allowed = ", ".join(str(chain) for chain in sorted(chain_ids_allowed()))
        raise SiweChainUnsupported(f"Chain {chain_id} is not accepted here; use one of {allowed}")
    return chain_id


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: object) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise SiweMessageInvalid("The message's times must carry a UTC offset")
    return moment


def _snapshot(wallet: Wallet) -> dict[str, object]:
    return {"user_id": wallet.user_id, "address": wallet.address, "chain_id": wallet.chain_id, "label": wallet.label}


def _statement(purpose: WalletNonce.Purpose, user: User | None) -> str:
    if purpose == Purpose.SIGN_IN or user is None:
        return "Sign in to Payor with this wallet."
    statement = f"Link this wallet to the Payor account {user.email}."
    return statement if STATEMENT_RE.fullmatch(statement) else "Link this wallet to your Payor account."


def _label(label: object) -> str:
    if not isinstance(label, str):
        raise ValidationFailed("The label must be text", code="wallet_label_invalid")
    label = " ".join(label.split())
    if len(label) > LABEL_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        raise ValidationFailed(
            f"The label must be at most {LABEL_MAX} printable characters", code="wallet_label_invalid"
        )
    return label


def _origin(domain: str, scheme: str) -> tuple[str, str]:
    return scheme.lower(), domain.lower()


# -- nonces -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedNonce:
    nonce: WalletNonce
    message: str  # the complete EIP-4361 text the wallet must sign


def wallet_nonce_issue(
    *,
    purpose: WalletNonce.Purpose | str,
    address: str,
    chain_id: int,
    domain: str,
    scheme: str = "https",
    user: User | AnonymousUser | None = None,
) -> IssuedNonce:
    """A new nonce, and the message to sign with it, for ``address`` on ``chain_id`` at ``scheme://domain``.

    ``link`` needs the signed-in ``user`` (the nonce is theirs alone); ``sign_in`` ignores it. Whether the address
    is linked to anyone is not checked here, so the endpoint reveals nothing about accounts.
    """
    try:
        purpose = Purpose(purpose)
    except ValueError as exc:
        raise ValidationFailed(f"purpose must be one of {', '.join(Purpose.values)}") from exc
    owner: User | None = None
    if purpose == Purpose.LINK:
        if user is None or not user.is_authenticated or not user.is_active:
            raise NotAuthenticated("Sign in before linking a wallet")
        owner = user
    address = address_normalize(address)
    chain_id = _chain_check(chain_id)
    now = timezone.now()
    issued_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as precise as the message's times
    expires_at = issued_at + nonce_ttl()
    value = secrets.token_hex(NONCE_BYTES)
    message = _siwe().SiweMessage(
        domain=domain,
        address=address,
        statement=_statement(purpose, owner),
        uri=f"{scheme}://{domain}/",
        version="1",
        chain_id=chain_id,
        nonce=value,
        issued_at=_iso(issued_at),
        expiration_time=_iso(expires_at),
    )
    nonce = WalletNonce.objects.create(
        nonce=value,
        purpose=purpose,
        user=owner,
        address=address,
        chain_id=chain_id,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    return IssuedNonce(nonce=nonce, message=message.prepare_message())


def wallet_nonce_purge(*, now: dt.datetime | None = None) -> int:
    """Delete nonces that expired more than :data:`NONCE_PURGE_AFTER` ago; returns how many."""
    cutoff = (now or timezone.now()) - NONCE_PURGE_AFTER
    deleted, _ = WalletNonce.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


# -- verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """A message that passed every check that needs no database, and whether its signature is right."""

    message: SiweMessage
    signature_ok: bool


def _check(*, text: object, signature: object, domain: str, scheme: str, now: dt.datetime) -> _Checked:
    siwe = _siwe()
    if not isinstance(text, str) or not text or len(text) > MESSAGE_MAX or "\x00" in text:
        raise SiweMessageInvalid(f"The message must be EIP-4361 text of at most {MESSAGE_MAX} characters")
    try:
        message = siwe.SiweMessage.from_message(text)
    except ValueError as exc:  # abnf.ParseError is re-raised as ValueError; pydantic's ValidationError is one
        raise SiweMessageInvalid() from exc
    if message.prepare_message() != text:
        raise SiweMessageInvalid("The message is not in canonical EIP-4361 form: sign the message exactly as issued")

    expected_scheme, expected_domain = _origin(domain, scheme)
    if message.scheme is not None and message.scheme.lower() != expected_scheme:
        raise SiweDomainMismatch(f"The message is for {message.scheme}://, this site is {expected_scheme}://")
    if message.domain.lower() != expected_domain:
        raise SiweDomainMismatch(f"The message is for {message.domain}, this site is {domain}")
    uri = urlsplit(message.uri)
    if (uri.scheme.lower(), uri.netloc.lower()) != (expected_scheme, expected_domain):
        raise SiweUriMismatch(f"The message's URI {message.uri} is not on {expected_scheme}://{domain}")
    _chain_check(message.chain_id)
    if _parse_time(message.issued_at) > now + CLOCK_SKEW:
        raise SiweMessageNotYetValid("The message's issued-at time is in the future")
    if message.expiration_time is not None and now >= _parse_time(message.expiration_time):
        raise SiweMessageExpired()
    if message.not_before is not None and now < _parse_time(message.not_before):
        raise SiweMessageNotYetValid("The message's not-before time has not come yet")

    signature_ok = isinstance(signature, str) and bool(SIGNATURE_RE.fullmatch(signature))
    if signature_ok:
        from eth_keys.exceptions import BadSignature

        try:
            message.verify(signature, timestamp=now)  # the time and domain checks above already passed
        except (siwe.VerificationError, BadSignature, ValueError):
            signature_ok = False
    return _Checked(message=message, signature_ok=signature_ok)


def _nonce_consume(*, message: SiweMessage, purpose: WalletNonce.Purpose, user: User | None, now: dt.datetime) -> None:
    """Lock the message's nonce, check it and mark it used (in the caller's transaction)."""
    nonce = WalletNonce.objects.select_for_update().filter(nonce=message.nonce).first()
    if nonce is None:
        raise SiweNonceInvalid("The message's nonce was not issued by Payor: ask for a new one")
    if nonce.purpose != purpose:
        raise SiweNonceInvalid(f"The nonce was issued to {nonce.get_purpose_display().lower()}, not for this")
    if purpose == Purpose.LINK and (user is None or nonce.user_id != user.pk):
        raise SiweNonceInvalid("The nonce was issued to another account")
    if nonce.address != message.address or nonce.chain_id != message.chain_id:
        raise SiweNonceInvalid("The nonce was issued for another address or chain")
    if nonce.used_at is not None:
        raise SiweNonceUsed()
    if nonce.expires_at <= now:
        raise SiweNonceExpired()
    nonce.used_at = now
    nonce.save(update_fields=["used_at", "updated_at"])


def _signature_refused() -> SiweSignatureInvalid:
    return SiweSignatureInvalid("The signature was not made by the message's address; the nonce is used up")


# -- services ---------------------------------------------------------------------------------------


def wallet_link(
    *,
    actor: User,
    message: str,
    signature: str,
    domain: str,
    scheme: str = "https",
    label: str = "",
    request: HttpRequest | None = None,
) -> tuple[Wallet, bool]:
    """Link the address that signed ``message`` (a ``link`` nonce issued to ``actor``) to ``actor``.

    Returns ``(wallet, created)``. An address already linked to ``actor`` is returned as is (``created`` False,
    the nonce used, nothing audited); linked to someone else, ``wallet_already_linked`` (409), nothing written.
    Audited as ``wallet.linked``.
    """
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise NotAuthenticated("Sign in before linking a wallet")
    label = _label(label)
    now = timezone.now()
    checked = _check(text=message, signature=signature, domain=domain, scheme=scheme, now=now)
    with transaction.atomic():
        _nonce_consume(message=checked.message, purpose=Purpose.LINK, user=actor, now=now)
        if checked.signature_ok:
            return _link(actor=actor, message=checked.message, label=label, now=now, request=request)
    raise _signature_refused()  # the burnt nonce is committed


def _link(
    *, actor: User, message: SiweMessage, label: str, now: dt.datetime, request: HttpRequest | None
) -> tuple[Wallet, bool]:
    address = str(message.address)
    existing = _by_address(Wallet.objects.select_for_update(), address).first()
    if existing is not None:
        if existing.user_id != actor.pk:
            raise WalletAlreadyLinked(f"{address} is linked to another account: unlink it there first")
        return existing, False
    wallet = Wallet(user=actor, address=address, chain_id=message.chain_id, label=label, linked_at=now)
    try:
        with transaction.atomic():
            wallet.save(force_insert=True)
    except IntegrityError as exc:  # a concurrent link of the same address won
        if "accounts_wallet_address_ci_unique" in str(exc):
            raise WalletAlreadyLinked(f"{address} is linked to another account: unlink it there first") from exc
        raise
    audit.record(actor, "wallet.linked", wallet, before=None, after=_snapshot(wallet), request=request)
    return wallet, True


@transaction.atomic
def wallet_unlink(*, actor: User, address: str, request: HttpRequest | None = None) -> None:
    """Remove ``address`` from ``actor``'s wallets (``wallet_not_linked`` if it is not one of them). Audited."""
    address = address_normalize(address)
    wallet = _by_address(Wallet.objects.select_for_update().filter(user=actor), address).first()
    if wallet is None:
        raise WalletNotLinked(f"{address} is not linked to your account")
    before = _snapshot(wallet)
    wallet_id = wallet.pk
    wallet.delete()
    audit.record(actor, "wallet.unlinked", ("accounts.wallet", wallet_id), before=before, after=None, request=request)


def wallet_sign_in(
    *, message: str, signature: str, domain: str, scheme: str = "https", request: HttpRequest | None = None
) -> User:
    """The active user whose linked wallet signed ``message`` (a ``sign_in`` nonce); audited: auth.wallet_signed_in.

    Does not create the session: the web view does (with allauth, so two-factor authentication still applies).
    """
    now = timezone.now()
    checked = _check(text=message, signature=signature, domain=domain, scheme=scheme, now=now)
    with transaction.atomic():
        _nonce_consume(message=checked.message, purpose=Purpose.SIGN_IN, user=None, now=now)
        if checked.signature_ok:
            address = str(checked.message.address)
            wallet = _by_address(Wallet.objects.select_for_update().select_related("user"), address).first()
            if wallet is None:
                raise WalletNotLinked(
                    f"No account has {address} linked: sign in with your email and link the wallet first"
                )
            if not wallet.user.is_active:
                raise AccountInactive()
            wallet.last_sign_in_at = now
            wallet.save(update_fields=["last_sign_in_at", "updated_at"])
            audit.record(
                wallet.user,
                "auth.wallet_signed_in",
                wallet,
                before=None,
                after={"address": wallet.address, "chain_id": checked.message.chain_id},
                request=request,
            )
            return wallet.user
    raise _signature_refused()  # the burnt nonce is committed


# -- selectors --------------------------------------------------------------------------------------


def wallet_list(*, viewer: User | AnonymousUser | None) -> QuerySet[Wallet]:
    """The viewer's own linked wallets (none for anonymous viewers)."""
    if viewer is None or not viewer.is_authenticated:
        return Wallet.objects.none()
    return Wallet.objects.filter(user=viewer).order_by("linked_at", "id")


def wallet_find(address: str) -> Wallet | None:
    """The wallet linked with ``address`` (any case; with its user), or None. No scoping: callers scope."""
    try:
        address = address_normalize(address)
    except WalletAddressInvalid:
        return None
    return _by_address(Wallet.objects.select_related("user"), address).first()


def multisig_signer_addresses(*, project: Project) -> list[str]:
    """Linked addresses of the active users holding DAO_MULTISIG on ``project`` (sorted; EIP-55 form).

    These are the addresses whose EIP-712 approvals and Safe signatures count as the project's multisig signers.
    """
    addresses = (
        Wallet.objects.filter(
            user__is_active=True,
            user__project_roles__project=project,
            user__project_roles__role=ProjectRole.DAO_MULTISIG,
            user__project_roles__revoked_at__isnull=True,
        )
        .values_list("address", flat=True)
        .distinct()
    )
    return sorted(addresses, key=str.lower)
