"""Who may approve next: each default band walked end to end, and each segregation-of-duties rule."""

from __future__ import annotations

import pytest

from payor.accounts.models import User
from payor.approvals.errors import (
    ApprovalAlreadyComplete,
    ApprovalAmountInvalid,
    ApprovalCurrencyMismatch,
    ApprovalDuplicateSigner,
    ApprovalLimitExceeded,
    ApprovalNotInTurn,
    ApprovalOneStagePerPerson,
    ApprovalRoleMissing,
    ApprovalStageNotRequired,
    ApprovalSubmitterCannotApprove,
)
from payor.approvals.models import ApprovalMatrix
from payor.approvals.plan import ApprovalPlan, ApprovalRecord, StageStatus, approval_check, approval_plan
from payor.approvals.services import approval_matrix_update
from payor.approvals.tests.conftest import DAO, FIN, PM, TREAS, band, decided_at, stage, usd
from payor.core.money import Money
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.roles import ProjectRole
from payor.rbac.services import role_revoke, role_set_limit
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(grant):
    """The submitter (a PM too) and two holders of each approver role, limits 1,000,000.00."""
    return {
        "submitter": grant("a-submitter@example.test", PM),
        "pm1": grant("pm1@example.test", PM),
        "pm2": grant("pm2@example.test", PM),
        "fin1": grant("fin1@example.test", FIN),
        "fin2": grant("fin2@example.test", FIN),
        "tre1": grant("tre1@example.test", TREAS),
        "tre2": grant("tre2@example.test", TREAS),
        "dao1": grant("dao1@example.test", DAO),
        "dao2": grant("dao2@example.test", DAO),
        "dao3": grant("dao3@example.test", DAO),
    }


class Item:
    """An item being approved: its amount, submitter and approvals so far (what the invoice issue will persist)."""

    def __init__(self, project, amount: str, submitter: User | None) -> None:
        self.project = project
        self.amount = usd(amount)
        self.submitter = submitter
        self.approvals: list[ApprovalRecord] = []

    def plan(self) -> ApprovalPlan:
        return approval_plan(
            project=self.project, amount=self.amount, submitter=self.submitter, approvals=self.approvals
        )

    def check(self, approver: User, role: str) -> None:
        approval_check(
            project=self.project,
            amount=self.amount,
            submitter=self.submitter,
            approvals=self.approvals,
            approver=approver,
            role=role,
        )

    def approve(self, approver: User, role: str) -> None:
        self.check(approver, role)
        self.approvals.append(ApprovalRecord(user=approver, role=role, decided_at=decided_at()))


def emails(users) -> list[str]:
    return [user.email for user in users]


def summary(plan: ApprovalPlan) -> list[tuple[str, str, int, int]]:
    return [(s.role.value, s.status.value, s.signed, s.signers_required) for s in plan.stages]


@pytest.fixture
def item(project, people):
    return lambda amount: Item(project, amount, people["submitter"])


# --------------------------------------------------------------------------
# Bands and their boundaries
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "position", "roles"),
    [
        ("0.01", 1, ["PROJECT_MANAGER", "FINANCE_REVIEWER"]),
        ("10000.00", 1, ["PROJECT_MANAGER", "FINANCE_REVIEWER"]),
        ("10000.01", 2, ["PROJECT_MANAGER", "FINANCE_REVIEWER", "TREASURER"]),
        ("50000.00", 2, ["PROJECT_MANAGER", "FINANCE_REVIEWER", "TREASURER"]),
        ("50000.01", 3, ["PROJECT_MANAGER", "FINANCE_REVIEWER", "TREASURER", "DAO_MULTISIG"]),
        ("999999999.99", 3, ["PROJECT_MANAGER", "FINANCE_REVIEWER", "TREASURER", "DAO_MULTISIG"]),
    ],
)
def test_default_bands_and_their_boundaries(project, amount, position, roles):
    plan = Item(project, amount, None).plan()
    assert plan.band_position == position
    assert [s.role.value for s in plan.stages] == roles
    assert [s.status for s in plan.stages] == [StageStatus.NEXT] + [StageStatus.WAITING] * (len(roles) - 1)
    assert plan.matrix_version == 1
    assert not plan.complete


def test_band_1_needs_pm_then_finance(item, people):
    invoice = item("10000.00")
    plan = invoice.plan()
    assert summary(plan) == [("PROJECT_MANAGER", "next", 0, 1), ("FINANCE_REVIEWER", "waiting", 0, 1)]
    assert emails(plan.next_stage.eligible) == ["pm1@example.test", "pm2@example.test"]
    assert plan.stages[1].eligible == ()  # only the next stage lists who may fill it
    invoice.approve(people["pm1"], PM)
    plan = invoice.plan()
    assert summary(plan) == [("PROJECT_MANAGER", "done", 1, 1), ("FINANCE_REVIEWER", "next", 0, 1)]
    assert plan.stages[0].signers == (people["pm1"],)
    assert emails(plan.next_stage.eligible) == ["fin1@example.test", "fin2@example.test"]
    assert [s.role.value for s in plan.remaining] == ["FINANCE_REVIEWER"]
    invoice.approve(people["fin2"], FIN)
    plan = invoice.plan()
    assert plan.complete
    assert plan.next_stage is None
    assert plan.remaining == ()
    assert summary(plan) == [("PROJECT_MANAGER", "done", 1, 1), ("FINANCE_REVIEWER", "done", 1, 1)]


def test_band_2_adds_the_treasurer(item, people):
    invoice = item("10000.01")
    invoice.approve(people["pm2"], PM)
    invoice.approve(people["fin1"], FIN)
    plan = invoice.plan()
    assert not plan.complete
    assert plan.next_stage.role == TREAS
    assert emails(plan.next_stage.eligible) == ["tre1@example.test", "tre2@example.test"]
    invoice.approve(people["tre1"], TREAS)
    assert invoice.plan().complete


def test_band_3_adds_two_of_three_distinct_dao_signers(item, people):
    invoice = item("50000.01")
    for user, role in ((people["pm1"], PM), (people["fin1"], FIN), (people["tre1"], TREAS)):
        invoice.approve(user, role)
    plan = invoice.plan()
    multisig = plan.next_stage
    assert (multisig.role, multisig.signed, multisig.signers_required, multisig.stage.signers_of) == (DAO, 0, 2, 3)
    assert multisig.stage.is_multisig
    assert emails(multisig.eligible) == ["dao1@example.test", "dao2@example.test", "dao3@example.test"]

    invoice.approve(people["dao2"], DAO)
    plan = invoice.plan()
    assert not plan.complete
    multisig = plan.next_stage
    assert (multisig.role, multisig.status, multisig.signed, multisig.missing) == (DAO, StageStatus.NEXT, 1, 1)
    assert emails(multisig.eligible) == ["dao1@example.test", "dao3@example.test"]

    invoice.approve(people["dao3"], DAO)
    plan = invoice.plan()
    assert plan.complete
    assert plan.stages[-1].signers == (people["dao2"], people["dao3"])
    with pytest.raises(ApprovalAlreadyComplete):
        invoice.check(people["dao1"], DAO)


def test_plan_follows_a_custom_matrix_with_a_two_person_pm_stage(project, people, grant):
    procurement = grant("proc@example.test", ProjectRole.PROCUREMENT)
    dao = grant("matrix-dao@example.test", DAO)
    approval_matrix_update(
        actor=dao,
        project=project,
        version=1,
        bands=[
            band("0.00", "500.00", stage(ProjectRole.PROCUREMENT)),
            band("500.00", None, stage(PM, 2, 3), stage(FIN)),
        ],
    )
    small = Item(project, "500.00", people["submitter"])
    plan = small.plan()
    assert (plan.matrix_version, plan.band_position) == (2, 1)
    assert emails(plan.next_stage.eligible) == [procurement.email]
    small.approve(procurement, ProjectRole.PROCUREMENT)
    assert small.plan().complete

    large = Item(project, "500.01", people["submitter"])
    large.approve(people["pm1"], PM)
    with pytest.raises(ApprovalNotInTurn):
        large.check(people["fin1"], FIN)
    large.approve(people["pm2"], PM)
    large.approve(people["fin1"], FIN)
    assert large.plan().complete


# --------------------------------------------------------------------------
# Segregation of duties and the other refusals, one rule each
# --------------------------------------------------------------------------


def test_the_submitter_is_never_eligible_and_cannot_approve(item, people):
    invoice = item("5000.00")
    assert people["submitter"] not in invoice.plan().next_stage.eligible
    with pytest.raises(ApprovalSubmitterCannotApprove) as excinfo:
        invoice.check(people["submitter"], PM)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_submitter_cannot_approve", 403)


def test_one_person_fills_at_most_one_stage_of_an_item(item, people, grant):
    both = grant("both@example.test", PM, FIN)
    invoice = item("5000.00")
    assert both in invoice.plan().next_stage.eligible
    invoice.approve(both, PM)
    plan = invoice.plan()
    assert emails(plan.next_stage.eligible) == ["fin1@example.test", "fin2@example.test"]
    with pytest.raises(ApprovalOneStagePerPerson) as excinfo:
        invoice.check(both, FIN)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_one_stage_per_person", 403)
    # ...but the same person may fill a stage of another item.
    other = item("5000.00")
    other.approve(people["pm1"], PM)
    other.approve(both, FIN)
    assert other.plan().complete


def test_multisig_signers_are_distinct(item, people):
    invoice = item("60000.00")
    for user, role in ((people["pm1"], PM), (people["fin1"], FIN), (people["tre1"], TREAS)):
        invoice.approve(user, role)
    invoice.approve(people["dao1"], DAO)
    with pytest.raises(ApprovalDuplicateSigner) as excinfo:
        invoice.check(people["dao1"], DAO)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_duplicate_signer", 409)
    # A duplicate record (e.g. a replayed signature) counts once.
    invoice.approvals.append(ApprovalRecord(user=people["dao1"], role=DAO, decided_at=decided_at()))
    plan = invoice.plan()
    assert not plan.complete
    assert (plan.next_stage.signed, plan.next_stage.signers) == (1, (people["dao1"],))


@pytest.mark.parametrize(("limit", "eligible"), [("4999.99", False), ("5000.00", True)])
def test_the_approval_limit_must_cover_the_amount(item, grant, limit, eligible):
    capped = grant("capped@example.test", PM, limit=limit)
    invoice = item("5000.00")
    assert (capped in invoice.plan().next_stage.eligible) is eligible
    if eligible:
        invoice.check(capped, PM)
        return
    with pytest.raises(ApprovalLimitExceeded) as excinfo:
        invoice.check(capped, PM)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_limit_exceeded", 403)


def test_a_role_without_a_limit_approves_nothing(item, grant):
    unlimited = grant("no-limit@example.test", PM, limit=None)
    invoice = item("0.01")
    assert unlimited not in invoice.plan().next_stage.eligible
    with pytest.raises(ApprovalLimitExceeded):
        invoice.check(unlimited, PM)


def test_a_limit_in_another_currency_never_matches(project, item, grant):
    euro = grant("euro@example.test", PM, limit=None)
    # rbac keeps limits in the project currency; a row written around it (legacy data) must still not count.
    ProjectRoleAssignment.objects.filter(user=euro, project=project).update(currency="EUR", approval_limit=10**12)
    invoice = item("100.00")
    assert euro not in invoice.plan().next_stage.eligible
    with pytest.raises(ApprovalLimitExceeded):
        invoice.check(euro, PM)


def test_a_lowered_limit_applies_to_the_next_check(project, item, people, admin):
    invoice = item("9000.00")
    role_set_limit(actor=admin, project=project, user=people["pm1"], role=PM, approval_limit=usd("8999.99"))
    assert emails(invoice.plan().next_stage.eligible) == ["pm2@example.test"]
    with pytest.raises(ApprovalLimitExceeded):
        invoice.check(people["pm1"], PM)


def test_the_stage_role_is_required(item, people):
    invoice = item("5000.00")
    with pytest.raises(ApprovalRoleMissing) as excinfo:
        invoice.check(people["fin1"], PM)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_role_missing", 403)


def test_revoked_roles_and_deactivated_users_cannot_approve(project, item, people, admin):
    role_revoke(actor=admin, project=project, user=people["pm1"], role=PM)
    people["pm2"].is_active = False
    people["pm2"].save(update_fields=["is_active"])
    invoice = item("5000.00")
    assert invoice.plan().next_stage.eligible == ()
    for user in (people["pm1"], people["pm2"]):
        with pytest.raises(ApprovalRoleMissing):
            invoice.check(user, PM)


def test_roles_on_another_project_do_not_count(project, item, grant):
    elsewhere = ProjectFactory(organization=project.organization)
    outsider = grant("outsider@example.test", PM, on=elsewhere)
    invoice = item("5000.00")
    assert outsider not in invoice.plan().next_stage.eligible
    with pytest.raises(ApprovalRoleMissing):
        invoice.check(outsider, PM)


def test_stages_are_approved_in_order(item, people):
    invoice = item("20000.00")
    with pytest.raises(ApprovalNotInTurn) as excinfo:
        invoice.check(people["fin1"], FIN)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_not_in_turn", 409)
    invoice.approve(people["pm1"], PM)
    with pytest.raises(ApprovalNotInTurn):
        invoice.check(people["tre1"], TREAS)
    with pytest.raises(ApprovalNotInTurn):  # a done stage is not next either
        invoice.check(people["pm2"], PM)


def test_a_stage_the_band_does_not_have_is_refused(item, people):
    invoice = item("10000.00")
    with pytest.raises(ApprovalStageNotRequired) as excinfo:
        invoice.check(people["tre1"], TREAS)
    assert (excinfo.value.code, excinfo.value.status) == ("approval_stage_not_required", 409)
    with pytest.raises(ApprovalStageNotRequired):
        invoice.check(people["pm1"], "CEO")


def test_approvals_for_stages_the_band_lacks_are_ignored_but_still_bar_their_approver(item, grant):
    both = grant("tre-pm@example.test", TREAS, PM)
    invoice = item("10000.00")
    # e.g. given while the amount (or the matrix) put the item in band 2
    invoice.approvals.append(ApprovalRecord(user=both, role=TREAS, decided_at=decided_at()))
    plan = invoice.plan()
    assert summary(plan) == [("PROJECT_MANAGER", "next", 0, 1), ("FINANCE_REVIEWER", "waiting", 0, 1)]
    assert emails(plan.next_stage.eligible) == ["pm1@example.test", "pm2@example.test"]
    with pytest.raises(ApprovalOneStagePerPerson):
        invoice.check(both, PM)


def test_approvals_are_counted_in_decision_order_whatever_order_they_are_given(item, people):
    invoice = item("60000.00")
    records = [
        ApprovalRecord(user=user, role=role, decided_at=decided_at())
        for user, role in (
            (people["pm1"], PM),
            (people["fin1"], FIN),
            (people["tre1"], TREAS),
            (people["dao3"], DAO),
            (people["dao1"], DAO),
        )
    ]
    invoice.approvals = list(reversed(records))
    plan = invoice.plan()
    assert plan.complete
    assert plan.stages[-1].signers == (people["dao3"], people["dao1"])


def test_an_item_without_a_submitter_excludes_nobody(project, people):
    plan = Item(project, "100.00", None).plan()
    assert emails(plan.next_stage.eligible) == ["a-submitter@example.test", "pm1@example.test", "pm2@example.test"]


def test_the_amount_must_be_positive_and_in_the_matrix_currency(project, people):
    for amount, error, code in (
        (usd("0.00"), ApprovalAmountInvalid, "approval_amount_invalid"),
        (usd("-5.00"), ApprovalAmountInvalid, "approval_amount_invalid"),
        (Money.parse("5.00", "EUR"), ApprovalCurrencyMismatch, "approval_currency_mismatch"),
    ):
        with pytest.raises(error) as excinfo:
            approval_plan(project=project, amount=amount, submitter=None, approvals=[])
        assert (excinfo.value.code, excinfo.value.status) == (code, 422)
        with pytest.raises(error):
            approval_check(
                project=project, amount=amount, submitter=None, approvals=[], approver=people["pm1"], role=PM
            )


def test_plan_and_check_only_read(project, item, people, django_assert_max_num_queries):
    invoice = item("60000.00")
    with django_assert_max_num_queries(20):
        invoice.plan()
    invoice.check(people["pm1"], PM)
    assert ApprovalMatrix.objects.count() == 0  # the defaults applied without being stored


def test_an_amount_beyond_any_limit_is_routed_to_the_top_band_with_nobody_eligible(project, people):
    invoice = Item(project, "1.00", people["submitter"])
    invoice.amount = Money(10**20, "USD")  # beyond BIGINT: compared, never stored
    plan = invoice.plan()
    assert (plan.band_position, plan.next_stage.role, plan.next_stage.eligible) == (3, PM, ())
    with pytest.raises(ApprovalLimitExceeded):
        invoice.check(people["pm1"], PM)
