"""The arithmetic of an invoice, as pure functions over Money (no database).

Given the SOV lines (each bills ``this_period`` directly or as a cumulative ``percent_complete``), what earlier
invoices billed per SOV item, the coding of the subtotal to budget lines, taxes, withholding, fees, the
contract's retention percentage and its early-pay discount, :func:`invoice_figures` returns every figure of
the invoice and its per-line shares:

* ``this_period`` from a percentage: ``round_half_up(scheduled x pct) - previous``; a percentage below what
  was billed before is refused (credits are a separate document);
* ``percent_complete = (previous + this_period) / scheduled``, rounded **down** to 0.01 % (never shows 100 %
  before the item is fully billed);
* ``subtotal = Σ this_period``; ``total = subtotal + taxes``;
* ``retention = round_half_up(subtotal x retention %)``, on the invoice's subtotal (not per line), then split
  over the SOV lines and over the coding lines by the largest-remainder method
  (:meth:`payor.core.money.Money.allocate`): the shares always add up to the invoice's retention exactly;
* taxes are split over the coding lines in proportion to the coded amounts; withholding in proportion to what
  each line keeps after retention (so no line's parts exceed its gross);
* ``early_pay_discount = round_half_up((subtotal - retention) x discount %)`` under early-pay terms: the
  discount applies to the work payable now, not to taxes or to retention paid later;
* ``withholds <= total - retention - early_pay_discount`` (so net payable is never negative);
* ``net_payable = total - retention - withholds - early_pay_discount`` (to the vendor; assumes the discount is
  taken, which ``discount_until`` bounds); fees are borne by the payer and never reduce what the vendor gets;
* ``funds_required = total - withholds - early_pay_discount + fees`` (seed 004's funds-availability figure).

A vendor's own figures (``claimed_retention``, ``claimed_total``) are checked against these to the cent
(seed 004's "retention math" check).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from payor.core.money import Money
from payor.invoices.errors import (
    InvoiceCodingMismatch,
    InvoiceCurrencyMismatch,
    InvoiceInvalid,
    InvoiceRetentionMismatch,
    InvoiceSovInvalid,
    InvoiceSovOverScheduled,
    InvoiceTotalMismatch,
    InvoiceWithholdsInvalid,
)

HUNDRED = Decimal(100)
CENT_PERCENT = Decimal("0.01")
ITEM_CODE_MAX = 32
DESCRIPTION_MAX = 300
MAX_LINES = 200


@dataclass(frozen=True)
class SovLineIn:
    """One SOV line as entered: ``this_period`` or a cumulative ``percent_complete`` (exactly one)."""

    item_code: str
    description: str
    scheduled_value: Money
    this_period: Money | None = None
    percent_complete: Decimal | str | None = None


@dataclass(frozen=True)
class CodingIn:
    budget_line_id: uuid.UUID
    amount: Money


@dataclass(frozen=True)
class SovLineFigures:
    item_code: str
    description: str
    scheduled_value: Money
    previous: Money
    this_period: Money
    percent_complete: Decimal
    retention: Money

    @property
    def billed_to_date(self) -> Money:
        return self.previous + self.this_period

    @property
    def balance_to_finish(self) -> Money:
        return self.scheduled_value - self.billed_to_date


@dataclass(frozen=True)
class CodingFigures:
    budget_line_id: uuid.UUID
    amount: Money
    taxes: Money
    retention: Money
    withholds: Money

    @property
    def gross(self) -> Money:
        """Encumbered on the line at submission."""
        return self.amount + self.taxes


@dataclass(frozen=True)
class InvoiceFigures:
    subtotal: Money
    taxes: Money
    total: Money
    retention: Money
    withholds: Money
    early_pay_discount: Money
    net_payable: Money
    fees: Money
    lines: tuple[SovLineFigures, ...]
    coding: tuple[CodingFigures, ...]

    @property
    def funds_required(self) -> Money:
        return self.total - self.withholds - self.early_pay_discount + self.fees


def percent_parse(
    value: Decimal | str | int, *, field: str, error: type[InvoiceInvalid] | type[InvoiceSovInvalid]
) -> Decimal:
    """A percentage 0-100 with at most 2 decimals, from a decimal string (a float is refused)."""
    if isinstance(value, float):
        raise error("percentages are decimal strings, not floats", field=field)
    try:
        percent = Decimal(str(value))
    except InvalidOperation as exc:
        raise error("a percentage must be a number", field=field) from exc
    if not percent.is_finite() or not Decimal(0) <= percent <= HUNDRED or percent != percent.quantize(CENT_PERCENT):
        raise error("a percentage is 0 to 100 with at most 2 decimals", field=field)
    return percent


def _same_currency(money: Money, currency: str, field: str) -> Money:
    if money.code != currency:
        raise InvoiceCurrencyMismatch(f"{field} is in {money.code}; the contract is in {currency}", field=field)
    return money


def _non_negative(money: Money, currency: str, field: str) -> Money:
    _same_currency(money, currency, field)
    if money.is_negative:
        raise InvoiceInvalid(f"{field} cannot be negative", field=field)
    return money


def _percent_complete(billed: Money, scheduled: Money) -> Decimal:
    return (Decimal(billed.minor) * HUNDRED / Decimal(scheduled.minor)).quantize(CENT_PERCENT, rounding=ROUND_DOWN)


def _sov_line(index: int, line: SovLineIn, previous: Money, currency: str) -> tuple[SovLineIn, Money]:
    where = f"lines[{index}]"
    code = (line.item_code or "").strip()
    if not code or len(code) > ITEM_CODE_MAX:
        raise InvoiceSovInvalid(f"{where}: an SOV item code of 1 to {ITEM_CODE_MAX} characters", field=where)
    description = (line.description or "").strip()
    if not description or len(description) > DESCRIPTION_MAX:
        raise InvoiceSovInvalid(f"{where}: a description of 1 to {DESCRIPTION_MAX} characters", field=where)
    scheduled = _same_currency(line.scheduled_value, currency, f"{where}.scheduled_value")
    if not scheduled.is_positive:
        raise InvoiceSovInvalid(f"{where}: the scheduled value must be positive", field=where)
    if (line.this_period is None) == (line.percent_complete is None):
        raise InvoiceSovInvalid(f"{where}: give either this_period or percent_complete", field=where)
    if line.this_period is not None:
        this_period = _non_negative(line.this_period, currency, f"{where}.this_period")
    else:
        percent = percent_parse(
            line.percent_complete or "0", field=f"{where}.percent_complete", error=InvoiceSovInvalid
        )
        to_date = scheduled.percentage(percent, rounding=ROUND_HALF_UP)
        if to_date < previous:
            raise InvoiceSovInvalid(
                f"{where}: {percent}% complete is less than the "
                f"{_percent_complete(previous, scheduled)}% billed before",
                field=where,
            )
        this_period = to_date - previous
    if previous + this_period > scheduled:
        raise InvoiceSovOverScheduled(
            f"item {code}: {previous.amount_str()} billed before plus {this_period.amount_str()} now exceeds the "
            f"scheduled {scheduled.amount_str()}",
            item_code=code,
            balance_to_finish=(scheduled - previous).amount_str(),
        )
    return SovLineIn(code, description, scheduled, this_period), this_period


def invoice_figures(
    *,
    currency: str,
    lines: Sequence[SovLineIn],
    previous: Mapping[str, Money],
    coding: Sequence[CodingIn],
    taxes: Money,
    withholds: Money,
    fees: Money,
    retention_percent: Decimal,
    discount_percent: Decimal | None = None,
    claimed_retention: Money | None = None,
    claimed_total: Money | None = None,
) -> InvoiceFigures:
    """Every figure of an invoice (module docstring); refusals are 422s with the offending field."""
    if not lines:
        raise InvoiceSovInvalid("an invoice has at least one schedule-of-values line", field="lines")
    if len(lines) > MAX_LINES:
        raise InvoiceSovInvalid(f"at most {MAX_LINES} lines", field="lines")
    zero = Money.zero(currency)
    checked: list[tuple[SovLineIn, Money, Money]] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        prior = previous.get((line.item_code or "").strip(), zero)
        line_in, this_period = _sov_line(index, line, prior, currency)
        if line_in.item_code in seen:
            raise InvoiceSovInvalid(f"item {line_in.item_code} appears twice", field=f"lines[{index}]")
        seen.add(line_in.item_code)
        checked.append((line_in, prior, this_period))
    subtotal = Money.sum((this_period for _, _, this_period in checked), currency)
    if not subtotal.is_positive:
        raise InvoiceSovInvalid("the invoice bills nothing this period", field="lines")

    taxes = _non_negative(taxes, currency, "taxes")
    withholds = _non_negative(withholds, currency, "withholds")
    fees = _non_negative(fees, currency, "fees")
    total = subtotal + taxes
    retention = subtotal.percentage(retention_percent, rounding=ROUND_HALF_UP)
    discount = (subtotal - retention).percentage(discount_percent, rounding=ROUND_HALF_UP) if discount_percent else zero
    payable = total - retention - discount
    if withholds > payable:
        raise InvoiceWithholdsInvalid(
            f"withholding {withholds.amount_str()} is more than the {payable.amount_str()} payable "
            "(total less retention and the early-pay discount)",
            field="withholds",
        )
    if claimed_retention is not None and _same_currency(claimed_retention, currency, "retention") != retention:
        raise InvoiceRetentionMismatch(
            f"{retention_percent}% of {subtotal.amount_str()} is {retention.amount_str()}, "
            f"not {claimed_retention.amount_str()}",
            expected=retention.amount_str(),
            field="retention",
        )
    if claimed_total is not None and _same_currency(claimed_total, currency, "total") != total:
        raise InvoiceTotalMismatch(
            f"{subtotal.amount_str()} + {taxes.amount_str()} taxes is {total.amount_str()}, "
            f"not {claimed_total.amount_str()}",
            expected=total.amount_str(),
            field="total",
        )

    if not coding:
        raise InvoiceCodingMismatch("code the subtotal to at least one budget line", field="coding")
    coded_lines: set[uuid.UUID] = set()
    for index, part in enumerate(coding):
        _same_currency(part.amount, currency, f"coding[{index}].amount")
        if not part.amount.is_positive:
            raise InvoiceInvalid(f"coding[{index}]: a coded amount must be positive", field=f"coding[{index}]")
        if part.budget_line_id in coded_lines:
            raise InvoiceInvalid(f"coding[{index}]: the budget line is coded twice", field=f"coding[{index}]")
        coded_lines.add(part.budget_line_id)
    coded = Money.sum((part.amount for part in coding), currency)
    if coded != subtotal:
        raise InvoiceCodingMismatch(
            f"the coding adds up to {coded.amount_str()}; the subtotal is {subtotal.amount_str()}",
            coded=coded.amount_str(),
            subtotal=subtotal.amount_str(),
            field="coding",
        )

    amounts = [part.amount.minor for part in coding]
    tax_shares = taxes.allocate(amounts)
    retention_shares = retention.allocate(amounts)
    keeps = [
        part.amount.minor + tax.minor - ret.minor
        for part, tax, ret in zip(coding, tax_shares, retention_shares, strict=True)
    ]
    withhold_shares = withholds.allocate(keeps) if any(keeps) else [zero for _ in coding]
    coding_figures = tuple(
        CodingFigures(part.budget_line_id, part.amount, tax, ret, held)
        for part, tax, ret, held in zip(coding, tax_shares, retention_shares, withhold_shares, strict=True)
    )
    line_retention = retention.allocate([this_period.minor for _, _, this_period in checked])
    line_figures = tuple(
        SovLineFigures(
            item_code=line.item_code,
            description=line.description,
            scheduled_value=line.scheduled_value,
            previous=prior,
            this_period=this_period,
            percent_complete=_percent_complete(prior + this_period, line.scheduled_value),
            retention=share,
        )
        for (line, prior, this_period), share in zip(checked, line_retention, strict=True)
    )
    net_payable = total - retention - withholds - discount
    return InvoiceFigures(
        subtotal=subtotal,
        taxes=taxes,
        total=total,
        retention=retention,
        withholds=withholds,
        early_pay_discount=discount,
        net_payable=net_payable,
        fees=fees,
        lines=line_figures,
        coding=coding_figures,
    )
