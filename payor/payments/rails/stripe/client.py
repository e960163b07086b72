"""Stripe Connect through the official ``stripe`` SDK — the only module that imports it.

Payouts are ``transfers.create`` to the vendor's connected account (``transfer_group`` = the project, the
attempt's idempotency key, metadata naming the disbursement and the attempt), onboarding is ``accounts.create``
+ ``account_links.create``, webhooks are verified with ``stripe.Webhook.construct_event``.

Where it talks to: ``settings.STRIPE_API_BASE`` (the local server by default; empty with a real key → the real
API), set on the client through ``base_addresses``. Timeouts and SDK retries come from settings
(``STRIPE_TIMEOUT_SECONDS``, ``STRIPE_MAX_NETWORK_RETRIES``): the SDK's own retries keep the same idempotency key,
and so do ours.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

import stripe
from django.conf import settings

from payor.payments.rails.base import (
    PaymentOrder,
    PaymentResult,
    RailError,
    RailEvent,
    RailRetryableError,
    RailSignatureError,
    RailStatus,
    RailTerminalError,
)

__all__ = ["StripeConnectRail", "map_status", "stripe_rail"]


@functools.lru_cache(maxsize=8)
def _client(api_key: str, api_base: str, timeout: float, retries: int) -> stripe.StripeClient:
    base: Any = {"api": api_base, "connect": api_base, "files": api_base} if api_base else None
    return stripe.StripeClient(
        api_key,
        base_addresses=base,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def map_status(obj: Mapping[str, Any]) -> RailStatus:
    """Stripe's words for a transfer or a payout, in the rail's (the one place they are mapped)."""
    kind = obj.get("object")
    if kind == "transfer":
        amount = int(obj.get("amount") or 0)
        if obj.get("reversed") or (amount and int(obj.get("amount_reversed") or 0) >= amount):
            return RailStatus.REVERSED
        return RailStatus.SUCCEEDED  # a transfer is made when it is created
    if kind == "payout":
        status = obj.get("status")
        if status == "paid":
            return RailStatus.SUCCEEDED
        if status in ("failed", "canceled"):
            return RailStatus.FAILED
        return RailStatus.PENDING
    raise ValueError(f"no status mapping for a Stripe {kind!r}")


def _error(exc: stripe.StripeError) -> RailError:
    """Stripe's exceptions as the rail's: retry what may have happened or may work later, refuse the rest."""
    status = exc.http_status
    code = str(exc.code or "")
    message = str(exc.user_message or exc._message or exc.__class__.__name__)
    if isinstance(exc, stripe.APIConnectionError):
        return RailRetryableError(f"Stripe could not be reached: {message}", code="rail_unreachable")
    if isinstance(exc, stripe.RateLimitError):
        return RailRetryableError(message, code=code or "rate_limit", http_status=status)
    if isinstance(exc, stripe.IdempotencyError):
        # Our parameters for one key never change; if Stripe says otherwise, do not pay under a new key blindly.
        return RailRetryableError(message, code="idempotency_error", http_status=status)
    if isinstance(exc, (stripe.InvalidRequestError, stripe.CardError)):
        return RailTerminalError(message, code=code or "invalid_request", http_status=status)
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        return RailTerminalError(message, code="rail_authentication_failed", http_status=status)
    if (status is not None and status >= 500) or status == 409:
        return RailRetryableError(message, code=code or "rail_unavailable", http_status=status)
    return RailRetryableError(message, code=code or "rail_error", http_status=status)


def _plain(obj: stripe.StripeObject) -> dict[str, Any]:
    """The object as Stripe sent it (the parsed response body), plain dicts and lists."""
    data: Any = json.loads(str(obj))
    return dict(data)


def _replayed(obj: stripe.StripeObject) -> bool:
    response = obj.last_response
    return bool(response is not None and str(response.headers.get("Idempotent-Replayed", "")).lower() == "true")


def _transfer_result(obj: stripe.StripeObject) -> PaymentResult:
    data = _plain(obj)
    return PaymentResult(
        reference=str(data["id"]),
        status=map_status(data),
        provider_status="reversed" if data.get("reversed") else "created",
        replayed=_replayed(obj),
        summary={
            key: data.get(key)
            for key in ("id", "amount", "currency", "destination", "transfer_group", "reversed", "created")
        },
    )


class StripeConnectRail:
    """:class:`payor.payments.rails.base.PaymentRail` over Stripe Connect transfers."""

    name = "stripe_connect"

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        webhook_secret: str,
        timeout: float = 30.0,
        max_network_retries: int = 0,
    ) -> None:
        self.client = _client(api_key, api_base, float(timeout), int(max_network_retries))
        self.webhook_secret = webhook_secret

    # -- payments ------------------------------------------------------------------------------------------

    def submit(self, order: PaymentOrder) -> PaymentResult:
        params: Any = {
            "amount": order.amount_minor,
            "currency": order.currency.lower(),
            "destination": order.destination,
            "transfer_group": order.group,
            "description": order.description[:350],
            "metadata": dict(order.metadata),
        }
        try:
            transfer = self.client.v1.transfers.create(params, {"idempotency_key": order.idempotency_key})
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return _transfer_result(transfer)

    def fetch_status(self, reference: str) -> PaymentResult:
        try:
            transfer = self.client.v1.transfers.retrieve(reference)
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return _transfer_result(transfer)

    # -- onboarding ----------------------------------------------------------------------------------------

    def account_create(self, *, vendor_id: str, country: str, email: str, idempotency_key: str) -> dict[str, Any]:
        """An Express connected account for the vendor, asking for the transfers capability."""
        params: Any = {
            "type": "express",
            "country": country,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"vendor_id": vendor_id},
        }
        if email:
            params["email"] = email
        try:
            account = self.client.v1.accounts.create(params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return _plain(account)

    def account_retrieve(self, account_id: str) -> dict[str, Any]:
        try:
            return _plain(self.client.v1.accounts.retrieve(account_id))
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> dict[str, Any]:
        params: Any = {
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        }
        try:
            return _plain(self.client.v1.account_links.create(params))
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    # -- webhooks ------------------------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> RailEvent:
        signature = headers.get("Stripe-Signature") or headers.get("stripe-signature") or ""
        if not signature:
            raise RailSignatureError("The Stripe-Signature header is missing", code="webhook_signature_missing")
        # Stripe signs an account endpoint's and a Connect endpoint's events with different secrets: any may match.
        secrets = [secret.strip() for secret in self.webhook_secret.split(",") if secret.strip()]
        failure = "No webhook secret is configured"
        for secret in secrets:
            try:
                stripe.Webhook.construct_event(payload, signature, secret)  # type: ignore[no-untyped-call]
            except stripe.SignatureVerificationError as exc:
                failure = str(exc._message)
                continue
            except (ValueError, UnicodeDecodeError) as exc:
                raise RailSignatureError("The webhook body is not JSON", code="webhook_payload_invalid") from exc
            break
        else:
            raise RailSignatureError(failure, code="webhook_signature_invalid")
        data = json.loads(payload)
        obj = (data.get("data") or {}).get("object")
        if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str) or not isinstance(obj, dict):
            raise RailSignatureError("The webhook is not a Stripe event", code="webhook_payload_invalid")
        created = dt.datetime.fromtimestamp(int(data.get("created") or 0), tz=dt.UTC)
        return RailEvent(external_id=data["id"], type=data["type"], created=created, object=obj, payload=data)


def stripe_rail() -> StripeConnectRail:
    """The rail configured by settings (``STRIPE_*``)."""
    return StripeConnectRail(
        api_key=settings.STRIPE_SECRET_KEY,
        api_base=settings.STRIPE_API_BASE,
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
        timeout=settings.STRIPE_TIMEOUT_SECONDS,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
    )
