"""Money value object: exact integer minor units plus a registered currency.

This is the *only* money type of Payor. Design rules:

* An amount is an ``int`` number of minor units (cents, yen, micro-USDC...).
  ``float`` is never accepted anywhere (``TypeError``); ``bool`` is not an
  amount either.
* Every currency is a registered :class:`Currency` with a fixed ``exponent``
  (number of minor-unit decimals). Unknown codes raise :class:`UnknownCurrency`.
* Arithmetic never silently rounds. The only operations that can produce a
  non-integral number of minor units either distribute the remainder exactly
  (:meth:`Money.allocate`, :meth:`Money.split`) or demand an explicit rounding
  mode (:meth:`Money.percentage`).
* Mixing currencies in ``+``, ``-`` or ordering comparisons raises
  :class:`CurrencyMismatch`; ``==`` between currencies is simply ``False``.
* ``0 + money`` is deliberately **not** supported, so the builtin ``sum()``
  without a start value raises ``TypeError``; use :meth:`Money.sum` (or
  ``sum(items, Money.zero(code))``).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import (
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
from typing import ClassVar, Final, NoReturn, TypeAlias

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal, is_currency

__all__ = [
    "FLOAT_ERROR",
    "ROUNDING_MODES",
    "Currency",
    "CurrencyMismatch",
    "Money",
    "MoneyError",
    "Ratio",
    "UnknownCurrency",
    "get_currency",
    "register_currency",
    "registered_currencies",
]

FLOAT_ERROR: Final = "floats are not accepted for money"

#: Rounding modes accepted by :meth:`Money.percentage` (``decimal`` constants).
ROUNDING_MODES: Final = frozenset(
    {
        ROUND_HALF_UP,
        ROUND_HALF_EVEN,
        ROUND_HALF_DOWN,
        ROUND_DOWN,
        ROUND_UP,
        ROUND_FLOOR,
        ROUND_CEILING,
    }
)

#: Largest supported currency exponent (18 covers wei-style token units).
MAX_EXPONENT: Final = 18

# Guard against pathological Decimal exponents (e.g. Decimal("1E+999999999"))
# whose exact expansion would exhaust memory/CPU.
_MAX_DECIMAL_EXPONENT: Final = 1000

_CODE_RE: Final = re.compile(r"[A-Z0-9]{3,10}")
_AMOUNT_RE: Final = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")

Ratio: TypeAlias = int | Fraction | Decimal


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class MoneyError(ValueError):
    """Invalid money value or operation."""

    code: ClassVar[str] = "money_invalid"


class CurrencyMismatch(MoneyError):
    """Operation mixes two different currencies."""

    code = "currency_mismatch"


class UnknownCurrency(MoneyError):
    """Currency code is not registered (or is not a valid code)."""

    code = "currency_unknown"


def _raise_float() -> NoReturn:
    raise TypeError(FLOAT_ERROR)


# --------------------------------------------------------------------------
# Currencies
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Currency:
    """A currency: ``code`` (``[A-Z0-9]{3,10}``), minor-unit ``exponent``, ``name``."""

    code: str
    exponent: int
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str):
            raise TypeError(f"currency code must be str, not {type(self.code).__name__}")
        if not _CODE_RE.fullmatch(self.code):
            raise MoneyError(f"invalid currency code {self.code!r}: expected 3-10 characters A-Z/0-9")
        if isinstance(self.exponent, float):
            _raise_float()
        if not isinstance(self.exponent, int) or isinstance(self.exponent, bool):
            raise TypeError(f"currency exponent must be int, not {type(self.exponent).__name__}")
        if not 0 <= self.exponent <= MAX_EXPONENT:
            raise MoneyError(f"currency exponent must be between 0 and {MAX_EXPONENT}, got {self.exponent}")
        if not isinstance(self.name, str):
            raise TypeError(f"currency name must be str, not {type(self.name).__name__}")
        if not self.name.strip():
            raise MoneyError("currency name must not be empty")


_registry_lock: Final = threading.Lock()
_REGISTRY: dict[str, Currency] = {}


def register_currency(code: str, exponent: int, name: str) -> Currency:
    """Register a currency and return it.

    Re-registering an existing code with the same exponent is a no-op that
    returns the already registered :class:`Currency` (its name is kept).
    Re-registering with a different exponent raises :class:`MoneyError`.
    """
    currency = Currency(code, exponent, name)
    with _registry_lock:
        existing = _REGISTRY.get(code)
        if existing is not None:
            if existing.exponent != exponent:
                raise MoneyError(
                    f"currency {code} is already registered with exponent "
                    f"{existing.exponent}; refusing exponent {exponent}"
                )
            return existing
        _REGISTRY[code] = currency
        return currency


def get_currency(code: str) -> Currency:
    """Return the registered :class:`Currency` for ``code`` (exact, uppercase).

    Raises :class:`UnknownCurrency` for unregistered or malformed codes.
    """
    if not isinstance(code, str):
        raise TypeError(f"currency code must be str, not {type(code).__name__}")
    try:
        return _REGISTRY[code]
    except KeyError:
        raise UnknownCurrency(f"unknown currency {code!r}") from None


def registered_currencies() -> dict[str, Currency]:
    """Snapshot of the registry, keyed by code."""
    with _registry_lock:
        return dict(_REGISTRY)


for _code, _exponent, _name in (
    ("USD", 2, "US Dollar"),
    ("EUR", 2, "Euro"),
    ("GBP", 2, "Pound Sterling"),
    ("CHF", 2, "Swiss Franc"),
    ("JPY", 0, "Japanese Yen"),
    ("USDC", 6, "USD Coin"),
):
    register_currency(_code, _exponent, _name)


def _resolve_currency(currency: Currency | str) -> Currency:
    if isinstance(currency, Currency):
        registered = get_currency(currency.code)
        if registered != currency:
            raise MoneyError(f"currency {currency!r} does not match the registered definition {registered!r}")
        return registered
    if isinstance(currency, str):
        return get_currency(currency)
    raise TypeError(f"currency must be a Currency or a code str, not {type(currency).__name__}")


# --------------------------------------------------------------------------
# Exact number helpers
# --------------------------------------------------------------------------


def _decimal_to_fraction(value: Decimal, what: str) -> Fraction:
    if not value.is_finite():
        raise MoneyError(f"{what} must be a finite number, got {value}")
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # pragma: no cover - finite decimals always have an int exponent
        raise MoneyError(f"{what} must be a finite number, got {value}")
    if abs(exponent) > _MAX_DECIMAL_EXPONENT:
        raise MoneyError(f"{what} {value} is out of the supported range")
    return Fraction(value)


def _round_fraction(value: Fraction, rounding: str) -> int:
    """Round an exact rational to an integer with a ``decimal`` rounding mode."""
    quotient, remainder = divmod(value.numerator, value.denominator)  # floor division
    if remainder == 0:
        return quotient
    # value lies strictly between quotient and quotient + 1
    positive = value > 0
    if rounding == ROUND_FLOOR:
        return quotient
    if rounding == ROUND_CEILING:
        return quotient + 1
    if rounding == ROUND_DOWN:  # toward zero
        return quotient if positive else quotient + 1
    if rounding == ROUND_UP:  # away from zero
        return quotient + 1 if positive else quotient
    twice = 2 * remainder
    if twice < value.denominator:
        return quotient
    if twice > value.denominator:
        return quotient + 1
    # exact tie
    if rounding == ROUND_HALF_UP:  # ties away from zero
        return quotient + 1 if positive else quotient
    if rounding == ROUND_HALF_DOWN:  # ties toward zero
        return quotient if positive else quotient + 1
    if rounding == ROUND_HALF_EVEN:
        return quotient if quotient % 2 == 0 else quotient + 1
    raise MoneyError(f"unsupported rounding mode {rounding!r}")  # pragma: no cover


def _check_int(value: object, what: str) -> int:
    if isinstance(value, float):
        _raise_float()
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    return int(value)


def _to_ratio(value: object) -> Fraction:
    if isinstance(value, float):
        _raise_float()
    if isinstance(value, bool):
        raise TypeError("allocation ratio must be int, Fraction or Decimal, not bool")
    if isinstance(value, int):
        ratio = Fraction(int(value))
    elif isinstance(value, Fraction):
        ratio = value
    elif isinstance(value, Decimal):
        ratio = _decimal_to_fraction(value, "allocation ratio")
    else:
        raise TypeError(f"allocation ratio must be int, Fraction or Decimal, not {type(value).__name__}")
    if ratio < 0:
        raise MoneyError(f"allocation ratios must be non-negative, got {value}")
    return ratio


def _to_percent(value: object) -> Fraction:
    if isinstance(value, float):
        _raise_float()
    if isinstance(value, bool):
        raise TypeError("percentage must be int, Decimal, Fraction or str, not bool")
    if isinstance(value, int):
        return Fraction(int(value))
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal):
        return _decimal_to_fraction(value, "percentage")
    if isinstance(value, str):
        match = _AMOUNT_RE.fullmatch(value)
        if match is None:
            raise MoneyError(f"invalid percentage {value!r}: expected a decimal like '2.5'")
        sign, whole, frac = match.groups()
        if frac is not None and len(frac) > _MAX_DECIMAL_EXPONENT:
            raise MoneyError(f"percentage {value!r} has too many decimals")
        frac = frac or ""
        try:
            result = Fraction(int(whole + frac), 10 ** len(frac))
        except ValueError:  # int() digit limit
            raise MoneyError("percentage is out of the supported range") from None
        return -result if sign else result
    raise TypeError(f"percentage must be int, Decimal, Fraction or str, not {type(value).__name__}")


# --------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------


class Money:
    """Immutable amount: ``minor`` integer units of a registered ``currency``.

    ``Money(12345, "USD")`` (or ``Money(12345, get_currency("USD"))``) is
    123.45 USD. Equality and hashing use ``(minor, currency code)``.
    """

    __slots__ = ("_currency", "_minor")
    __match_args__ = ("minor", "currency")

    _minor: int
    _currency: Currency

    def __init__(self, minor: int, currency: Currency | str) -> None:
        minor = _check_int(minor, "minor units")
        object.__setattr__(self, "_minor", minor)
        object.__setattr__(self, "_currency", _resolve_currency(currency))

    @property
    def minor(self) -> int:
        """Amount in integer minor units (cents for USD, yen for JPY)."""
        return self._minor

    @property
    def currency(self) -> Currency:
        """The registered :class:`Currency`."""
        return self._currency

    # -- immutability ------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Money is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Money is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Money], tuple[int, str]]:
        return (Money, (self.minor, self.currency.code))

    def __copy__(self) -> Money:
        return self

    def __deepcopy__(self, memo: object) -> Money:
        return self

    # -- constructors ------------------------------------------------------

    @classmethod
    def of_minor(cls, minor: int, code: Currency | str) -> Money:
        """``Money.of_minor(12345, "USD")`` -> 123.45 USD."""
        return cls(minor, code)

    @classmethod
    def zero(cls, code: Currency | str) -> Money:
        return cls(0, code)

    @classmethod
    def parse(cls, text: str, code: Currency | str) -> Money:
        """Parse a plain decimal string: ``-?[0-9]+(\\.[0-9]{1,exponent})?``.

        No grouping separators, whitespace, ``+`` sign, exponent notation or
        more decimals than the currency exponent are accepted.
        """
        if isinstance(text, float):
            _raise_float()
        if not isinstance(text, str):
            raise TypeError(f"Money.parse expects str, not {type(text).__name__}")
        currency = _resolve_currency(code)
        match = _AMOUNT_RE.fullmatch(text)
        if match is None:
            raise MoneyError(
                f"invalid amount {text!r} for {currency.code}: expected digits with an "
                f"optional leading '-' and optional '.' followed by up to "
                f"{currency.exponent} decimals"
            )
        sign, whole, frac = match.groups()
        frac = frac or ""
        if len(frac) > currency.exponent:
            raise MoneyError(
                f"amount {text!r} has {len(frac)} decimals but {currency.code} allows at most {currency.exponent}"
            )
        digits = whole + frac.ljust(currency.exponent, "0")
        try:
            minor = int(digits)
        except ValueError:  # exceeds the interpreter's int-from-str digit limit
            raise MoneyError(f"amount for {currency.code} is out of the supported range") from None
        return cls(-minor if sign else minor, currency)

    @classmethod
    def from_decimal(cls, value: Decimal, code: Currency | str) -> Money:
        """Exact conversion; raises :class:`MoneyError` if rounding would be needed."""
        if isinstance(value, float):
            _raise_float()
        if not isinstance(value, Decimal):
            raise TypeError(f"Money.from_decimal expects Decimal, not {type(value).__name__}")
        currency = _resolve_currency(code)
        scaled = _decimal_to_fraction(value, "amount") * 10**currency.exponent
        if scaled.denominator != 1:
            raise MoneyError(
                f"{value} has more decimals than {currency.code} allows "
                f"({currency.exponent}); round it explicitly first"
            )
        return cls(scaled.numerator, currency)

    @classmethod
    def sum(cls, items: Iterable[Money], code: Currency | str) -> Money:
        """Sum ``items`` (all in ``code``); the empty sum is ``Money.zero(code)``."""
        total = cls.zero(code)
        for item in items:
            total = total + item
        return total

    # -- accessors ---------------------------------------------------------

    @property
    def code(self) -> str:
        return self.currency.code

    @property
    def exponent(self) -> int:
        return self.currency.exponent

    @property
    def is_zero(self) -> bool:
        return self.minor == 0

    @property
    def is_positive(self) -> bool:
        return self.minor > 0

    @property
    def is_negative(self) -> bool:
        return self.minor < 0

    def __bool__(self) -> bool:
        return self.minor != 0

    # -- conversions -------------------------------------------------------

    def to_decimal(self) -> Decimal:
        """Exact Decimal with exactly ``exponent`` decimal places."""
        digits = tuple(int(ch) for ch in str(abs(self.minor)))
        return Decimal((1 if self.minor < 0 else 0, digits, -self.currency.exponent))

    def amount_str(self) -> str:
        """Canonical plain string with exactly ``exponent`` decimals, e.g. ``"-1234.50"``."""
        exponent = self.currency.exponent
        digits = str(abs(self.minor))
        sign = "-" if self.minor < 0 else ""
        if exponent == 0:
            return sign + digits
        digits = digits.rjust(exponent + 1, "0")
        return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"

    def __str__(self) -> str:
        return f"{self.amount_str()} {self.currency.code}"

    def __repr__(self) -> str:
        return f"Money({self.amount_str()!r}, {self.currency.code!r})"

    def format(self, locale: str = "en_US") -> str:
        """Localised display string via Babel, always with ``exponent`` decimals.

        ISO currencies known to Babel use the locale's currency pattern
        (``$1,234.56``, ``1.234,56\\xa0€``); other codes (e.g. USDC) use the
        locale's decimal pattern followed by a space and the code
        (``1,234.560000 USDC``).
        """
        try:
            babel_locale = Locale.parse(locale)
        except (UnknownLocaleError, ValueError, TypeError) as exc:
            raise MoneyError(f"unknown locale {locale!r}") from exc
        currency = self.currency
        value = self.to_decimal()
        with localcontext() as ctx:
            # Babel normalises/quantizes under the active context: make it exact.
            ctx.prec = max(28, len(str(abs(self.minor))) + currency.exponent + 2)
            if is_currency(currency.code):
                pattern = copy.copy(babel_locale.currency_formats["standard"])
                pattern.frac_prec = (currency.exponent, currency.exponent)
                return format_currency(
                    value,
                    currency.code,
                    format=pattern,
                    locale=babel_locale,
                    currency_digits=False,
                )
            pattern = copy.copy(babel_locale.decimal_formats[None])
            pattern.frac_prec = (currency.exponent, currency.exponent)
            number = format_decimal(value, format=pattern, locale=babel_locale)
            return f"{number} {currency.code}"

    # -- equality / ordering ----------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.minor == other.minor and self.currency.code == other.currency.code

    def __hash__(self) -> int:
        return hash((self.minor, self.currency.code))

    def _same_currency(self, other: Money, op: str) -> None:
        if self.currency.code != other.currency.code:
            raise CurrencyMismatch(f"cannot {op} {self.currency.code} and {other.currency.code} amounts")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.minor < other.minor

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.minor <= other.minor

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.minor > other.minor

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.minor >= other.minor

    # -- arithmetic --------------------------------------------------------

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            if isinstance(other, float):
                _raise_float()
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            if isinstance(other, float):
                _raise_float()
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, float):
            _raise_float()
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError(
                f"Money can only be multiplied by int, not {type(factor).__name__}; "
                "use percentage() or allocate() for fractional factors"
            )
        return Money(self.minor * int(factor), self.currency)

    __rmul__ = __mul__

    # -- distribution ------------------------------------------------------

    def allocate(self, ratios: Sequence[Ratio]) -> list[Money]:
        """Split into ``len(ratios)`` parts proportional to ``ratios``, losing nothing.

        Largest remainder method on the absolute amount: every share gets the
        floor of its exact proportional share, then the leftover minor units go
        one each to the shares with the largest fractional remainders (ties to
        the earlier index). Negative amounts are allocated by absolute value
        and negated. ``sum(result) == self`` always; each share is within one
        minor unit of its exact share; a zero ratio always gets zero.
        """
        if isinstance(ratios, (str, bytes)) or not isinstance(ratios, Sequence):
            raise TypeError("ratios must be a sequence of int, Fraction or Decimal")
        fractions = [_to_ratio(r) for r in ratios]
        if not fractions:
            raise MoneyError("cannot allocate over an empty list of ratios")
        total_ratio = sum(fractions, Fraction(0))
        if total_ratio == 0:
            raise MoneyError("allocation ratios must not all be zero")
        amount = abs(self.minor)
        shares: list[int] = []
        remainders: list[Fraction] = []
        for ratio in fractions:
            exact = amount * ratio / total_ratio
            floor = exact.numerator // exact.denominator
            shares.append(floor)
            remainders.append(exact - floor)
        leftover = amount - sum(shares)
        order = sorted(range(len(shares)), key=lambda i: (-remainders[i], i))
        for i in order[:leftover]:
            shares[i] += 1
        sign = -1 if self.minor < 0 else 1
        return [Money(sign * share, self.currency) for share in shares]

    def split(self, n: int) -> list[Money]:
        """``allocate([1] * n)``: ``n`` shares differing by at most one minor unit."""
        n = _check_int(n, "split count")
        if n < 1:
            raise MoneyError(f"split count must be at least 1, got {n}")
        return self.allocate([1] * n)

    def percentage(self, pct: int | Decimal | Fraction | str, *, rounding: str) -> Money:
        """``pct`` percent of this amount, rounded to the minor unit with ``rounding``.

        ``pct=10`` is 10 %, ``Decimal("2.5")`` / ``"2.5"`` is 2.5 %. ``rounding``
        is a required ``decimal`` constant (``ROUND_HALF_EVEN``, ``ROUND_HALF_UP``,
        ``ROUND_HALF_DOWN``, ``ROUND_DOWN``, ``ROUND_UP``, ``ROUND_FLOOR``,
        ``ROUND_CEILING``). Computed exactly with fractions.
        """
        if not isinstance(rounding, str) or rounding not in ROUNDING_MODES:
            raise MoneyError(f"unsupported rounding mode {rounding!r}; use one of {sorted(ROUNDING_MODES)}")
        exact = self.minor * _to_percent(pct) / 100
        return Money(_round_fraction(exact, rounding), self.currency)
