"""The rail interface (design §8): one narrow Protocol, plain data classes in and out, two kinds of errors.

A rail adapter turns a :class:`PaymentOrder` into the provider's request (the only place money leaves the
``Money`` value object for a provider's format), submits it with the order's idempotency key, fetches a payment's
status, and parses/verifies the provider's webhooks into :class:`RailEvent`. Provider SDKs are imported only
under ``payor/payments/rails/<rail>/``.

Errors: :class:`RailRetryableError` — the outcome is unknown or the provider asks to try again (timeouts, 5xx,
rate limits, connection errors): the caller retries later **with the same idempotency key**;
:class:`RailTerminalError` — the provider refused the payment for good (its ``code``, e.g.
``balance_insufficient``, is shown to the user). :class:`RailSignatureError` — a webhook whose signature does
not verify.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class RailStatus(enum.StrEnum):
    """A payment's status on the rail, mapped from the provider's own words by one function per rail."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVERSED = "reversed"


@dataclass(frozen=True)
class PaymentOrder:
    """Pay ``amount_minor`` ``currency`` to the provider account ``destination``."""

    idempotency_key: str
    amount_minor: int
    currency: str
    destination: str
    group: str
    description: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentResult:
    reference: str
    status: RailStatus
    provider_status: str
    replayed: bool = False
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RailEvent:
    """A verified webhook: the provider's event id and type, when it happened, and the object it is about."""

    external_id: str
    type: str
    created: dt.datetime
    object: Mapping[str, Any]
    payload: Mapping[str, Any]


class RailError(Exception):
    def __init__(self, message: str, *, code: str = "", http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class RailRetryableError(RailError):
    """The outcome is unknown or the provider asks to retry: try again later with the same key."""


class RailTerminalError(RailError):
    """Refused for good: the payment fails with this code and message."""


class RailSignatureError(RailError):
    """A webhook whose signature (or payload) does not verify."""


class PaymentRail(Protocol):
    """What Payor needs of a rail. Adapters: ``payor.payments.rails.stripe.client.StripeConnectRail``."""

    name: str

    def submit(self, order: PaymentOrder) -> PaymentResult:
        """Create the payment, idempotently on ``order.idempotency_key``."""
        ...

    def fetch_status(self, reference: str) -> PaymentResult:
        """The payment's current status on the rail."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> RailEvent:
        """Verify a webhook's signature and parse it (:class:`RailSignatureError` when it does not verify)."""
        ...
