"""Shared API schemas."""

from __future__ import annotations

from ninja import Schema

from payor.core.money import Money


class MoneyOut(Schema):
    """An amount as a decimal string in the currency's units, plus exact minor units."""

    amount: str
    currency: str
    minor: int

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(amount=money.amount_str(), currency=money.currency.code, minor=money.minor)


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
