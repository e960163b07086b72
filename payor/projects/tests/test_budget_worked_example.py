"""A three-level WBS tree with real ledger activity: every figure to the cent, and the roll-up."""

from __future__ import annotations

import uuid

import pytest

from payor.ledger import services as ledger
from payor.ledger.selectors import project_summary
from payor.projects.budget import LEDGER_PARTS
from payor.projects.selectors import budget_line_get, budget_tree
from payor.projects.tests.conftest import commit_on, usd

pytestmark = pytest.mark.django_db

FIELDS = (*LEDGER_PARTS, "cap", "children_cap", "used", "actual", "remaining", "variance")


def flat(tree) -> dict[str, dict[str, str]]:
    """Every node's figures as strings, by WBS code (depth first)."""
    return {
        node.line.wbs_code: {
            **{name: getattr(node.figures, name).amount_str() for name in FIELDS},
            "percent_used": str(node.figures.percent_used),
        }
        for root in tree
        for node in root.walk()
    }


def test_site_works_tree_rolls_up_the_ledger_exactly(funded, pm, make_line):
    project = funded
    site = make_line("1", "500000.00")
    earthworks = make_line("1.1", "200000.00", parent=site)
    excavation = make_line("1.1.1", "120000.00", parent=earthworks)
    grading = make_line("1.1.2", "80000.00", parent=earthworks)
    planting = make_line("1.2", "250000.00", parent=site)
    make_line("2", "100000.00")  # monitoring: nothing booked yet

    # Two contracts, each checked against the budget and committed per line.
    riverworks = commit_on(project, {excavation: "100000.37", grading: "60000.00"})
    nursery = commit_on(project, {planting: "200000.10"})

    # Riverworks invoices 50,000.25 on excavation: retention, withholding, then a payment run (still pending).
    invoice = uuid.uuid4()
    key = f"invoice:{invoice}:submission:1"
    ledger.encumber(party=riverworks, lines=[ledger.Line(usd("50000.25"), excavation.pk)], key=key, invoice_id=invoice)
    ledger.retain(party=riverworks, lines=[ledger.Line(usd("5000.03"), excavation.pk)], key=key, invoice_id=invoice)
    ledger.withhold(party=riverworks, lines=[ledger.Line(usd("1000.01"), excavation.pk)], key=key, invoice_id=invoice)
    ledger.disbursement_schedule(
        party=riverworks,
        lines=[ledger.Line(usd("44000.21"), excavation.pk)],
        disbursement_id=uuid.uuid4(),
        year=2026,
        invoice_id=invoice,
    )
    # The nursery invoices 20,000.05 on planting and is paid.
    nursery_invoice, payment = uuid.uuid4(), uuid.uuid4()
    ledger.encumber(
        party=nursery,
        lines=[ledger.Line(usd("20000.05"), planting.pk)],
        key=f"invoice:{nursery_invoice}:submission:1",
        invoice_id=nursery_invoice,
    )
    ledger.disbursement_schedule(
        party=nursery, lines=[ledger.Line(usd("20000.05"), planting.pk)], disbursement_id=payment, year=2026
    )
    ledger.disbursement_execute(disbursement_id=payment)

    tree = budget_tree(viewer=pm, project=project)
    zero = "0.00"
    assert flat(tree.roots) == {
        "1": {
            "committed": "290000.17",
            "encumbered": zero,
            "retention": "5000.03",
            "withheld": "1000.01",
            "pending": "44000.21",
            "disbursed": "20000.05",
            "cap": "500000.00",
            "children_cap": "450000.00",
            "used": "360000.47",
            "actual": "70000.30",
            "remaining": "139999.53",
            "variance": "429999.70",
            "percent_used": "72.00",
        },
        "1.1": {
            "committed": "110000.12",
            "encumbered": zero,
            "retention": "5000.03",
            "withheld": "1000.01",
            "pending": "44000.21",
            "disbursed": zero,
            "cap": "200000.00",
            "children_cap": "200000.00",
            "used": "160000.37",
            "actual": "50000.25",
            "remaining": "39999.63",
            "variance": "149999.75",
            "percent_used": "80.00",
        },
        "1.1.1": {
            "committed": "50000.12",
            "encumbered": zero,
            "retention": "5000.03",
            "withheld": "1000.01",
            "pending": "44000.21",
            "disbursed": zero,
            "cap": "120000.00",
            "children_cap": zero,
            "used": "100000.37",
            "actual": "50000.25",
            "remaining": "19999.63",
            "variance": "69999.75",
            "percent_used": "83.33",
        },
        "1.1.2": {
            "committed": "60000.00",
            "encumbered": zero,
            "retention": zero,
            "withheld": zero,
            "pending": zero,
            "disbursed": zero,
            "cap": "80000.00",
            "children_cap": zero,
            "used": "60000.00",
            "actual": zero,
            "remaining": "20000.00",
            "variance": "80000.00",
            "percent_used": "75.00",
        },
        "1.2": {
            "committed": "180000.05",
            "encumbered": zero,
            "retention": zero,
            "withheld": zero,
            "pending": zero,
            "disbursed": "20000.05",
            "cap": "250000.00",
            "children_cap": zero,
            "used": "200000.10",
            "actual": "20000.05",
            "remaining": "49999.90",
            "variance": "229999.95",
            "percent_used": "80.00",
        },
        "2": {
            **{name: zero for name in (*LEDGER_PARTS, "children_cap", "used", "actual")},
            "cap": "100000.00",
            "remaining": "100000.00",
            "variance": "100000.00",
            "percent_used": "0.00",
        },
    }
    # Display order: depth first, siblings in creation order.
    assert [node.line.wbs_code for root in tree.roots for node in root.walk()] == [
        "1",
        "1.1",
        "1.1.1",
        "1.1.2",
        "1.2",
        "2",
    ]
    assert tree.totals.cap == usd("600000.00")
    assert tree.totals.used == usd("360000.47")
    assert str(tree.totals.percent_used) == "60.00"

    # Every cent on a line is in the project's ledger, and nothing else is (all commitments were allocated).
    summary = project_summary(project_id=project.pk)["USD"]
    for name in LEDGER_PARTS:
        assert getattr(tree.totals, name) == getattr(summary, name), name
    assert summary.balanced

    # One line read alone gives the same subtree figures as the whole tree.
    node = budget_line_get(viewer=pm, line_id=earthworks.pk)
    assert flat([node]) == {code: figures for code, figures in flat(tree.roots).items() if code.startswith("1.1")}


def test_the_tree_costs_a_fixed_number_of_queries(funded, pm, make_line, django_assert_num_queries):
    parents = [make_line(str(i), "1000.00") for i in range(1, 6)]
    leaves = [make_line(f"{p.wbs_code}.{j}", "100.00", parent=p) for p in parents for j in range(1, 6)]
    commit_on(funded, {leaf: "10.00" for leaf in leaves})
    with django_assert_num_queries(3):  # the permission check, the lines, one ledger aggregate
        tree = budget_tree(viewer=pm, project=funded)
    assert tree.totals.used == usd("250.00")
    assert len([node for root in tree.roots for node in root.walk()]) == 30
