"""A readable, field-by-field diff of an audit event's ``before`` and ``after`` (pure: no database, no Django).

``audit_diff(before, after)`` flattens both JSON values into leaves keyed by a
dotted path (``approval_limit``, ``bands[1].upper``, ``stages[0].role``) and
compares them leaf by leaf:

* ``added``: the path exists only after (a created record has only these);
* ``removed``: the path exists only before (a deleted or revoked record);
* ``changed``: both have it, with different values;
* ``unchanged``: both have it, equal (kept for context; the page dims them).

Some objects are values, not containers, and stay one leaf: an amount as
:func:`payor.audit.canonical.json_safe` writes ``Money``
(``{"amount": "1234.50", "currency": "USD"}``) is shown as ``$1,234.50``.
Empty objects and lists are leaves too (``{}``, ``[]``), so a field that went
from ``[]`` to ``["a"]`` reads as ``removed []`` + ``added [0] = a`` rather
than vanishing. Ids and other strings are shown exactly as stored (never
shortened); ``null`` reads as ``null`` and the empty string as ``""``, so
"no value" and "empty" stay distinguishable.

Lines are ordered by path, list indexes numerically (``[2]`` before ``[10]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from payor.core.money import Money, MoneyError

DiffKind = Literal["added", "removed", "changed", "unchanged"]

#: The path of a value that is not inside an object or list (``before``/``after`` themselves are scalars).
ROOT: Final = "(value)"

_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_RE: Final = re.compile(r"(0x)?[0-9a-fA-F]{40,}")
_AMOUNT_RE: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class DiffValue:
    """A leaf as shown: ``text`` to display, ``kind`` for styling (``money``, ``id``, ``null``, ``text``...)."""

    text: str
    kind: Literal["money", "id", "null", "bool", "number", "text", "empty"]

    @property
    def monospace(self) -> bool:
        return self.kind in {"id", "number", "money"}


@dataclass(frozen=True, slots=True)
class DiffLine:
    path: str
    kind: DiffKind
    before: DiffValue | None  # None: the path does not exist before (added)
    after: DiffValue | None  # None: the path does not exist after (removed)


def _money(value: dict[str, Any]) -> Money | None:
    """``{"amount": "12.50", "currency": "USD"}`` (exactly these two keys, a registered currency) as Money."""
    if set(value) != {"amount", "currency"}:
        return None
    amount, currency = value["amount"], value["currency"]
    if not isinstance(amount, str) or not isinstance(currency, str) or not _AMOUNT_RE.fullmatch(amount):
        return None
    try:
        money = Money.parse(amount, currency)
    except (MoneyError, InvalidOperation, ValueError):
        return None
    # Only the canonical text (json_safe's): "12.5" or "012.50" would otherwise read the same as "12.50".
    return money if money.amount_str() == amount else None


def display(value: Any) -> DiffValue:
    """How one leaf reads: amounts formatted, ids and strings verbatim, JSON for what remains."""
    if value is None:
        return DiffValue("null", "null")
    if isinstance(value, bool):
        return DiffValue("true" if value else "false", "bool")
    if isinstance(value, int | float | Decimal):
        return DiffValue(str(value), "number")
    if isinstance(value, str):
        if value == "":
            return DiffValue('""', "empty")
        if _UUID_RE.fullmatch(value) or _HEX_RE.fullmatch(value):
            return DiffValue(value, "id")
        return DiffValue(value, "text")
    if isinstance(value, dict):
        money = _money(value)
        if money is not None:
            try:
                return DiffValue(money.format("en_US"), "money")
            except MoneyError:  # pragma: no cover - en_US is always known
                return DiffValue(str(money), "money")
        if not value:
            return DiffValue("{}", "empty")
    if isinstance(value, list) and not value:
        return DiffValue("[]", "empty")
    return DiffValue(repr(value), "text")  # pragma: no cover - containers are flattened before display


def _is_leaf(value: Any) -> bool:
    if isinstance(value, dict):
        return not value or _money(value) is not None
    if isinstance(value, list):
        return not value
    return True


Segment = str | int


def _flatten(value: Any, at: tuple[Segment, ...] = ()) -> Iterator[tuple[tuple[Segment, ...], Any]]:
    if _is_leaf(value):
        yield at, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, (*at, str(key)))
    else:
        for index, item in enumerate(value):
            yield from _flatten(item, (*at, index))


def path_text(at: tuple[Segment, ...]) -> str:
    """``("bands", 1, "upper")`` -> ``bands[1].upper``; keys that are not plain words are quoted (``["a.b"]``)."""
    if not at:
        return ROOT
    text = ""
    for segment in at:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif _PLAIN_KEY.fullmatch(segment):
            text += f".{segment}" if text else segment
        else:
            text += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return text


def _sort_key(at: tuple[Segment, ...]) -> tuple[tuple[int, int, str], ...]:
    """Object keys alphabetically, list indexes numerically (``[2]`` before ``[10]``)."""
    return tuple((0, segment, "") if isinstance(segment, int) else (1, 0, segment) for segment in at)


def audit_diff(before: Any, after: Any) -> list[DiffLine]:
    """Every leaf of ``before`` and ``after`` with how it changed, ordered by path.

    A side that is ``null`` as a whole (a record created or deleted) contributes no leaves, so a creation reads as
    all ``added`` and a deletion as all ``removed``. Both ``null``: no lines.
    """
    old = dict(_flatten(before)) if before is not None else {}
    new = dict(_flatten(after)) if after is not None else {}
    lines: list[DiffLine] = []
    for at in sorted(old.keys() | new.keys(), key=_sort_key):
        was, now = old.get(at, _MISSING), new.get(at, _MISSING)
        path = path_text(at)
        if was is _MISSING:
            lines.append(DiffLine(path, "added", None, display(now)))
        elif now is _MISSING:
            lines.append(DiffLine(path, "removed", display(was), None))
        else:
            same = type(was) is type(now) and was == now
            lines.append(DiffLine(path, "unchanged" if same else "changed", display(was), display(now)))
    return lines


def diff_counts(lines: list[DiffLine]) -> dict[DiffKind, int]:
    """How many lines of each kind (for a one-line summary: "2 changed, 1 added")."""
    counts: dict[DiffKind, int] = {"added": 0, "removed": 0, "changed": 0, "unchanged": 0}
    for line in lines:
        counts[line.kind] += 1
    return counts
