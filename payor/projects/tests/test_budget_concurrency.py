"""Budget locks under real parallel connections (one per thread): the cap holds whoever wins the race."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import transaction

from payor.ledger import services as ledger
from payor.ledger.verify import ledger_verify
from payor.projects import services
from payor.projects.errors import BudgetCapBelowUsed, BudgetCapExceeded, BudgetLineHasActivity, BudgetLineNotLeaf
from payor.projects.models import BudgetLine
from payor.projects.selectors import budget_tree
from payor.projects.tests.conftest import commit_on, usd
from payor.testing.concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.database_facing]


def contract(project, line: BudgetLine, amount: str, *, hold: float = 0.05) -> str:
    """What the contracts service will do: one transaction that checks the budget, then commits the money."""
    party = ledger.Party(bucket=project.buckets.get(), contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())
    with transaction.atomic():
        services.budget_allocation_check(project=project, allocations={line.pk: usd(amount)})
        time.sleep(hold)  # widen the window between the check and the commit
        ledger.commit(party=party, lines=[ledger.Line(usd(amount), line.pk)], key=f"contract:{party.contract_id}")
    return "committed"


def used(pm, project, code: str):
    nodes = {node.line.wbs_code: node for root in budget_tree(viewer=pm, project=project).roots for node in root.walk()}
    return nodes[code].figures.used


def test_two_contracts_racing_for_the_last_room_under_one_cap_exactly_one_passes(funded, pm, make_line):
    site = make_line("1", "5000.00")
    for round_ in range(3):
        leaf = make_line(f"1.{round_ + 1}", "1000.00", parent=site)
        commit_on(funded, {leaf: "900.00"})
        results = race([lambda leaf=leaf: contract(funded, leaf, "60.00")] * 2)
        assert sorted(type(r).__name__ for r in results) == ["BudgetCapExceeded", "str"], results
        refusal = next(r for r in results if isinstance(r, BudgetCapExceeded))
        assert refusal.extra["used"]["amount"] == "960.00"  # it waited, then saw the winner's commitment
        assert used(pm, funded, leaf.wbs_code) == usd("960.00")
    assert ledger_verify().ok


def test_sixteen_contracts_for_a_hundred_each_fill_a_thousand_exactly(funded, pm, make_line):
    site = make_line("1", "1000.00")
    leaf = make_line("1.1", "1000.00", parent=site)
    results = race([lambda: contract(funded, leaf, "100.00", hold=0.005)] * 16)
    assert results.count("committed") == 10
    assert sum(isinstance(r, BudgetCapExceeded) for r in results) == 6
    assert used(pm, funded, "1") == usd("1000.00")


def test_adding_a_child_and_allocating_to_the_same_leaf_one_of_them_wins(funded, pm, make_line):
    for round_ in range(3):
        leaf = make_line(str(round_ + 1), "1000.00")

        def add_child(leaf=leaf):
            services.budget_line_create(
                actor=pm,
                project=funded,
                wbs_code=f"{leaf.wbs_code}.1",
                description="Split",
                cap=usd("10.00"),
                parent_id=leaf.pk,
            )
            return "child"

        results = race([add_child, lambda leaf=leaf: contract(funded, leaf, "100.00")])
        assert sorted(type(r).__name__ for r in results) in (
            ["BudgetLineHasActivity", "str"],  # the allocation went first: the leaf stays a leaf
            ["BudgetLineNotLeaf", "str"],  # the child went first: the allocation goes to the child instead
        ), results
        if isinstance(results[0], BudgetLineHasActivity):
            assert not BudgetLine.objects.filter(parent=leaf).exists()
            assert used(pm, funded, leaf.wbs_code) == usd("100.00")
        else:
            assert isinstance(results[1], BudgetLineNotLeaf)
            assert used(pm, funded, leaf.wbs_code) == usd("0.00")


def test_lowering_a_cap_and_allocating_under_it_one_of_them_wins(funded, pm, make_line):
    leaf = make_line("1", "1000.00")

    def lower():
        services.budget_line_update(actor=pm, line=leaf, cap=usd("500.00"))
        return "lowered"

    results = race([lower, lambda: contract(funded, leaf, "600.00")])
    assert sorted(type(r).__name__ for r in results) in (
        ["BudgetCapBelowUsed", "str"],
        ["BudgetCapExceeded", "str"],
    ), results
    leaf.refresh_from_db()
    if isinstance(results[0], BudgetCapBelowUsed):
        assert (leaf.cap, used(pm, funded, "1")) == (usd("1000.00"), usd("600.00"))
    else:
        assert (leaf.cap, used(pm, funded, "1")) == (usd("500.00"), usd("0.00"))
