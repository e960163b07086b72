"""Property: for any tree, every node's ledger figures are the sum of the leaves below it (no database)."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from payor.core.money import Money
from payor.ledger.selectors import Figures
from payor.projects.budget import LEDGER_PARTS, build_tree, in_subtree, percent, totals
from payor.projects.models import BudgetLine

ZERO = Money.zero("USD")


@st.composite
def trees(draw):
    """A random forest of up to 40 lines, at most 8 deep, with ledger figures on its leaves."""
    size = draw(st.integers(min_value=1, max_value=40))
    lines: list[BudgetLine] = []
    children_count: dict[uuid.UUID | None, int] = {}
    for _ in range(size):
        candidates = [None, *[line for line in lines if line.depth < 8]]
        parent = draw(st.sampled_from(candidates))
        key = parent.pk if parent else None
        children_count[key] = children_count.get(key, 0) + 1
        code = f"{parent.wbs_code}.{children_count[key]}" if parent else str(children_count[key])
        line = BudgetLine(
            id=uuid.uuid4(),
            parent_id=key,
            wbs_code=code,
            description=code,
            currency="USD",
            position=draw(st.integers(min_value=0, max_value=3)),
        )
        line.cap = Money.of_minor(draw(st.integers(min_value=0, max_value=10**12)), "USD")
        lines.append(line)
    parents = {line.parent_id for line in lines}
    amounts = st.integers(min_value=0, max_value=10**11)
    own = {}
    for line in lines:
        if line.pk in parents:
            continue
        parts = {name: Money.of_minor(draw(amounts), "USD") for name in LEDGER_PARTS}
        own[line.pk] = Figures(currency="USD", funded=ZERO, available=ZERO, **parts)
    return lines, own


@settings(max_examples=300, deadline=None)
@given(trees())
def test_every_node_rolls_up_exactly_the_leaves_below_it(tree):
    lines, own = tree
    roots = build_tree(lines, own)
    nodes = [node for root in roots for node in root.walk()]
    assert sorted(node.line.wbs_code for node in nodes) == sorted(line.wbs_code for line in lines)
    for node in nodes:
        below = [line for line in lines if in_subtree(line.wbs_code, node.line.wbs_code) and line.pk in own]
        for name in LEDGER_PARTS:
            assert getattr(node.figures, name) == Money.sum((getattr(own[line.pk], name) for line in below), "USD")
        assert node.figures.cap == node.line.cap
        assert node.figures.children_cap == Money.sum((child.line.cap for child in node.children), "USD")
        assert node.figures.remaining == node.figures.cap - node.figures.used
        assert node.figures.actual == node.figures.used - node.figures.committed
        # Siblings come in display order.
        order = [(child.line.position, child.line.wbs_code) for child in node.children]
        assert order == sorted(order)
    everything = totals(roots, "USD")
    for name in LEDGER_PARTS:
        assert getattr(everything, name) == Money.sum((getattr(f, name) for f in own.values()), "USD")
    assert everything.cap == Money.sum((root.line.cap for root in roots), "USD")


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=10**15))
def test_percent_used_is_rounded_down_exactly(used, cap):
    value = percent(Money.of_minor(used, "USD"), Money.of_minor(cap, "USD"))
    assert value is not None
    assert value * cap <= used * 100 < (value + Money.of_minor(1, "USD").to_decimal()) * cap
    assert value.as_tuple().exponent == -2
