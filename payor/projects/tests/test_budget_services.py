"""Budget lines: creating, changing and archiving the WBS tree; every refusal leaves everything as it was."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, transaction

from payor.audit.models import AuditEvent
from payor.core.errors import PermissionDenied
from payor.core.money import Money
from payor.ledger import services as ledger
from payor.projects import services
from payor.projects.errors import (
    BudgetCapBelowUsed,
    BudgetCapInvalid,
    BudgetChildrenExceedParent,
    BudgetCurrencyMismatch,
    BudgetDescriptionInvalid,
    BudgetLineArchived,
    BudgetLineHasActivity,
    BudgetLineInUse,
    BudgetParentInvalid,
    BudgetPositionInvalid,
    BudgetWbsCodeInvalid,
    BudgetWbsCodeTaken,
)
from payor.projects.models import BudgetLine
from payor.projects.selectors import budget_tree
from payor.projects.tests.conftest import budget_state, commit_on, grant, usd
from payor.rbac.roles import ProjectRole
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def create(actor, project, code, cap="100.00", parent=None, **kwargs):
    return services.budget_line_create(
        actor=actor,
        project=project,
        wbs_code=code,
        description=kwargs.pop("description", f"Line {code}"),
        cap=kwargs.pop("money", None) or usd(cap),
        parent_id=parent.pk if isinstance(parent, BudgetLine) else parent,
        **kwargs,
    )


def refused(error, call):
    """``call`` raises ``error`` and changes nothing (lines, audit log, ledger)."""
    before = budget_state()
    with pytest.raises(error) as caught:
        call()
    assert budget_state() == before
    return caught.value


# -- creating -------------------------------------------------------------------------------------------------


def test_lines_are_created_normalised_ordered_and_audited(project, pm):
    site = create(pm, project, " 1 ", "500000.00", description="  Site works  ")
    prep = create(pm, project, "1.a", "200000.00", parent=site)
    plant = create(pm, project, "1.B2", "250000.00", parent=site)
    first = create(pm, project, "1.0", "10.00", parent=site, position=0)
    assert (site.wbs_code, site.description, site.parent_id, site.cap) == ("1", "Site works", None, usd("500000.00"))
    assert (prep.wbs_code, prep.parent_id, prep.depth) == ("1.A", site.pk, 2)
    assert [prep.position, plant.position] == [0, 1]  # after the last sibling by default
    assert site.created_by == pm
    assert site.currency == "USD"
    tree = budget_tree(viewer=pm, project=project)
    assert [node.line.wbs_code for node in tree.roots[0].children] == ["1.0", "1.A", "1.B2"]  # position, then code
    assert first.position == 0
    event = AuditEvent.objects.filter(action="budget_line.created", subject_id=str(prep.pk)).get()
    assert event.project_id == project.pk
    assert event.after == {
        "wbs_code": "1.A",
        "parent": str(site.pk),
        "description": "Line 1.a",
        "cap": {"amount": "200000.00", "currency": "USD"},
        "position": 0,
        "archived_at": None,
    }


@pytest.mark.parametrize(
    "code",
    ["", "1..2", ".1", "1.", "1-2", "ABCDEFGHIJK", "1 2", "1.2.3.4.5.6.7.8.9", "é", None],
)
def test_malformed_codes_are_refused(project, pm, code):
    refused(BudgetWbsCodeInvalid, lambda: create(pm, project, code))


def test_code_rules_against_the_parent(project, pm):
    site = create(pm, project, "1", "1000.00")
    other = create(pm, project, "2", "1000.00")
    refused(BudgetWbsCodeInvalid, lambda: create(pm, project, "1.2"))  # a child's code with no parent
    refused(BudgetWbsCodeInvalid, lambda: create(pm, project, "2.1", parent=site))  # not under 1
    refused(BudgetWbsCodeInvalid, lambda: create(pm, project, "1.2.3", parent=site))  # two levels down
    refused(BudgetWbsCodeInvalid, lambda: create(pm, project, "1", parent=site))
    create(pm, project, "1.1", "10.00", parent=site)
    refused(BudgetWbsCodeTaken, lambda: create(pm, project, "1.1", "10.00", parent=site))
    refused(BudgetWbsCodeTaken, lambda: create(pm, project, "2"))
    assert other.wbs_code == "2"
    # Eight levels is the limit.
    parent = site
    for _ in range(2, 9):
        parent = create(pm, project, f"{parent.wbs_code}.9", "10.00", parent=parent)
    assert parent.depth == 8


def test_the_parent_must_be_a_line_of_the_same_project(project, pm):
    elsewhere = ProjectFactory(currency="USD")
    grant(elsewhere, pm, ProjectRole.PROJECT_MANAGER)
    foreign = create(pm, elsewhere, "1", "1000.00")
    refused(BudgetParentInvalid, lambda: create(pm, project, "1.1", parent=foreign))
    refused(BudgetParentInvalid, lambda: create(pm, project, "1.1", parent=uuid.uuid4()))
    refused(BudgetParentInvalid, lambda: create(pm, project, "1.1", parent="not-a-uuid"))


def test_amounts_descriptions_and_positions_are_validated(project, pm):
    refused(BudgetCurrencyMismatch, lambda: create(pm, project, "1", money=Money.parse("10.00", "EUR")))
    refused(BudgetCapInvalid, lambda: create(pm, project, "1", "-0.01"))
    refused(BudgetCapInvalid, lambda: create(pm, project, "1", "92233720368547758.08"))  # above BIGINT
    assert create(pm, project, "9", "92233720368547758.07").cap.minor == 2**63 - 1
    refused(BudgetDescriptionInvalid, lambda: create(pm, project, "1", description="   "))
    refused(BudgetDescriptionInvalid, lambda: create(pm, project, "1", description="x" * 501))
    refused(BudgetPositionInvalid, lambda: create(pm, project, "1", position=-1))
    refused(BudgetPositionInvalid, lambda: create(pm, project, "1", position=2**31))
    zero = create(pm, project, "1", "0.00")  # a zero cap is a valid (empty) budget
    assert zero.cap == usd("0.00")


def test_only_budget_managers_create_lines(project, pm):
    site = create(pm, project, "1", "100.00")
    for role in (ProjectRole.AUDITOR, ProjectRole.FINANCE_REVIEWER, ProjectRole.TREASURER, ProjectRole.VENDOR):
        user = UserFactory()
        grant(project, user, role)
        error = refused(PermissionDenied, lambda user=user: create(user, project, "2"))
        assert error.extra["permission"] == "budget.manage"
        refused(PermissionDenied, lambda user=user: services.budget_line_update(actor=user, line=site, cap=usd("1")))
        refused(PermissionDenied, lambda user=user: services.budget_line_archive(actor=user, line=site))
    outsider = UserFactory()
    refused(PermissionDenied, lambda: create(outsider, project, "2"))
    admin = UserFactory(is_superuser=True)
    assert create(admin, project, "2").created_by == admin


def test_children_caps_may_reach_the_parent_cap_but_not_one_cent_more(project, pm):
    site = create(pm, project, "1", "1000.00")
    create(pm, project, "1.1", "600.00", parent=site)
    error = refused(BudgetChildrenExceedParent, lambda: create(pm, project, "1.2", "400.01", parent=site))
    assert error.extra["wbs_code"] == "1"
    assert error.extra["children_cap"] == {"amount": "1000.01", "currency": "USD", "minor": 100001}
    assert create(pm, project, "1.2", "400.00", parent=site).cap == usd("400.00")
    refused(BudgetChildrenExceedParent, lambda: create(pm, project, "1.3", "0.01", parent=site))
    assert create(pm, project, "1.3", "0.00", parent=site).cap == usd("0.00")


def test_a_line_the_ledger_books_money_on_gets_no_children(funded, pm, make_line):
    site = make_line("1", "1000.00")
    leaf = make_line("1.1", "500.00", parent=site)
    commit_on(funded, {leaf: "100.00"})
    refused(BudgetLineHasActivity, lambda: create(pm, funded, "1.1.1", "10.00", parent=leaf))
    # Even once the money has gone back to available, the history stays on the leaf.
    other = make_line("1.2", "100.00", parent=site)
    party = commit_on(funded, {other: "50.00"})
    ledger.change_order(party=party, lines=[ledger.Line(usd("-50.00"), other.pk)], key="change-order:1")
    assert budget_tree(viewer=pm, project=funded).roots[0].children[1].figures.used == usd("0.00")
    refused(BudgetLineHasActivity, lambda: create(pm, funded, "1.2.1", "10.00", parent=other))
    # A sibling without activity still takes children.
    fresh = make_line("1.3", "100.00", parent=site)
    assert create(pm, funded, "1.3.1", "100.00", parent=fresh).parent_id == fresh.pk


# -- updating ---------------------------------------------------------------------------------------------------


def test_update_changes_only_what_is_given_and_audits_the_difference(project, pm):
    site = create(pm, project, "1", "1000.00")
    line = services.budget_line_update(actor=pm, line=site, description="Site works", cap=usd("1500.00"))
    assert (line.description, line.cap) == ("Site works", usd("1500.00"))
    event = AuditEvent.objects.filter(action="budget_line.updated").get()
    assert event.before == {"description": "Line 1", "cap": {"amount": "1000.00", "currency": "USD"}}
    assert event.after == {"description": "Site works", "cap": {"amount": "1500.00", "currency": "USD"}}
    # The same values again: nothing written, nothing audited.
    before = budget_state()
    services.budget_line_update(actor=pm, line=line, description="Site works", cap=usd("1500.00"), position=0)
    assert budget_state() == before
    moved = services.budget_line_update(actor=pm, line=line, position=5)
    assert moved.position == 5
    assert BudgetLine.objects.get(pk=site.pk).position == 5


def test_a_cap_stays_within_its_parent_and_above_its_children(project, pm):
    site = create(pm, project, "1", "1000.00")
    prep = create(pm, project, "1.1", "600.00", parent=site)
    create(pm, project, "1.2", "300.00", parent=site)
    dig = create(pm, project, "1.1.1", "350.00", parent=prep)
    create(pm, project, "1.1.2", "250.00", parent=prep)
    # Raising 1.1 to the parent's room exactly works; one cent more does not.
    refused(BudgetChildrenExceedParent, lambda: services.budget_line_update(actor=pm, line=prep, cap=usd("700.01")))
    assert services.budget_line_update(actor=pm, line=prep, cap=usd("700.00")).cap == usd("700.00")
    # Lowering 1.1 below its children's caps (350 + 250) is refused; exactly at them is fine.
    error = refused(
        BudgetChildrenExceedParent, lambda: services.budget_line_update(actor=pm, line=prep, cap=usd("599.99"))
    )
    assert error.extra["children_cap"]["amount"] == "600.00"
    assert services.budget_line_update(actor=pm, line=prep, cap=usd("600.00")).cap == usd("600.00")
    # The parent cannot drop below its children's caps either.
    refused(BudgetChildrenExceedParent, lambda: services.budget_line_update(actor=pm, line=site, cap=usd("899.99")))
    refused(
        BudgetCurrencyMismatch, lambda: services.budget_line_update(actor=pm, line=dig, cap=Money.parse("1", "EUR"))
    )
    refused(BudgetCapInvalid, lambda: services.budget_line_update(actor=pm, line=dig, cap=usd("-1.00")))
    refused(BudgetDescriptionInvalid, lambda: services.budget_line_update(actor=pm, line=dig, description=""))


def test_a_cap_cannot_go_below_what_the_subtree_uses(funded, pm, make_line):
    site = make_line("1", "1000.00")
    prep = make_line("1.1", "600.00", parent=site)
    dig = make_line("1.1.1", "400.00", parent=prep)
    grade = make_line("1.1.2", "200.00", parent=prep)
    riverworks = commit_on(funded, {dig: "300.00", grade: "150.00"})
    invoice = uuid.uuid4()
    ledger.encumber(party=riverworks, lines=[ledger.Line(usd("100.00"), dig.pk)], key="inv", invoice_id=invoice)
    ledger.disbursement_schedule(
        party=riverworks, lines=[ledger.Line(usd("100.00"), dig.pk)], disbursement_id=uuid.uuid4(), year=2026
    )
    # dig uses 300.00 (200 committed + 100 pending): exactly 300.00 is allowed, 299.99 is not.
    error = refused(BudgetCapBelowUsed, lambda: services.budget_line_update(actor=pm, line=dig, cap=usd("299.99")))
    assert error.extra["used"] == {"amount": "300.00", "currency": "USD", "minor": 30000}
    assert services.budget_line_update(actor=pm, line=dig, cap=usd("300.00")).cap == usd("300.00")
    assert services.budget_line_update(actor=pm, line=grade, cap=usd("150.00")).cap == usd("150.00")
    # Usage rolls up: with the children capped at their usage, 1.1 cannot go below 450.00.
    refused(BudgetChildrenExceedParent, lambda: services.budget_line_update(actor=pm, line=prep, cap=usd("449.99")))
    assert services.budget_line_update(actor=pm, line=prep, cap=usd("450.00")).cap == usd("450.00")


# -- archiving ---------------------------------------------------------------------------------------------------


def test_archiving_takes_the_subtree_is_idempotent_and_keeps_the_figures(funded, pm, make_line):
    site = make_line("1", "1000.00")
    prep = make_line("1.1", "600.00", parent=site)
    dig = make_line("1.1.1", "400.00", parent=prep)
    make_line("1.2", "100.00", parent=site)
    party = commit_on(funded, {dig: "300.00"})
    error = refused(BudgetLineInUse, lambda: services.budget_line_archive(actor=pm, line=prep))
    assert error.extra["open"]["amount"] == "300.00"
    # Pay it all: nothing open, only disbursed money left.
    invoice, payment = uuid.uuid4(), uuid.uuid4()
    ledger.encumber(party=party, lines=[ledger.Line(usd("300.00"), dig.pk)], key="inv", invoice_id=invoice)
    ledger.disbursement_schedule(
        party=party, lines=[ledger.Line(usd("300.00"), dig.pk)], disbursement_id=payment, year=2026
    )
    refused(BudgetLineInUse, lambda: services.budget_line_archive(actor=pm, line=prep))  # pending is still open
    ledger.disbursement_execute(disbursement_id=payment)

    archived = services.budget_line_archive(actor=pm, line=prep)
    assert archived.archived_at is not None
    assert archived.archived_by == pm
    assert set(BudgetLine.objects.filter(archived_at__isnull=False).values_list("wbs_code", flat=True)) == {
        "1.1",
        "1.1.1",
    }
    event = AuditEvent.objects.filter(action="budget_line.archived").get()
    assert event.after["lines"] == ["1.1", "1.1.1"]
    before = budget_state()
    assert services.budget_line_archive(actor=pm, line=prep).archived_at == archived.archived_at
    assert budget_state() == before

    # Archived lines stay in the tree with their money; they take no edits and no new lines.
    tree = budget_tree(viewer=pm, project=funded)
    assert tree.roots[0].figures.disbursed == usd("300.00")
    assert tree.roots[0].children[0].line.is_archived
    refused(BudgetLineArchived, lambda: services.budget_line_update(actor=pm, line=dig, description="x"))
    refused(BudgetLineArchived, lambda: create(pm, funded, "1.1.3", "1.00", parent=prep))
    # An archived line's cap still counts against its parent (lower it to what was used before archiving).
    extra = make_line("1.3", "300.00", parent=site)
    refused(BudgetChildrenExceedParent, lambda: services.budget_line_update(actor=pm, line=extra, cap=usd("300.01")))


# -- what the database itself refuses ---------------------------------------------------------------------------


def test_the_tree_shape_is_fixed_and_guarded_by_the_database(funded, pm, make_line):
    site = make_line("1", "1000.00")
    leaf = make_line("1.1", "100.00", parent=site)
    other = make_line("2", "100.00")
    for change in (
        {"wbs_code": "1.9"},
        {"parent": other},
        {"project": ProjectFactory(currency="USD")},
    ):
        with pytest.raises(DatabaseError, match="never change"), transaction.atomic():
            BudgetLine.objects.filter(pk=leaf.pk).update(**change)
    with pytest.raises(DatabaseError, match="plus one segment"), transaction.atomic():
        BudgetLine.objects.create(project=funded, parent=site, wbs_code="2.5", description="x", currency="USD", cap=1)
    elsewhere = ProjectFactory(currency="USD")
    with pytest.raises(DatabaseError, match="same project"), transaction.atomic():
        BudgetLine.objects.create(
            project=elsewhere, parent=site, wbs_code="1.5", description="x", currency="USD", cap=1
        )
    with pytest.raises(DatabaseError, match="currency"), transaction.atomic():
        BudgetLine.objects.create(project=funded, wbs_code="9", description="x", currency="EUR", cap=1)
    with pytest.raises(DatabaseError, match="cap_non_negative"), transaction.atomic():
        BudgetLine.objects.create(project=funded, wbs_code="8", description="x", currency="USD", cap=-1)
    with pytest.raises(DatabaseError, match="code_valid"), transaction.atomic():
        BudgetLine.objects.create(project=funded, wbs_code="a", description="x", currency="USD", cap=1)
    with pytest.raises(DatabaseError, match="root_code"), transaction.atomic():
        BudgetLine.objects.create(project=funded, wbs_code="7.1", description="x", currency="USD", cap=1)
    # A line the ledger mentions is never deleted; one it does not may be.
    commit_on(funded, {leaf: "10.00"})
    with pytest.raises(DatabaseError, match="archive it"), transaction.atomic():
        BudgetLine.objects.filter(pk=leaf.pk).delete()
    BudgetLine.objects.filter(pk=other.pk).delete()
    assert not BudgetLine.objects.filter(pk=other.pk).exists()
