"""The split of a payment over the coded lines (pure): every cent kept, no line pays a negative amount."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payor.core.money import Money
from payor.payments.math import CodedPart, payment_split


def usd(minor: int) -> Money:
    return Money.of_minor(minor, "USD")


@given(
    encumbered=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=12),
    discount_fraction=st.fractions(min_value=0, max_value=1),
    take=st.booleans(),
)
def test_split_keeps_every_cent(encumbered, discount_fraction, take):
    total = sum(encumbered)
    discount = int(total * discount_fraction)
    parts = [CodedPart(uuid.uuid4(), usd(minor)) for minor in encumbered]
    split = payment_split(
        currency="USD",
        parts=parts,
        net_payable=usd(total - discount),
        early_pay_discount=usd(discount),
        take_discount=take,
    )
    taken = discount if take else 0
    assert split.discount_taken == usd(taken)
    assert split.amount == usd(total - taken)
    assert sum(share.amount.minor for share in split.released) == taken
    for part, paid, released in zip(parts, split.paid, split.released, strict=True):
        assert paid.budget_line_id == released.budget_line_id == part.budget_line_id
        assert paid.amount.minor >= 0
        assert released.amount.minor >= 0
        assert paid.amount + released.amount == part.encumbered


def test_rows_that_do_not_add_up_are_a_bug():
    with pytest.raises(ValueError, match="encumbered"):
        payment_split(
            currency="USD",
            parts=[CodedPart(uuid.uuid4(), usd(100))],
            net_payable=usd(90),
            early_pay_discount=usd(5),
            take_discount=True,
        )
