"""Contracts and change orders: worked examples with exact cents, refusals that change nothing, races."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account.messages import encode_typed_data

from payor.approvals.decisions import decision_typed_data
from payor.audit.models import AuditEvent
from payor.contracts.errors import (
    ChangeOrderInvalid,
    ChangeOrderReleaseExceeded,
    ChangeOrderStateInvalid,
    ContractAllocationMismatch,
    ContractInvalid,
    ContractStateInvalid,
    ContractVendorInvalid,
)
from payor.contracts.models import ChangeOrderStatus, Contract, ContractStatus
from payor.contracts.services import (
    Terms,
    change_order_create,
    change_order_decide,
    change_order_item,
    contract_close,
    contract_create,
    contract_execute,
)
from payor.contracts.tests.conftest import CHAIN, DAO, FIN, PM, TREAS, usd
from payor.core.errors import PermissionDenied
from payor.events.models import OutboxEvent
from payor.ledger import selectors as ledger_selectors
from payor.ledger.errors import InsufficientFunds
from payor.ledger.models import Transfer
from payor.projects.errors import BudgetCapExceeded, BudgetLineNotLeaf
from payor.testing.concurrency import race
from payor.testing.factories import VendorFactory

pytestmark = pytest.mark.django_db


def figures(world):
    return ledger_selectors.project_summary(project_id=world.project.pk)["USD"]


def draft(world, vendor, *allocations, nte: str, **fields) -> Contract:
    return contract_create(
        actor=world.people["pm"],
        project=world.project,
        vendor=vendor,
        title="Riparian planting, phase 1",
        not_to_exceed=usd(nte),
        allocations=list(allocations),
        **fields,
    )


def state(world) -> tuple[object, ...]:
    f = figures(world)
    return (
        f.available,
        f.committed,
        Transfer.objects.count(),
        list(Contract.objects.values_list("status", "not_to_exceed").order_by("id")),
        OutboxEvent.objects.count(),
    )


def sign(world, name, change_order, decision="approved"):
    typed = decision_typed_data(
        item=change_order_item(change_order), role=DAO, decision=decision, chain_id=CHAIN, matrix_version=1
    )
    return "0x" + world.keys[name].sign_message(encode_typed_data(full_message=typed)).signature.hex()


def test_worked_example_execute_change_order_across_the_dao_threshold_and_close(world, vendor):
    contract = draft(
        world,
        vendor,
        world.alloc("1.1", "30000.00"),
        world.alloc("1.2", "15000.00"),
        nte="45000.00",
        retention_percent="10",
        terms=Terms(kind="early_pay", net_days=30, discount_percent=Decimal("2"), discount_days=10),
    )
    assert (contract.number, contract.status, contract.terms_label) == ("PO-0001", ContractStatus.DRAFT, "2/10 net 30")
    assert figures(world).committed == usd("0.00")  # a draft commits nothing

    contract_execute(actor=world.people["pm"], contract=contract)
    contract_execute(actor=world.people["pm"], contract=contract)  # repeated: a no-op
    f = figures(world)
    assert (f.available, f.committed) == (usd("105000.00"), usd("45000.00"))
    by_contract = ledger_selectors.contract_figures(contract_id=contract.pk)["USD"]
    assert by_contract.committed == usd("45000.00")

    # +10,000.00 on planting takes the contract from 45,000.00 (band 2) to 55,000.00 (band 3): the DAO decides.
    change = change_order_create(
        actor=world.people["pm"],
        contract=contract,
        reason="Extra 2 ha of willow",
        lines=[world.alloc("1.1", "10000.00")],
    )
    assert (change.number, change.delta, change.approval_amount) == (1, usd("10000.00"), usd("55000.00"))
    people = world.people
    for name, role in (("pm2", PM), ("fin", FIN), ("tre", TREAS)):
        change = change_order_decide(actor=people[name], change_order=change, role=role, decision="approved")
        assert change.status == ChangeOrderStatus.PENDING
    change = change_order_decide(
        actor=people["dao1"],
        change_order=change,
        role=DAO,
        decision="approved",
        chain_id=CHAIN,
        signature=sign(world, "dao1", change),
    )
    assert change.status == ChangeOrderStatus.PENDING  # 1 of 2 signatures
    assert figures(world).committed == usd("45000.00")
    change = change_order_decide(
        actor=people["dao2"],
        change_order=change,
        role=DAO,
        decision="approved",
        chain_id=CHAIN,
        signature=sign(world, "dao2", change),
    )
    assert change.status == ChangeOrderStatus.APPROVED
    contract.refresh_from_db()
    assert contract.not_to_exceed == usd("55000.00")
    assert contract.original_not_to_exceed == usd("45000.00")
    assert {a.budget_line.wbs_code: a.amount for a in contract.allocations.select_related("budget_line")} == {
        "1.1": usd("40000.00"),
        "1.2": usd("15000.00"),
    }
    f = figures(world)
    assert (f.available, f.committed) == (usd("95000.00"), usd("55000.00"))
    assert list(OutboxEvent.objects.order_by("position", "id").values_list("topic", flat=True)) == [
        "contract.executed",
        "change_order.approved",
    ]

    contract_close(actor=people["pm"], contract=contract)
    contract_close(actor=people["pm"], contract=contract)  # repeated: a no-op
    f = figures(world)
    assert (f.available, f.committed, f.funded) == (usd("150000.00"), usd("0.00"), usd("150000.00"))
    actions = list(
        AuditEvent.objects.filter(subject_id__in=[str(contract.pk), str(change.pk)])
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "contract.created",
        "contract.executed",
        "change_order.created",
        "change_order.approved",
        "contract.closed",
    ]


def test_a_small_change_order_needs_band_one_only(world, vendor):
    contract = draft(world, vendor, world.alloc("1.2", "5000.00"), nte="5000.00")
    contract_execute(actor=world.people["pm"], contract=contract)
    change = change_order_create(
        actor=world.people["pm"],
        contract=contract,
        reason="Two more site visits",
        lines=[world.alloc("1.2", "2000.00")],
    )
    assert change.approval_amount == usd("2000.00")
    change_order_decide(actor=world.people["pm2"], change_order=change, role=PM, decision="approved")
    change = change_order_decide(actor=world.people["fin"], change_order=change, role=FIN, decision="approved")
    assert change.status == ChangeOrderStatus.APPROVED
    assert figures(world).committed == usd("7000.00")


def test_rejected_change_order_posts_nothing_and_is_final(world, vendor):
    contract = draft(world, vendor, world.alloc("1.2", "5000.00"), nte="5000.00")
    contract_execute(actor=world.people["pm"], contract=contract)
    change = change_order_create(
        actor=world.people["pm"], contract=contract, reason="More", lines=[world.alloc("1.2", "1000.00")]
    )
    before = state(world)
    change = change_order_decide(
        actor=world.people["pm2"], change_order=change, role=PM, decision="rejected", note="Not in scope"
    )
    assert (change.status, change.rejection_reason) == (ChangeOrderStatus.REJECTED, "Not in scope")
    assert state(world)[:4] == before[:4]
    with pytest.raises(ChangeOrderStateInvalid):
        change_order_decide(actor=world.people["fin"], change_order=change, role=FIN, decision="approved")


def test_a_decrease_releases_to_available_but_never_more_than_allocated(world, vendor):
    contract = draft(world, vendor, world.alloc("1.1", "8000.00"), nte="8000.00")
    contract_execute(actor=world.people["pm"], contract=contract)
    with pytest.raises(ChangeOrderReleaseExceeded):
        change_order_create(
            actor=world.people["pm"], contract=contract, reason="Less", lines=[world.alloc("1.1", "-8000.01")]
        )
    change = change_order_create(
        actor=world.people["pm"], contract=contract, reason="Less", lines=[world.alloc("1.1", "-3000.00")]
    )
    assert (change.delta, change.approval_amount) == (usd("-3000.00"), usd("3000.00"))
    change_order_decide(actor=world.people["pm2"], change_order=change, role=PM, decision="approved")
    change_order_decide(actor=world.people["fin"], change_order=change, role=FIN, decision="approved")
    contract.refresh_from_db()
    assert contract.not_to_exceed == usd("5000.00")
    assert (figures(world).available, figures(world).committed) == (usd("145000.00"), usd("5000.00"))


def test_insufficient_funds_and_budget_caps_refuse_execution_and_change_nothing(world, vendor):
    too_much = draft(world, vendor, world.alloc("1.1", "100000.00"), world.alloc("1.2", "60000.00"), nte="160000.00")
    over_cap = draft(world, vendor, world.alloc("1.1", "120000.01"), nte="120000.01")
    before = state(world)
    with pytest.raises(InsufficientFunds):
        contract_execute(actor=world.people["pm"], contract=too_much)
    with pytest.raises(BudgetCapExceeded):
        contract_execute(actor=world.people["pm"], contract=over_cap)
    assert state(world) == before
    exactly = draft(world, vendor, world.alloc("1.1", "120000.00"), nte="120000.00")
    contract_execute(actor=world.people["pm"], contract=exactly)  # exactly at the cap is allowed
    assert figures(world).available == usd("30000.00")


@pytest.mark.parametrize(
    ("allocations", "nte", "error"),
    [
        ((("1.1", "100.00"),), "100.01", ContractAllocationMismatch),
        ((("1.1", "100.00"), ("1.1", "1.00")), "101.00", ContractInvalid),
        ((("1.1", "-100.00"),), "100.00", ContractInvalid),
        ((), "0.00", ContractInvalid),
    ],
)
def test_malformed_contracts_are_refused_and_write_nothing(world, vendor, allocations, nte, error):
    before = (Contract.objects.count(), AuditEvent.objects.count())
    with pytest.raises(error):
        draft(world, vendor, *[world.alloc(code, amount) for code, amount in allocations], nte=nte)
    assert (Contract.objects.count(), AuditEvent.objects.count()) == before


def test_other_organizations_vendors_and_non_managers_are_refused(world, vendor):
    with pytest.raises(ContractVendorInvalid):
        draft(world, VendorFactory(), world.alloc("1.1", "10.00"), nte="10.00")
    with pytest.raises(PermissionDenied):
        contract_create(
            actor=world.people["fin"],
            project=world.project,
            vendor=vendor,
            title="Nope",
            not_to_exceed=usd("10.00"),
            allocations=[world.alloc("1.1", "10.00")],
        )
    contract = draft(world, vendor, world.alloc("1.1", "10.00"), nte="10.00")
    with pytest.raises(ContractStateInvalid):
        change_order_create(actor=world.people["pm"], contract=contract, reason="x", lines=[world.alloc("1.1", "1.00")])
    assert Contract.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_contracts_for_the_last_funds_exactly_one_executes(world, vendor):
    # 150,000.00 funded: each contract wants 90,000.00 (within the caps: 1.1 and 1.2 separately).
    first = draft(world, vendor, world.alloc("1.1", "90000.00"), nte="90000.00")
    second = draft(world, vendor, world.alloc("1.2", "60000.00"), world.alloc("1.1", "30000.00"), nte="90000.00")
    pm = world.people["pm"]
    results = race(
        [lambda: contract_execute(actor=pm, contract=first), lambda: contract_execute(actor=pm, contract=second)]
    )
    assert sum(isinstance(r, Contract) for r in results) == 1, results
    assert sum(isinstance(r, InsufficientFunds) for r in results) == 1, results
    f = figures(world)
    assert (f.available, f.committed) == (usd("60000.00"), usd("90000.00"))
    assert sorted(Contract.objects.values_list("status", flat=True)) == ["draft", "executed"]


def test_text_with_control_characters_is_refused_by_the_services_not_a_500(world, vendor):
    before = state(world)
    with pytest.raises(ContractInvalid) as refused:
        draft(world, vendor, world.alloc("1.1", "100.00"), nte="100.00", scope="Planting\x00")
    assert refused.value.extra["field"] == "scope"
    contract = contract_execute(
        actor=world.people["pm"], contract=draft(world, vendor, world.alloc("1.1", "100.00"), nte="100.00")
    )
    before = state(world)
    with pytest.raises(ChangeOrderInvalid):
        change_order_create(
            actor=world.people["pm"], contract=contract, reason="More\x00", lines=[world.alloc("1.1", "1.00")]
        )
    with pytest.raises(ChangeOrderInvalid):  # a zero delta is the change order's error, not the contract's
        change_order_create(actor=world.people["pm"], contract=contract, reason="More", lines=[world.alloc("1.1", "0")])
    assert state(world) == before


def test_automatic_numbers_skip_a_number_taken_by_hand(world, vendor):
    first = draft(world, vendor, world.alloc("1.1", "100.00"), nte="100.00")
    draft(world, vendor, world.alloc("1.1", "100.00"), nte="100.00", number="PO-0003")
    assert first.number == "PO-0001"
    assert draft(world, vendor, world.alloc("1.1", "100.00"), nte="100.00").number == "PO-0004"


def test_a_draft_on_a_parent_line_is_refused_when_drafted(world, vendor):
    with pytest.raises(BudgetLineNotLeaf):
        draft(world, vendor, world.alloc("1", "100.00"), nte="100.00")
    assert not Contract.objects.exists()
