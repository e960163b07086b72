"""Properties of :func:`payor.invoices.math.invoice_figures` for random SOV lines, coding, taxes, withholding,
retention and discount percentages (pure functions: no database), checked against an exact oracle in fractions."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from payor.core.money import Money
from payor.invoices.errors import InvoiceRetentionMismatch, InvoiceTotalMismatch, InvoiceWithholdsInvalid
from payor.invoices.math import CodingIn, InvoiceFigures, SovLineIn, invoice_figures

USD = "USD"
MAX_MINOR = 10**11  # a billion dollars per line


def usd(minor: int) -> Money:
    return Money.of_minor(minor, USD)


def half_up(value: Fraction) -> int:
    """Round a non-negative fraction half up to an integer."""
    return int((2 * value + 1) // 2)


percents = st.integers(min_value=0, max_value=10_000).map(lambda hundredths: Decimal(hundredths) / 100)


@st.composite
def sov_lines(draw):
    """1-6 SOV lines, each billing ``this_period`` directly or a cumulative percentage, with what was billed
    before on the item; returns (lines, previous by item)."""
    count = draw(st.integers(min_value=1, max_value=6))
    lines: list[SovLineIn] = []
    previous: dict[str, Money] = {}
    for index in range(count):
        code = f"L{index}"
        scheduled = draw(st.integers(min_value=1, max_value=MAX_MINOR))
        if draw(st.booleans()):
            before = draw(st.integers(min_value=0, max_value=scheduled))
            this_period = draw(st.integers(min_value=0, max_value=scheduled - before))
            line = SovLineIn(code, f"Item {index}", usd(scheduled), this_period=usd(this_period))
        else:
            percent = draw(percents)
            to_date = half_up(Fraction(scheduled) * Fraction(percent) / 100)
            before = draw(st.integers(min_value=0, max_value=to_date))
            line = SovLineIn(code, f"Item {index}", usd(scheduled), percent_complete=str(percent))
        lines.append(line)
        if before:
            previous[code] = usd(before)
    return lines, previous


def this_periods(lines: list[SovLineIn], previous: dict[str, Money]) -> list[int]:
    """The oracle's this-period amounts."""
    result = []
    for line in lines:
        if line.this_period is not None:
            result.append(line.this_period.minor)
        else:
            scheduled = line.scheduled_value.minor
            to_date = half_up(Fraction(scheduled) * Fraction(Decimal(str(line.percent_complete))) / 100)
            result.append(to_date - previous.get(line.item_code, usd(0)).minor)
    return result


@st.composite
def invoices(draw):
    lines, previous = draw(sov_lines())
    subtotal = sum(this_periods(lines, previous))
    assume(subtotal > 0)
    parts = draw(st.integers(min_value=1, max_value=min(5, subtotal)))
    cuts: list[int] = []
    if parts > 1:
        points = st.integers(min_value=1, max_value=subtotal - 1)
        cuts = sorted(draw(st.sets(points, min_size=parts - 1, max_size=parts - 1)))
    bounds = [0, *cuts, subtotal]
    coding = [CodingIn(uuid.uuid4(), usd(bounds[i + 1] - bounds[i])) for i in range(parts)]
    taxes = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=MAX_MINOR)))
    retention_percent = draw(percents)
    retention = half_up(Fraction(subtotal) * Fraction(retention_percent) / 100)
    discount_percent = draw(st.one_of(st.none(), percents))
    discount = half_up(Fraction(subtotal - retention) * Fraction(discount_percent) / 100) if discount_percent else 0
    payable = subtotal + taxes - retention - discount
    withholds = draw(st.one_of(st.just(0), st.just(payable), st.integers(min_value=0, max_value=payable)))
    fees = draw(st.integers(min_value=0, max_value=10**6))
    return {
        "currency": USD,
        "lines": lines,
        "previous": previous,
        "coding": coding,
        "taxes": usd(taxes),
        "withholds": usd(withholds),
        "fees": usd(fees),
        "retention_percent": retention_percent,
        "discount_percent": discount_percent,
    }


def within_one_unit(shares: list[Money], total: Money, weights: list[int]) -> None:
    """Each share is within one minor unit of its exact proportional share (and a zero weight gets zero)."""
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(total.minor * weight, whole)
        assert abs(share.minor - exact) < 1, (share, exact)
        if weight == 0:
            assert share.minor == 0


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(invoices())
def test_the_shares_add_up_to_the_invoice_figures(kwargs):
    figures: InvoiceFigures = invoice_figures(**kwargs)
    amounts = [part.amount.minor for part in kwargs["coding"]]
    periods = this_periods(kwargs["lines"], kwargs["previous"])

    # The invoice's own figures, from the oracle.
    subtotal = sum(periods)
    assert figures.subtotal == usd(subtotal)
    assert figures.taxes == kwargs["taxes"]
    assert figures.total == figures.subtotal + figures.taxes
    assert figures.retention == usd(half_up(Fraction(subtotal) * Fraction(kwargs["retention_percent"]) / 100))
    discount = kwargs["discount_percent"] or Decimal(0)
    payable_now = subtotal - figures.retention.minor
    assert figures.early_pay_discount == usd(half_up(Fraction(payable_now) * Fraction(discount) / 100))
    assert figures.net_payable == figures.total - figures.retention - figures.withholds - figures.early_pay_discount
    if not discount:
        assert not figures.net_payable.is_negative
    assert figures.funds_required == figures.total - figures.withholds - figures.early_pay_discount + figures.fees

    # Every split keeps every cent.
    assert [line.this_period.minor for line in figures.lines] == periods
    assert Money.sum((line.retention for line in figures.lines), USD) == figures.retention
    assert Money.sum((part.amount for part in figures.coding), USD) == figures.subtotal
    assert Money.sum((part.retention for part in figures.coding), USD) == figures.retention
    assert Money.sum((part.taxes for part in figures.coding), USD) == figures.taxes
    assert Money.sum((part.withholds for part in figures.coding), USD) == figures.withholds
    assert Money.sum((part.gross for part in figures.coding), USD) == figures.total

    # No coding line gives away more than it is charged, and nothing is negative.
    for part in figures.coding:
        assert part.retention + part.withholds <= part.gross
        assert min(part.taxes.minor, part.retention.minor, part.withholds.minor) >= 0

    # Each share within one minor unit of its exact proportional share.
    within_one_unit([line.retention for line in figures.lines], figures.retention, periods)
    within_one_unit([part.retention for part in figures.coding], figures.retention, amounts)
    within_one_unit([part.taxes for part in figures.coding], figures.taxes, amounts)
    keeps = [part.gross.minor - part.retention.minor for part in figures.coding]
    if any(keeps):
        within_one_unit([part.withholds for part in figures.coding], figures.withholds, keeps)


@PROPERTY_SETTINGS
@given(invoices())
def test_percent_complete_never_overstates(kwargs):
    figures = invoice_figures(**kwargs)
    for line in figures.lines:
        billed = line.billed_to_date.minor
        scheduled = line.scheduled_value.minor
        exact = Fraction(billed * 100, scheduled)
        assert Fraction(line.percent_complete) <= exact
        assert exact - Fraction(line.percent_complete) < Fraction(1, 100)
        assert (line.percent_complete == 100) == (billed == scheduled)
        assert line.balance_to_finish.minor == scheduled - billed >= 0


@PROPERTY_SETTINGS
@given(invoices(), st.sampled_from([-1, 1]))
def test_the_vendors_own_figures_are_checked_to_the_cent(kwargs, delta):
    figures = invoice_figures(**kwargs)
    # Stated right, they pass.
    assert invoice_figures(**kwargs, claimed_retention=figures.retention, claimed_total=figures.total) == figures
    # A cent off either way, they are refused.
    if figures.retention.minor + delta >= 0:
        with pytest.raises(InvoiceRetentionMismatch):
            invoice_figures(**kwargs, claimed_retention=usd(figures.retention.minor + delta))
    with pytest.raises(InvoiceTotalMismatch):
        invoice_figures(**kwargs, claimed_total=usd(figures.total.minor + delta))


def test_retention_is_split_by_largest_remainder_not_rounded_per_line():
    """Three equal lines of 0.01 at 50 %: the invoice's retention rounds 1.5 cents up to 2; per-line rounding
    would give 3 (or 0), the split gives 1 + 1 + 0."""
    lines = [SovLineIn(f"L{i}", "Item", usd(100), this_period=usd(1)) for i in range(3)]
    figures = invoice_figures(
        currency=USD,
        lines=lines,
        previous={},
        coding=[CodingIn(uuid.uuid4(), usd(3))],
        taxes=usd(0),
        withholds=usd(0),
        fees=usd(0),
        retention_percent=Decimal("50"),
    )
    assert figures.retention == usd(2)
    assert [line.retention.minor for line in figures.lines] == [1, 1, 0]


def test_net_payable_is_never_negative():
    """Withholding may take what is payable after retention and the early-pay discount, never more."""
    common = {
        "currency": USD,
        "lines": [SovLineIn("1", "Work", usd(100_000), this_period=usd(100_000))],
        "previous": {},
        "coding": [CodingIn(uuid.uuid4(), usd(100_000))],
        "taxes": usd(0),
        "fees": usd(0),
        "retention_percent": Decimal("10"),
        "discount_percent": Decimal("2"),  # 2 % of 90,000 = 1,800
    }
    with pytest.raises(InvoiceWithholdsInvalid):
        invoice_figures(withholds=usd(88_201), **common)
    figures = invoice_figures(withholds=usd(88_200), **common)
    assert figures.net_payable == usd(0)


def test_the_oracle_rounds_half_up_like_money():
    assert [half_up(Fraction(n, 2)) for n in range(6)] == [0, 1, 1, 2, 2, 3]
    for minor in (5, 14, 15, 25, 1005):
        assert usd(half_up(Fraction(minor, 10))) == usd(minor).percentage(Decimal(10), rounding=ROUND_HALF_UP)
