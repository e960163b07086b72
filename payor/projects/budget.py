"""The WBS budget tree, pure: code rules and the roll-up of ledger figures (no queries here).

WBS codes are dotted segments of 1-10 upper-case letters or digits, at most eight deep (``1``, ``1.2``,
``1.2.A3``); input is trimmed and upper-cased. A root line's code is one segment and a child's code is its
parent's code plus one segment, so a code names its whole path: the ancestors of ``1.2.3`` are ``1`` and
``1.2``, and the subtree of ``1.2`` is ``1.2`` plus every code starting with ``1.2.``.

Figures of a line (:class:`LineFigures`), all in the project currency:

* ``cap``: the line's own cap; ``children_cap``: what its children's caps add up to (never above ``cap``);
* ``committed`` (contracted, not yet invoiced), ``encumbered`` (invoiced, not yet paid), ``retention``,
  ``withheld``, ``pending`` (scheduled payments in flight), ``disbursed`` (paid): from the ledger accounts
  carrying the line's id; a parent's are its own (normally none: only leaves take money) plus its
  children's, rolled up;
* ``used`` = committed + encumbered + retention + withheld + pending + disbursed: what counts against the cap;
* ``actual`` = used - committed: what has been invoiced against the line (incurred cost);
* ``remaining`` = cap - used: the room left for new commitments;
* ``variance`` = cap - actual: budget against actual cost (positive: under budget so far);
* ``percent_used`` = used / cap in percent, rounded down to 2 decimals (a Decimal; None for a zero cap).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Final

from payor.core.money import Money
from payor.projects.errors import BudgetWbsCodeInvalid
from payor.projects.models import WBS_DEPTH_MAX, WBS_SEGMENT_MAX

if TYPE_CHECKING:
    from payor.ledger.selectors import Figures
    from payor.projects.models import BudgetLine

SEGMENT_RE: Final = re.compile(rf"[0-9A-Z]{{1,{WBS_SEGMENT_MAX}}}")

#: The ledger parts of a line's figures, in display order.
LEDGER_PARTS: Final = ("committed", "encumbered", "retention", "withheld", "pending", "disbursed")
#: The parts still open (not yet paid out): a line holding any of them is in use.
OPEN_PARTS: Final = ("committed", "encumbered", "retention", "withheld", "pending")


def wbs_code_normalize(code: object) -> str:
    """The code trimmed and upper-cased, or ``budget_wbs_code_invalid`` saying what is wrong."""
    if not isinstance(code, str):
        raise BudgetWbsCodeInvalid("a WBS code is a string such as 1.2.3")
    text = code.strip().upper()
    segments = text.split(".")
    if len(segments) > WBS_DEPTH_MAX:
        raise BudgetWbsCodeInvalid(f"a WBS code has at most {WBS_DEPTH_MAX} levels, {code!r} has {len(segments)}")
    for segment in segments:
        if not SEGMENT_RE.fullmatch(segment):
            raise BudgetWbsCodeInvalid(
                f"{code!r}: each dot-separated segment is 1-{WBS_SEGMENT_MAX} letters or digits (e.g. 1.2.A3)"
            )
    return text


def wbs_path(code: str) -> list[str]:
    """The codes from the root down to ``code`` itself: ``1.2.3`` -> ``["1", "1.2", "1.2.3"]``."""
    segments = code.split(".")
    return [".".join(segments[: i + 1]) for i in range(len(segments))]


def wbs_parent(code: str) -> str | None:
    return code.rpartition(".")[0] or None


def in_subtree(code: str, root: str) -> bool:
    """Whether ``code`` is ``root`` or below it."""
    return code == root or code.startswith(root + ".")


def percent(part: Money, whole: Money) -> Decimal | None:
    """``part / whole`` in percent, rounded down to 2 decimals (exact integer arithmetic); None when ``whole`` is 0."""
    if whole.minor == 0:
        return None
    hundredths = (part.minor * 10_000) // whole.minor if part.minor >= 0 else -((-part.minor * 10_000) // whole.minor)
    return (Decimal(hundredths) / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


@dataclass(frozen=True)
class LineFigures:
    """One line's figures (rolled up over its subtree for the ledger parts); see the module docstring."""

    cap: Money
    children_cap: Money
    committed: Money
    encumbered: Money
    retention: Money
    withheld: Money
    pending: Money
    disbursed: Money

    @classmethod
    def of(cls, cap: Money, figures: Figures | None) -> LineFigures:
        """A line's own figures: its cap and what the ledger books on it (nothing when ``figures`` is None)."""
        zero = Money.zero(cap.currency)
        parts = {name: getattr(figures, name) if figures is not None else zero for name in LEDGER_PARTS}
        return cls(cap=cap, children_cap=zero, **parts)

    def with_children(self, children: Iterable[LineFigures]) -> LineFigures:
        """Own figures plus the children's ledger parts; ``children_cap`` sums their caps."""
        rolled = {name: getattr(self, name) for name in LEDGER_PARTS}
        children_cap = Money.zero(self.cap.currency)
        for child in children:
            children_cap += child.cap
            for name in LEDGER_PARTS:
                rolled[name] += getattr(child, name)
        return LineFigures(cap=self.cap, children_cap=children_cap, **rolled)

    @property
    def used(self) -> Money:
        return Money.sum((getattr(self, name) for name in LEDGER_PARTS), self.cap.currency)

    @property
    def open(self) -> Money:
        return Money.sum((getattr(self, name) for name in OPEN_PARTS), self.cap.currency)

    @property
    def actual(self) -> Money:
        return self.used - self.committed

    @property
    def remaining(self) -> Money:
        return self.cap - self.used

    @property
    def variance(self) -> Money:
        return self.cap - self.actual

    @property
    def percent_used(self) -> Decimal | None:
        return percent(self.used, self.cap)


@dataclass
class BudgetNode:
    line: BudgetLine
    figures: LineFigures
    children: list[BudgetNode] = field(default_factory=list)

    def walk(self) -> Iterable[BudgetNode]:
        """This node and every node below it, depth first in display order."""
        yield self
        for child in self.children:
            yield from child.walk()


def own_figures(
    ledger: Mapping[tuple[uuid.UUID | None, str], Figures] | Mapping[tuple[uuid.UUID, str], Figures], currency: str
) -> dict[uuid.UUID, Figures]:
    """Per line id, the ledger figures in ``currency`` (money booked on a line in another currency is not budget)."""
    return {line_id: figures for (line_id, code), figures in ledger.items() if line_id is not None and code == currency}


def build_tree(lines: Sequence[BudgetLine], own: Mapping[uuid.UUID, Figures]) -> list[BudgetNode]:
    """The lines as ordered nested nodes (siblings by position, then code), each with rolled-up figures.

    ``own`` gives each line's own ledger figures (see :func:`own_figures`). Lines whose parent is not among
    ``lines`` become roots, so a subtree can be built from its lines alone.
    """
    ids = {line.pk for line in lines}
    children: dict[uuid.UUID | None, list[BudgetLine]] = {}
    for line in lines:
        parent = line.parent_id if line.parent_id in ids else None
        children.setdefault(parent, []).append(line)
    for siblings in children.values():
        siblings.sort(key=lambda line: (line.position, line.wbs_code))

    def node(line: BudgetLine) -> BudgetNode:
        below = [node(child) for child in children.get(line.pk, [])]
        figures = LineFigures.of(line.cap, own.get(line.pk)).with_children(child.figures for child in below)
        return BudgetNode(line=line, figures=figures, children=below)

    return [node(root) for root in children.get(None, [])]


def totals(roots: Sequence[BudgetNode], currency: str) -> LineFigures:
    """The whole tree as one line: root caps and figures summed."""
    zero = Money.zero(currency)
    base = LineFigures(zero, zero, zero, zero, zero, zero, zero, zero)
    summed = base.with_children(root.figures for root in roots)
    return LineFigures(
        cap=summed.children_cap, children_cap=summed.children_cap, **{n: getattr(summed, n) for n in LEDGER_PARTS}
    )
