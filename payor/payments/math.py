"""What a disbursement pays per coded budget line, as a pure function over Money (no database).

After approval an invoice's coding row ``i`` still has ``e_i = gross_i - retention_i - withholds_i`` encumbered on
its budget line, and ``Σ e_i = net_payable + early_pay_discount`` (the invoice's identities). Paying it:

* discount **not** taken: every row pays ``e_i``; the vendor gets ``net_payable + early_pay_discount``;
* discount taken: the discount ``D`` is split over the rows in proportion to ``e_i`` by the largest-remainder
  method (:meth:`payor.core.money.Money.allocate`), ``d_i``; row ``i`` pays ``e_i - d_i`` and releases ``d_i`` back
  to the contract's commitment on that line; the vendor gets ``net_payable``.

Every share is exact to the cent: ``Σ d_i = D`` and ``Σ (e_i - d_i) = net_payable``; since ``D <= Σ e_i`` each
``d_i <= e_i`` (a share is within one minor unit of its exact share ``D·e_i/Σe``, which is at most ``e_i``, an
integer), so no row pays a negative amount.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from payor.core.money import Money


@dataclass(frozen=True)
class CodedPart:
    """One coding row of an approved invoice: what is still encumbered on its budget line."""

    budget_line_id: uuid.UUID
    encumbered: Money


@dataclass(frozen=True)
class LineShare:
    budget_line_id: uuid.UUID
    amount: Money


@dataclass(frozen=True)
class PaymentSplit:
    amount: Money  # cash to the vendor: Σ paid
    discount_taken: Money  # Σ released
    paid: tuple[LineShare, ...]  # per coded line, moved encumbered → disbursed
    released: tuple[LineShare, ...]  # per coded line, the discount's share (encumbered → committed)


def payment_split(
    *, currency: str, parts: Sequence[CodedPart], net_payable: Money, early_pay_discount: Money, take_discount: bool
) -> PaymentSplit:
    """The module docstring's split. Raises ``ValueError`` if the rows do not add up to the invoice's figures
    (an invoice whose stored figures break their identities: a bug, not a refusal)."""
    zero = Money.zero(currency)
    encumbered = Money.sum((part.encumbered for part in parts), currency)
    if encumbered != net_payable + early_pay_discount or any(part.encumbered.is_negative for part in parts):
        raise ValueError(
            f"the coding rows hold {encumbered.amount_str()} encumbered; the invoice pays "
            f"{net_payable.amount_str()} + {early_pay_discount.amount_str()} discount"
        )
    discount = early_pay_discount if take_discount else zero
    if discount.is_positive:
        shares = discount.allocate([part.encumbered.minor for part in parts])
    else:
        shares = [zero for _ in parts]
    paid = tuple(
        LineShare(part.budget_line_id, part.encumbered - share) for part, share in zip(parts, shares, strict=True)
    )
    released = tuple(LineShare(part.budget_line_id, share) for part, share in zip(parts, shares, strict=True))
    return PaymentSplit(
        amount=Money.sum((line.amount for line in paid), currency),
        discount_taken=discount,
        paid=paid,
        released=released,
    )
