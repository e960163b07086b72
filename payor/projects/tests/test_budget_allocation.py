"""budget_allocation_check: the budget lock the contracts service calls before it commits money."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from payor.core.money import Money
from payor.ledger import services as ledger
from payor.projects.errors import (
    BudgetAllocationInvalid,
    BudgetCapExceeded,
    BudgetCheckOutsideTransaction,
    BudgetCurrencyMismatch,
    BudgetLineArchived,
    BudgetLineNotFound,
    BudgetLineNotLeaf,
)
from payor.projects.services import budget_allocation_check, budget_line_archive
from payor.projects.tests.conftest import budget_state, commit_on, grant, usd
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def check(project, allocations):
    with transaction.atomic():
        return budget_allocation_check(project=project, allocations=allocations)


def refused(error, project, allocations):
    before = budget_state()
    with pytest.raises(error) as caught:
        check(project, allocations)
    assert budget_state() == before
    return caught.value


@pytest.fixture
def tree(funded, make_line):
    """1 (1000) -> 1.1 (600) -> 1.1.1 (400), 1.1.2 (200); 1 -> 1.2 (400); 2 (50)."""
    site = make_line("1", "1000.00")
    prep = make_line("1.1", "600.00", parent=site)
    return {
        "1": site,
        "1.1": prep,
        "1.1.1": make_line("1.1.1", "400.00", parent=prep),
        "1.1.2": make_line("1.1.2", "200.00", parent=prep),
        "1.2": make_line("1.2", "400.00", parent=site),
        "2": make_line("2", "50.00"),
    }


def test_exactly_at_the_cap_passes_and_one_cent_more_is_refused(funded, tree):
    dig = tree["1.1.1"]
    commit_on(funded, {dig: "150.00"})
    error = refused(BudgetCapExceeded, funded, {dig.pk: usd("250.01")})
    assert error.extra == {
        "budget_line_id": str(dig.pk),
        "wbs_code": "1.1.1",
        "cap": {"amount": "400.00", "currency": "USD", "minor": 40000},
        "used": {"amount": "150.00", "currency": "USD", "minor": 15000},
        "requested": {"amount": "250.01", "currency": "USD", "minor": 25001},
    }
    assert "1.1.1" in error.detail
    locked = check(funded, {dig.pk: usd("250.00")})
    assert list(locked) == [dig.pk]
    assert locked[dig.pk].wbs_code == "1.1.1"
    commit_on(funded, {dig: "250.00"})
    refused(BudgetCapExceeded, funded, {dig.pk: usd("0.01")})
    assert check(funded, {dig.pk: usd("0.00")}) == {dig.pk: dig}  # nothing more asked: fine at the cap


def test_everything_counts_as_used_until_it_goes_back_to_available(funded, tree):
    dig = tree["1.1.1"]
    party = commit_on(funded, {dig: "400.00"})
    invoice = uuid.uuid4()
    ledger.encumber(party=party, lines=[ledger.Line(usd("100.00"), dig.pk)], key="i", invoice_id=invoice)
    ledger.retain(party=party, lines=[ledger.Line(usd("10.00"), dig.pk)], key="i", invoice_id=invoice)
    ledger.withhold(party=party, lines=[ledger.Line(usd("5.00"), dig.pk)], key="i", invoice_id=invoice)
    payment = uuid.uuid4()
    ledger.disbursement_schedule(
        party=party, lines=[ledger.Line(usd("85.00"), dig.pk)], disbursement_id=payment, year=2026
    )
    refused(BudgetCapExceeded, funded, {dig.pk: usd("0.01")})
    ledger.disbursement_execute(disbursement_id=payment)
    refused(BudgetCapExceeded, funded, {dig.pk: usd("0.01")})
    # Closing the contract releases the unused 300.00 commitment: that room is free again.
    ledger.contract_close(party=party, key="contract:close")
    error = refused(BudgetCapExceeded, funded, {dig.pk: usd("300.01")})
    assert error.extra["used"]["amount"] == "100.00"
    assert check(funded, {dig.pk: usd("300.00")})


def test_several_lines_are_checked_together_against_their_common_ancestors(funded, tree, pm):
    dig, grade = tree["1.1.1"], tree["1.1.2"]
    # Within each leaf's cap, and the two together within 1.1 (600).
    assert set(check(funded, {dig.pk: usd("400.00"), grade.pk: usd("200.00")})) == {dig.pk, grade.pk}
    # The same id given twice (as UUID and as text) adds up.
    refused(BudgetCapExceeded, funded, {dig.pk: usd("300.00"), str(dig.pk): usd("100.01")})


def test_an_ancestor_over_its_cap_refuses_even_when_the_leaf_has_room(funded, tree):
    dig, grade, planting = tree["1.1.1"], tree["1.1.2"], tree["1.2"]
    # Money booked straight through the ledger (past the budget check) fills 1.2 over its cap and 1 to its cap.
    party = ledger.Party(bucket=funded.buckets.get(), contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())
    ledger.commit(party=party, lines=[ledger.Line(usd("450.00"), planting.pk)], key="bypass")
    commit_on(funded, {dig: "350.00", grade: "199.99"})
    # grade has 0.01 of room and 1.1 has 50.01, but the root (1000) is at 999.99 used.
    assert check(funded, {grade.pk: usd("0.01")})
    error = refused(BudgetCapExceeded, funded, {dig.pk: usd("0.02")})
    assert (error.extra["wbs_code"], error.extra["used"]["amount"], error.extra["requested"]["amount"]) == (
        "1",
        "999.99",
        "0.02",
    )


def test_unknown_foreign_archived_and_parent_lines_are_refused(funded, tree, pm, make_line):
    elsewhere = ProjectFactory(currency="USD")
    grant(elsewhere, pm, ProjectRole.PROJECT_MANAGER)
    foreign = make_line("1", "100.00", on=elsewhere)
    assert refused(BudgetLineNotFound, funded, {uuid.uuid4(): usd("1.00")}).code == "budget_line_not_found"
    refused(BudgetLineNotFound, funded, {"not-a-uuid": usd("1.00")})
    refused(BudgetLineNotFound, funded, {foreign.pk: usd("1.00")})
    error = refused(BudgetLineNotLeaf, funded, {tree["1.1"].pk: usd("1.00")})
    assert error.extra["budget_line_id"] == str(tree["1.1"].pk)
    refused(BudgetLineNotLeaf, funded, {tree["1"].pk: usd("1.00"), tree["2"].pk: usd("1.00")})
    budget_line_archive(actor=pm, line=tree["2"])
    refused(BudgetLineArchived, funded, {tree["2"].pk: usd("1.00")})


def test_amounts_are_non_negative_money_in_the_project_currency(funded, tree):
    dig = tree["1.1.1"]
    refused(BudgetCurrencyMismatch, funded, {dig.pk: Money.parse("1.00", "USDC")})
    refused(BudgetAllocationInvalid, funded, {dig.pk: usd("-0.01")})
    refused(BudgetAllocationInvalid, funded, {dig.pk: 100})
    assert check(funded, {}) == {}


@pytest.mark.django_db(transaction=True)
def test_the_check_runs_inside_the_callers_transaction(funded, tree):
    with pytest.raises(BudgetCheckOutsideTransaction):
        budget_allocation_check(project=funded, allocations={tree["2"].pk: usd("1.00")})
