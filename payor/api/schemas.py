"""Shared API schemas."""

from __future__ import annotations

from typing import Self
from uuid import UUID

from ninja import Schema
from pydantic import Field, field_validator, model_validator

from payor.accounts.models import User
from payor.core.money import Money, MoneyError
from payor.rbac.selectors import user_find


class MoneyOut(Schema):
    """An amount as a decimal string in the currency's units, plus exact minor units."""

    amount: str
    currency: str
    minor: int

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(amount=money.amount_str(), currency=money.currency.code, minor=money.minor)


#: The largest amount an API client may send, in minor units (10^17: a trillion dollars in cents, a hundred
#: billion USDC). The columns are BIGINT (about 9.2 * 10^18): the bound leaves room for sums of many amounts,
#: so an absurd input is a 422 ``money_invalid`` and never an overflow inside the database.
MONEY_INPUT_MAX_MINOR = 10**17


class MoneyIn(Schema):
    """An amount given as a decimal string in the currency's units (``"1250.00"``, never a float)."""

    amount: str = Field(max_length=40, examples=["10000.00"])
    currency: str = Field(min_length=3, max_length=10, examples=["USD"])

    def money(self) -> Money:
        """The parsed amount (``MoneyError``, a 422 ``money_invalid``, for bad text or beyond the bound)."""
        money = Money.parse(self.amount, self.currency.upper())
        if abs(money.minor) > MONEY_INPUT_MAX_MINOR:
            raise MoneyError(f"amount {self.amount} {money.currency.code} is beyond the supported range")
        return money


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


class UserTargetIn(Schema):
    """A user named by exactly one of ``user_id`` or ``email`` (role grants, vendor users)."""

    user_id: UUID | None = None
    email: str | None = Field(default=None, min_length=3, max_length=254)

    @field_validator("email")
    @classmethod
    def email_plain(cls, value: str | None) -> str | None:
        if value is not None and ("\x00" in value or "@" not in value):
            raise ValueError("not an email address")
        return value

    @model_validator(mode="after")
    def exactly_one_target(self) -> Self:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id and email")
        return self

    def user(self) -> User:
        """The user named (``user_not_found`` if none)."""
        return user_find(self.user_id if self.user_id is not None else str(self.email))
