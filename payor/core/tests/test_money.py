"""Tests for payor.core.money (pure Python, no Django)."""

from __future__ import annotations

import copy
import operator
import pickle
from collections.abc import Callable
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    localcontext,
)
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from payor.core.money import (
    FLOAT_ERROR,
    Currency,
    CurrencyMismatch,
    Money,
    MoneyError,
    UnknownCurrency,
    get_currency,
    register_currency,
    registered_currencies,
)

CODES = ["USD", "EUR", "GBP", "JPY", "USDC"]
ALL_MODES = [
    ROUND_HALF_UP,
    ROUND_HALF_EVEN,
    ROUND_HALF_DOWN,
    ROUND_DOWN,
    ROUND_UP,
    ROUND_FLOOR,
    ROUND_CEILING,
]


def usd(minor: int) -> Money:
    return Money(minor, "USD")


# ---------------------------------------------------------------------------
# Errors and currencies
# ---------------------------------------------------------------------------


def test_error_hierarchy_and_codes() -> None:
    assert issubclass(MoneyError, ValueError)
    assert issubclass(CurrencyMismatch, MoneyError)
    assert issubclass(UnknownCurrency, MoneyError)
    assert MoneyError.code == "money_invalid"
    assert CurrencyMismatch.code == "currency_mismatch"
    assert UnknownCurrency.code == "currency_unknown"
    assert UnknownCurrency("x").code == "currency_unknown"


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("USDC", 6)],
)
def test_builtin_currencies(code: str, exponent: int) -> None:
    currency = get_currency(code)
    assert currency.code == code
    assert currency.exponent == exponent
    assert registered_currencies()[code] is currency


def test_get_currency_unknown() -> None:
    with pytest.raises(UnknownCurrency, match="unknown currency 'XXX'"):
        get_currency("XXX")
    with pytest.raises(UnknownCurrency):
        get_currency("usd")  # codes are exact, never normalised
    with pytest.raises(UnknownCurrency):
        get_currency("")
    with pytest.raises(TypeError):
        get_currency(None)  # type: ignore[arg-type]


def test_unknown_currency_in_constructors() -> None:
    with pytest.raises(UnknownCurrency):
        Money(1, "XXX")
    with pytest.raises(UnknownCurrency):
        Money.parse("1.00", "ABC")
    with pytest.raises(UnknownCurrency):
        Money.zero("BTC1")
    with pytest.raises(UnknownCurrency):
        Money.from_decimal(Decimal(1), "NOPE")


def test_register_currency() -> None:
    created = register_currency("ZZTEST", 4, "Test Token")
    assert created == Currency("ZZTEST", 4, "Test Token")
    assert get_currency("ZZTEST") is created
    # same exponent again: idempotent, original kept
    assert register_currency("ZZTEST", 4, "Other name") is created
    with pytest.raises(MoneyError, match="already registered with exponent 4"):
        register_currency("ZZTEST", 2, "Test Token")
    with pytest.raises(MoneyError, match="already registered with exponent 2"):
        register_currency("USD", 3, "US Dollar")
    assert get_currency("USD").exponent == 2
    assert str(Money(12345, "ZZTEST")) == "1.2345 ZZTEST"


@pytest.mark.parametrize("code", ["us", "usd", "U$D", "TOOLONGCODE", "", "US D", "ÜSD"])
def test_register_currency_invalid_code(code: str) -> None:
    with pytest.raises(MoneyError, match="invalid currency code"):
        register_currency(code, 2, "Bad")
    assert code not in registered_currencies()


def test_register_currency_invalid_exponent_and_name() -> None:
    with pytest.raises(TypeError):
        register_currency("ZZBAD", True, "Bad")
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        register_currency("ZZBAD", 2.0, "Bad")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        register_currency("ZZBAD", -1, "Bad")
    with pytest.raises(MoneyError):
        register_currency("ZZBAD", 19, "Bad")
    with pytest.raises(MoneyError):
        register_currency("ZZBAD", 2, "  ")
    assert "ZZBAD" not in registered_currencies()


def test_currency_is_frozen() -> None:
    currency = get_currency("USD")
    with pytest.raises(AttributeError):
        currency.exponent = 3  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------


def test_constructor_and_fields() -> None:
    m = Money(123456, "USD")
    assert m.minor == 123456
    assert m.currency is get_currency("USD")
    assert m.code == "USD"
    assert m.exponent == 2
    assert Money(5, get_currency("EUR")) == Money.of_minor(5, "EUR")
    assert Money.zero("JPY").minor == 0
    assert Money.zero("JPY").code == "JPY"


def test_constructor_rejects_non_int_minor() -> None:
    with pytest.raises(TypeError, match="minor units must be int, not bool"):
        Money(True, "USD")
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        Money(1.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not Decimal"):
        Money(Decimal(1), "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not Fraction"):
        Money(Fraction(1), "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not str"):
        Money("100", "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        Money.of_minor(float("nan"), "USD")  # type: ignore[arg-type]


def test_constructor_rejects_bad_currency() -> None:
    with pytest.raises(TypeError):
        Money(1, 840)  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="does not match the registered definition"):
        Money(1, Currency("USD", 3, "Fake dollar"))


def test_money_is_immutable() -> None:
    m = usd(100)
    with pytest.raises(AttributeError):
        m.minor = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        m.currency = get_currency("EUR")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del m.minor
    with pytest.raises(AttributeError):
        m.extra = 1
    assert m.minor == 100


def test_pickle_and_copy() -> None:
    m = Money(-123456789, "USDC")
    restored = pickle.loads(pickle.dumps(m))
    assert restored == m
    assert restored.currency is get_currency("USDC")
    assert copy.copy(m) is m
    assert copy.deepcopy(m) is m


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("1234.56", "USD", 123456),
        ("1234.5", "USD", 123450),
        ("1234", "USD", 123400),
        ("-0.5", "USD", -50),
        ("-0.05", "USD", -5),
        ("0", "USD", 0),
        ("-0", "USD", 0),
        ("0.00", "EUR", 0),
        ("007.10", "EUR", 710),
        ("99999999999999999999.99", "GBP", 9999999999999999999999),
        ("1", "JPY", 1),
        ("-123456", "JPY", -123456),
        ("1.000001", "USDC", 1000001),
        ("0.5", "USDC", 500000),
        ("-12.345678", "USDC", -12345678),
    ],
)
def test_parse_examples(text: str, code: str, minor: int) -> None:
    m = Money.parse(text, code)
    assert m.minor == minor
    assert m.code == code


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "1,234.56",
        "1 234.56",
        " 1",
        "1 ",
        "1\n",
        "+1",
        "--1",
        "- 1",
        "1.",
        ".5",
        "-.5",
        "1e3",
        "1E3",
        "abc",
        "1.2.3",
        "1_000",
        "0x10",
        "NaN",
        "Infinity",
        "$1",
        "1 USD",
        "١٢٣",  # non-ASCII digits
        "１２",  # fullwidth digits
    ],
)
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(MoneyError, match="invalid amount"):
        Money.parse(text, "USD")


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("1.234", "USD", "amount '1.234' has 3 decimals but USD allows at most 2"),
        ("1.230", "USD", "has 3 decimals but USD allows at most 2"),
        ("1.0", "JPY", "has 1 decimals but JPY allows at most 0"),
        ("1.0000001", "USDC", "has 7 decimals but USDC allows at most 6"),
    ],
)
def test_parse_rejects_too_many_decimals(text: str, code: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        Money.parse(text, code)


def test_parse_rejects_non_str() -> None:
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        Money.parse(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects str"):
        Money.parse(Decimal("1.5"), "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects str"):
        Money.parse(150, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects str"):
        Money.parse(b"1.5", "USD")  # type: ignore[arg-type]


def test_parse_rejects_absurdly_long_amount() -> None:
    with pytest.raises(MoneyError, match="out of the supported range"):
        Money.parse("9" * 10_000, "USD")


# ---------------------------------------------------------------------------
# Decimal conversion and rendering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "code", "amount", "text", "rep"),
    [
        (123456, "USD", "1234.56", "1234.56 USD", "Money('1234.56', 'USD')"),
        (-5, "USD", "-0.05", "-0.05 USD", "Money('-0.05', 'USD')"),
        (-50, "EUR", "-0.50", "-0.50 EUR", "Money('-0.50', 'EUR')"),
        (0, "GBP", "0.00", "0.00 GBP", "Money('0.00', 'GBP')"),
        (-1234, "JPY", "-1234", "-1234 JPY", "Money('-1234', 'JPY')"),
        (0, "JPY", "0", "0 JPY", "Money('0', 'JPY')"),
        (5, "USDC", "0.000005", "0.000005 USDC", "Money('0.000005', 'USDC')"),
        (
            1234560000,
            "USDC",
            "1234.560000",
            "1234.560000 USDC",
            "Money('1234.560000', 'USDC')",
        ),
    ],
)
def test_rendering(minor: int, code: str, amount: str, text: str, rep: str) -> None:
    m = Money(minor, code)
    assert m.amount_str() == amount
    assert str(m) == text
    assert repr(m) == rep
    assert str(m.to_decimal()) == amount
    assert m.to_decimal() == Decimal(amount)


def test_to_decimal_is_exact_beyond_default_precision() -> None:
    m = usd(10**40 + 1)
    assert str(m.to_decimal()) == "100000000000000000000000000000000000000.01"
    assert m.to_decimal().as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "code", "minor"),
    [
        (Decimal("1.5"), "USD", 150),
        (Decimal("1.500"), "USD", 150),  # trailing zeros are exact
        (Decimal("1E+2"), "USD", 10000),
        (Decimal("-0.05"), "EUR", -5),
        (Decimal("-0"), "EUR", 0),
        (Decimal("-0.000001"), "USDC", -1),
        (Decimal(1000), "JPY", 1000),
        (Decimal("12.0"), "JPY", 12),
    ],
)
def test_from_decimal_exact(value: Decimal, code: str, minor: int) -> None:
    assert Money.from_decimal(value, code) == Money(minor, code)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (Decimal("1.005"), "USD"),
        (Decimal("0.5"), "JPY"),
        (Decimal("0.0000001"), "USDC"),
        (Decimal("1E-10"), "EUR"),
    ],
)
def test_from_decimal_refuses_rounding(value: Decimal, code: str) -> None:
    with pytest.raises(MoneyError, match="more decimals than"):
        Money.from_decimal(value, code)


def test_from_decimal_refuses_non_finite_and_non_decimal() -> None:
    for bad in (
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ):
        with pytest.raises(MoneyError, match="finite"):
            Money.from_decimal(bad, "USD")
    with pytest.raises(MoneyError, match="out of the supported range"):
        Money.from_decimal(Decimal("1E+100000"), "USD")
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        Money.from_decimal(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects Decimal"):
        Money.from_decimal(150, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects Decimal"):
        Money.from_decimal("1.50", "USD")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Formatting (Babel)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "code", "locale", "expected"),
    [
        (123456, "USD", "en_US", "$1,234.56"),
        (-123456, "USD", "en_US", "-$1,234.56"),
        (100, "USD", "en_US", "$1.00"),
        (123456, "EUR", "de_DE", "1.234,56\xa0€"),
        (-5, "EUR", "fr_FR", "-0,05\xa0€"),
        (100, "GBP", "en_GB", "£1.00"),
        (123456, "JPY", "en_US", "¥123,456"),  # pattern has .00, exponent 0 wins
        (123456, "JPY", "ja_JP", "￥123,456"),
        (1234560000, "USDC", "en_US", "1,234.560000 USDC"),
        (1234560000, "USDC", "de_DE", "1.234,560000 USDC"),
        (-1234567, "USDC", "en_US", "-1.234567 USDC"),
        (0, "USDC", "en_US", "0.000000 USDC"),
        (
            10**40 + 1,
            "USD",
            "en_US",
            "$100,000,000,000,000,000,000,000,000,000,000,000,000.01",
        ),
    ],
)
def test_format(minor: int, code: str, locale: str, expected: str) -> None:
    assert Money(minor, code).format(locale) == expected


def test_format_default_locale_is_en_us() -> None:
    assert usd(123456).format() == "$1,234.56"


@pytest.mark.parametrize("locale", ["xx_YY", "garbage!!", ""])
def test_format_unknown_locale(locale: str) -> None:
    with pytest.raises(MoneyError, match="unknown locale"):
        usd(1).format(locale)


@pytest.mark.parametrize(
    ("text", "code", "locale", "expected"),
    [
        ("1234.56", "USD", "en_US", "$1,234.56"),
        ("1234.56", "EUR", "de_DE", "1.234,56\xa0€"),
        ("1234567", "JPY", "en_US", "¥1,234,567"),
        ("0.000001", "USDC", "en_US", "0.000001 USDC"),
    ],
)
def test_parse_then_format(text: str, code: str, locale: str, expected: str) -> None:
    m = Money.parse(text, code)
    assert m.format(locale) == expected
    assert Money.parse(m.amount_str(), code) == m


# ---------------------------------------------------------------------------
# Equality, ordering, truthiness
# ---------------------------------------------------------------------------


def test_equality_and_hash() -> None:
    assert usd(100) == Money.parse("1", "USD")
    assert hash(usd(100)) == hash(Money.parse("1.00", "USD"))
    assert usd(100) != Money(100, "EUR")
    assert usd(100) != usd(101)
    assert usd(0) != 0
    assert usd(100) != 100
    assert usd(100) != "1.00 USD"
    assert len({usd(1), usd(1), Money(1, "EUR")}) == 2


def test_ordering_same_currency() -> None:
    assert usd(1) < usd(2)
    assert usd(2) <= usd(2)
    assert usd(3) > usd(-3)
    assert usd(-3) >= usd(-3)
    assert not usd(2) < usd(2)
    assert sorted([usd(3), usd(-1), usd(2)]) == [usd(-1), usd(2), usd(3)]
    assert max(usd(3), usd(7)) == usd(7)


def test_ordering_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        assert usd(1) < 2
    with pytest.raises(TypeError):
        assert usd(1) >= Decimal(0)


def test_currency_mismatch_everywhere() -> None:
    a, b = usd(100), Money(100, "EUR")
    with pytest.raises(CurrencyMismatch, match="cannot add USD and EUR amounts"):
        a + b
    with pytest.raises(CurrencyMismatch, match="cannot subtract USD and EUR amounts"):
        a - b
    with pytest.raises(CurrencyMismatch, match="cannot compare USD and EUR amounts"):
        operator.lt(a, b)
    with pytest.raises(CurrencyMismatch, match="cannot compare USD and EUR amounts"):
        operator.le(a, b)
    with pytest.raises(CurrencyMismatch, match="cannot compare USD and EUR amounts"):
        operator.gt(a, b)
    with pytest.raises(CurrencyMismatch, match="cannot compare USD and EUR amounts"):
        operator.ge(a, b)
    with pytest.raises(CurrencyMismatch):
        Money.sum([a, b], "USD")
    with pytest.raises(CurrencyMismatch):
        Money.sum([a], "EUR")


def test_truthiness_and_predicates() -> None:
    assert bool(usd(0)) is False
    assert bool(usd(1)) is True
    assert bool(usd(-1)) is True
    assert usd(0).is_zero is True
    assert usd(1).is_zero is False
    assert usd(1).is_positive is True
    assert usd(0).is_positive is False
    assert usd(-1).is_positive is False
    assert usd(-1).is_negative is True
    assert usd(0).is_negative is False


# ---------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------


def test_arithmetic() -> None:
    assert usd(150) + usd(25) == usd(175)
    assert usd(150) - usd(175) == usd(-25)
    assert -usd(150) == usd(-150)
    assert +usd(150) == usd(150)
    assert abs(usd(-150)) == usd(150)
    assert abs(usd(150)) == usd(150)
    assert usd(150) * 3 == usd(450)
    assert 3 * usd(150) == usd(450)
    assert usd(150) * -2 == usd(-300)
    assert usd(150) * 0 == usd(0)
    result = Money(7, "JPY") + Money(5, "JPY")
    assert result.code == "JPY"
    assert result.minor == 12


def test_multiplication_refuses_non_int() -> None:
    m = usd(150)
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        m * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        1.5 * m  # type: ignore[operator]
    with pytest.raises(TypeError, match="not bool"):
        m * True
    with pytest.raises(TypeError, match="not Money"):
        m * m  # type: ignore[operator]
    with pytest.raises(TypeError, match="not Decimal"):
        m * Decimal(2)  # type: ignore[operator]
    with pytest.raises(TypeError, match="not Fraction"):
        m * Fraction(1, 2)  # type: ignore[operator]
    with pytest.raises(TypeError):
        m / 2  # type: ignore[operator]
    with pytest.raises(TypeError):
        m // 2  # type: ignore[operator]


def test_addition_refuses_non_money() -> None:
    m = usd(150)
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        m + 1.0  # type: ignore[operator]
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        m - 1.0  # type: ignore[operator]
    with pytest.raises(TypeError):
        m + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        m + Decimal(1)  # type: ignore[operator]
    # documented: 0 + Money is not supported, so builtin sum() needs a start
    with pytest.raises(TypeError):
        0 + m  # type: ignore[operator]
    with pytest.raises(TypeError):
        sum([m, m])  # type: ignore[list-item]
    assert sum([m, m], Money.zero("USD")) == usd(300)


def test_money_sum() -> None:
    assert Money.sum([usd(1), usd(2), usd(-10)], "USD") == usd(-7)
    assert Money.sum([], "EUR") == Money.zero("EUR")
    assert Money.sum((Money(1, "USDC") for _ in range(3)), "USDC") == Money(3, "USDC")
    with pytest.raises(TypeError):
        Money.sum([usd(1), 2], "USD")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        Money.sum([usd(1), 2.0], "USD")  # type: ignore[list-item]


# ---------------------------------------------------------------------------
# Allocation
# ---------------------------------------------------------------------------


def minors(items: list[Money]) -> list[int]:
    return [m.minor for m in items]


@pytest.mark.parametrize(
    ("amount", "ratios", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (5, [3, 7], [2, 3]),  # exact 1.5 / 3.5: tie, earlier index wins
        (5, [7, 3], [4, 1]),
        (100, [1, 2], [33, 67]),  # leftover goes to the largest remainder, not index 0
        (-100, [1, 1, 1], [-34, -33, -33]),
        (-5, [3, 7], [-2, -3]),
        (100, [0, 1, 1], [0, 50, 50]),
        (101, [1, 0, 1], [51, 0, 50]),
        (2, [0, 1, 1, 1, 0], [0, 1, 1, 0, 0]),
        (1, [0, 0, 5], [0, 0, 1]),
        (0, [1, 2], [0, 0]),
        (7, [1], [7]),
        (100, [Fraction(1, 3), Fraction(2, 3)], [33, 67]),
        (101, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")], [51, 25, 25]),
        (10, [Decimal("0.7"), 1, Fraction(3, 10)], [4, 5, 1]),
        (10**30 + 1, [1, 1], [5 * 10**29 + 1, 5 * 10**29]),
    ],
)
def test_allocate_examples(amount: int, ratios: list[Any], expected: list[int]) -> None:
    shares = usd(amount).allocate(ratios)
    assert minors(shares) == expected
    assert all(s.code == "USD" for s in shares)
    assert Money.sum(shares, "USD") == usd(amount)


def test_allocate_keeps_currency() -> None:
    shares = Money(1000001, "USDC").allocate([1, 1])
    assert shares == [Money(500001, "USDC"), Money(500000, "USDC")]


def test_allocate_errors() -> None:
    m = usd(100)
    with pytest.raises(MoneyError, match="empty"):
        m.allocate([])
    with pytest.raises(MoneyError, match="not all be zero"):
        m.allocate([0, 0])
    with pytest.raises(MoneyError, match="non-negative"):
        m.allocate([-1, 2])
    with pytest.raises(MoneyError, match="non-negative"):
        m.allocate([Fraction(-1, 2), 1])
    with pytest.raises(MoneyError, match="non-negative"):
        m.allocate([Decimal("-0.1"), 1])
    with pytest.raises(MoneyError, match="finite"):
        m.allocate([Decimal("NaN"), 1])
    with pytest.raises(MoneyError, match="finite"):
        m.allocate([Decimal("Infinity"), 1])
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        m.allocate([1.0, 1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        m.allocate([1, 0.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not bool"):
        m.allocate([True, 1])
    with pytest.raises(TypeError, match="not str"):
        m.allocate(["1", "1"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequence"):
        m.allocate("11")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sequence"):
        m.allocate(iter([1, 1]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "n", "expected"),
    [
        (100, 3, [34, 33, 33]),
        (-7, 2, [-4, -3]),
        (1, 3, [1, 0, 0]),
        (9, 3, [3, 3, 3]),
        (5, 1, [5]),
    ],
)
def test_split_examples(amount: int, n: int, expected: list[int]) -> None:
    assert minors(usd(amount).split(n)) == expected


def test_split_errors() -> None:
    with pytest.raises(MoneyError, match="at least 1"):
        usd(1).split(0)
    with pytest.raises(MoneyError, match="at least 1"):
        usd(1).split(-2)
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        usd(1).split(2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        usd(1).split(True)


# ---------------------------------------------------------------------------
# Percentage
# ---------------------------------------------------------------------------

# 10% of 0.05 USD = 0.5 minor units (an exact half)
HALF_CASES = [
    (ROUND_HALF_EVEN, 0, 0),
    (ROUND_HALF_UP, 1, -1),
    (ROUND_HALF_DOWN, 0, 0),
    (ROUND_DOWN, 0, 0),
    (ROUND_UP, 1, -1),
    (ROUND_FLOOR, 0, -1),
    (ROUND_CEILING, 1, 0),
]


@pytest.mark.parametrize(("rounding", "positive", "negative"), HALF_CASES)
def test_percentage_half_case(rounding: str, positive: int, negative: int) -> None:
    assert Money.parse("0.05", "USD").percentage(10, rounding=rounding) == usd(positive)
    assert Money.parse("-0.05", "USD").percentage(10, rounding=rounding) == usd(negative)


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        (ROUND_HALF_EVEN, 2),  # 1.5 -> 2 (even)
        (ROUND_HALF_UP, 2),
        (ROUND_HALF_DOWN, 1),
        (ROUND_DOWN, 1),
        (ROUND_UP, 2),
        (ROUND_FLOOR, 1),
        (ROUND_CEILING, 2),
    ],
)
def test_percentage_odd_half(rounding: str, expected: int) -> None:
    assert usd(15).percentage(10, rounding=rounding) == usd(expected)


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        (ROUND_HALF_EVEN, 31),  # 12.34 * 2.5% = 0.3085 -> 30.85 minor
        (ROUND_HALF_UP, 31),
        (ROUND_HALF_DOWN, 31),
        (ROUND_DOWN, 30),
        (ROUND_UP, 31),
        (ROUND_FLOOR, 30),
        (ROUND_CEILING, 31),
    ],
)
def test_percentage_non_half(rounding: str, expected: int) -> None:
    assert usd(1234).percentage(Decimal("2.5"), rounding=rounding) == usd(expected)


@pytest.mark.parametrize("pct", [Decimal("2.5"), "2.5", Fraction(5, 2), "2.50", Decimal("2.500")])
def test_percentage_input_forms(pct: Any) -> None:
    assert Money.parse("200.00", "USD").percentage(pct, rounding=ROUND_HALF_EVEN) == usd(500)


def test_percentage_more_examples() -> None:
    assert usd(12345).percentage(100, rounding=ROUND_HALF_EVEN) == usd(12345)
    assert usd(12345).percentage(0, rounding=ROUND_HALF_EVEN) == usd(0)
    assert usd(10000).percentage("-10", rounding=ROUND_HALF_EVEN) == usd(-1000)
    assert usd(10000).percentage(250, rounding=ROUND_HALF_EVEN) == usd(25000)
    assert Money(1000, "JPY").percentage("0.5", rounding=ROUND_HALF_UP) == Money(5, "JPY")
    assert Money(999, "JPY").percentage(Fraction(1, 3), rounding=ROUND_DOWN) == Money(3, "JPY")
    tiny = Money(1, "USDC").percentage(Decimal("0.000001"), rounding=ROUND_CEILING)
    assert tiny == Money(1, "USDC")


def test_percentage_requires_explicit_rounding() -> None:
    with pytest.raises(TypeError):
        usd(100).percentage(10)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        usd(100).percentage(10, ROUND_HALF_UP)  # type: ignore[call-arg]
    with pytest.raises(MoneyError, match="unsupported rounding mode"):
        usd(100).percentage(10, rounding="HALF")
    with pytest.raises(MoneyError, match="unsupported rounding mode"):
        usd(100).percentage(10, rounding=ROUND_05UP)
    with pytest.raises(MoneyError, match="unsupported rounding mode"):
        usd(100).percentage(10, rounding=None)  # type: ignore[arg-type]


def test_percentage_bad_pct() -> None:
    m = usd(100)
    with pytest.raises(TypeError, match=FLOAT_ERROR):
        m.percentage(10.0, rounding=ROUND_HALF_EVEN)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        m.percentage(True, rounding=ROUND_HALF_EVEN)
    with pytest.raises(TypeError):
        m.percentage(None, rounding=ROUND_HALF_EVEN)  # type: ignore[arg-type]
    for bad in ("", "1,5", "10%", " 10", "1e2", ".5", "abc"):
        with pytest.raises(MoneyError, match="invalid percentage"):
            m.percentage(bad, rounding=ROUND_HALF_EVEN)
    with pytest.raises(MoneyError, match="finite"):
        m.percentage(Decimal("NaN"), rounding=ROUND_HALF_EVEN)


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------

codes = st.sampled_from(CODES)
amounts = st.integers(min_value=-(10**24), max_value=10**24)
ratio_values = st.one_of(
    st.integers(min_value=0, max_value=1000),
    st.fractions(min_value=0, max_value=1000, max_denominator=1000),
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
)


@given(minor=amounts, code=codes, ratios=st.lists(ratio_values, min_size=1, max_size=12))
def test_allocation_conserves_and_is_fair(minor: int, code: str, ratios: list[Any]) -> None:
    exact_ratios = [Fraction(r) for r in ratios]
    total_ratio = sum(exact_ratios, Fraction(0))
    assume(total_ratio > 0)
    money = Money(minor, code)
    shares = money.allocate(ratios)
    assert len(shares) == len(ratios)
    assert Money.sum(shares, code) == money
    for share, ratio in zip(shares, exact_ratios, strict=True):
        exact = Fraction(minor) * ratio / total_ratio
        assert share.code == code
        assert abs(share.minor - exact) < 1
        if ratio == 0:
            assert share.minor == 0
        # never crosses zero: share has the sign of the total (or is zero)
        assert share.minor * minor >= 0


@given(minor=amounts, code=codes, n=st.integers(min_value=1, max_value=50))
def test_split_shares_differ_by_at_most_one(minor: int, code: str, n: int) -> None:
    shares = Money(minor, code).split(n)
    values = [s.minor for s in shares]
    assert len(values) == n
    assert sum(values) == minor
    assert max(values) - min(values) <= 1
    # leftover units go to the earliest shares
    assert [abs(v) for v in values] == sorted((abs(v) for v in values), reverse=True)


@given(minor=st.integers(), code=codes)
def test_amount_str_parse_round_trip(minor: int, code: str) -> None:
    money = Money(minor, code)
    assert Money.parse(money.amount_str(), code) == money
    assert Money.from_decimal(money.to_decimal(), code) == money
    assert str(money) == f"{money.amount_str()} {code}"


@given(minor=st.integers(min_value=0, max_value=10**20))
def test_format_en_us_matches_amount_str(minor: int) -> None:
    money = Money(minor, "USDC")
    assert money.format("en_US").replace(",", "") == f"{money.amount_str()} USDC"
    dollars = Money(minor, "USD")
    assert dollars.format("en_US").replace(",", "") == f"${dollars.amount_str()}"


@given(a=st.integers(), b=st.integers(), code=codes)
def test_add_then_subtract_is_identity(a: int, b: int, code: str) -> None:
    ma, mb = Money(a, code), Money(b, code)
    assert ma + mb - mb == ma
    assert ma + mb == mb + ma
    assert (ma + mb).minor == a + b
    negated = -ma
    assert negated.minor == -a
    assert -negated == ma
    assert ma - ma == Money.zero(code)


@given(
    minor=st.integers(min_value=-(10**15), max_value=10**15),
    pct=st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
    rounding=st.sampled_from(ALL_MODES),
)
def test_percentage_matches_decimal_quantize(minor: int, pct: Decimal, rounding: str) -> None:
    with localcontext() as ctx:
        ctx.prec = 100
        expected = (Decimal(minor) * pct / 100).quantize(Decimal(1), rounding=rounding)
    result = usd(minor).percentage(pct, rounding=rounding)
    assert result.minor == int(expected)
    assert usd(minor).percentage(str(pct), rounding=rounding) == result


@given(f=st.floats())
def test_floats_are_always_refused(f: float) -> None:
    m = usd(100)
    calls: list[Callable[[], object]] = [
        lambda: Money(f, "USD"),  # type: ignore[arg-type]
        lambda: Money.of_minor(f, "USD"),  # type: ignore[arg-type]
        lambda: Money.parse(f, "USD"),  # type: ignore[arg-type]
        lambda: Money.from_decimal(f, "USD"),  # type: ignore[arg-type]
        lambda: m * f,  # type: ignore[operator]
        lambda: f * m,  # type: ignore[operator]
        lambda: m + f,  # type: ignore[operator]
        lambda: m - f,  # type: ignore[operator]
        lambda: m.percentage(f, rounding=ROUND_HALF_EVEN),  # type: ignore[arg-type]
        lambda: m.allocate([f]),  # type: ignore[list-item]
        lambda: m.allocate([1, f]),  # type: ignore[list-item]
        lambda: m.split(f),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError, match=FLOAT_ERROR):
            call()


@given(
    a=st.integers(),
    b=st.integers(),
    codes_pair=st.lists(codes, min_size=2, max_size=2, unique=True),
)
def test_cross_currency_comparisons_always_raise(a: int, b: int, codes_pair: list[str]) -> None:
    x, y = Money(a, codes_pair[0]), Money(b, codes_pair[1])
    for compare in (
        lambda: x < y,
        lambda: x <= y,
        lambda: x > y,
        lambda: x >= y,
        lambda: x + y,
        lambda: x - y,
    ):
        with pytest.raises(CurrencyMismatch):
            compare()
    assert x != y
    assert (x == y) is False


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    extra=st.text(alphabet="0123456789", min_size=3, max_size=8),
)
def test_parse_refuses_excess_decimals(whole: int, extra: str) -> None:
    with pytest.raises(MoneyError, match="allows at most 2"):
        Money.parse(f"{whole}.{extra}", "USD")


@given(
    half=st.integers(min_value=-(10**12), max_value=10**12),
    rounding=st.sampled_from(ALL_MODES),
)
def test_percentage_exact_ties_match_decimal(half: int, rounding: str) -> None:
    minor = 2 * half + 1  # 50% of an odd amount is always an exact .5 tie
    with localcontext() as ctx:
        ctx.prec = 100
        expected = (Decimal(minor) / 2).quantize(Decimal(1), rounding=rounding)
    assert usd(minor).percentage(50, rounding=rounding).minor == int(expected)
