"""Recording decisions: each default band end to end, wallet-signed multisig stages, stops, rounds, immutability."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_typed_data

from payor.accounts.models import User, Wallet
from payor.approvals.decisions import (
    ApprovalItem,
    approval_decide,
    approval_item_plan,
    approval_timeline,
    decision_typed_data,
)
from payor.approvals.errors import (
    ApprovalConflict,
    ApprovalDuplicateSigner,
    ApprovalLimitExceeded,
    ApprovalNotAllowed,
    ApprovalNoteRequired,
    ApprovalNotInTurn,
    ApprovalSignatureInvalid,
    ApprovalSignatureRequired,
    ApprovalSignerNotLinked,
    ApprovalSubmitterCannotApprove,
)
from payor.approvals.models import ApprovalDecision, ApprovalTarget, Decision
from payor.approvals.tests.conftest import DAO, FIN, PM, TREAS, usd
from payor.audit.models import AuditEvent
from payor.core.money import Money
from payor.testing.concurrency import race

pytestmark = pytest.mark.django_db

CHAIN = 1


@pytest.fixture
def people(grant):
    return {
        "submitter": grant("submitter@example.test", PM),
        "pm": grant("pm@example.test", PM),
        "fin": grant("fin@example.test", FIN),
        "tre": grant("tre@example.test", TREAS),
        "low": grant("low-fin@example.test", FIN, limit="100.00"),
        **{f"dao{i}": grant(f"dao{i}@example.test", DAO) for i in (1, 2, 3)},
    }


@pytest.fixture
def keys(people):
    """A real key per DAO signer, its address linked to the signer's account."""
    accounts = {}
    for name in ("dao1", "dao2", "dao3"):
        account = Account.create()
        Wallet.objects.create(user=people[name], address=account.address, chain_id=CHAIN, linked_at=timezone.now())
        accounts[name] = account
    return accounts


def item(project, people, amount: str, *, round: int = 1, number: int = 1) -> ApprovalItem:
    return ApprovalItem(
        project=project,
        target_type=ApprovalTarget.INVOICE,
        target_id=uuid.UUID(int=number),
        amount=usd(amount),
        submitter=people["submitter"],
        round=round,
    )


def sign(account, the_item: ApprovalItem, role: str = DAO, decision: str = "approved", version: int = 1) -> str:
    typed = decision_typed_data(item=the_item, role=role, decision=decision, chain_id=CHAIN, matrix_version=version)
    return "0x" + account.sign_message(encode_typed_data(full_message=typed)).signature.hex()


def state() -> tuple[int, int]:
    return ApprovalDecision.objects.count(), AuditEvent.objects.count()


def test_band_one_pm_then_finance(project, people):
    the_item = item(project, people, "10000.00")
    row, plan = approval_decide(actor=people["pm"], item=the_item, role=PM, decision="approved", note="Work verified")
    assert not plan.complete
    assert plan.next_stage.role == FIN
    row2, plan = approval_decide(actor=people["fin"], item=the_item, role=FIN, decision="approved")
    assert plan.complete
    assert (plan.band_position, plan.matrix_version) == (1, 1)
    assert [(d.role, d.decision, d.approver, d.amount) for d in approval_timeline(**_target(the_item))] == [
        (PM, "approved", people["pm"], usd("10000.00")),
        (FIN, "approved", people["fin"], usd("10000.00")),
    ]
    assert row.note == "Work verified"
    events = list(AuditEvent.objects.filter(action="approval.approved").order_by("seq"))
    assert [e.subject_id for e in events] == [str(row.pk), str(row2.pk)]
    assert events[0].after["amount"] == {"amount": "10000.00", "currency": "USD"}
    assert events[0].project_id == project.pk


def _target(the_item: ApprovalItem) -> dict[str, object]:
    return {"target_type": the_item.target_type, "target_id": the_item.target_id}


def test_band_three_needs_two_distinct_wallet_signatures(project, people, keys):
    the_item = item(project, people, "50000.01")
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        approval_decide(actor=people[name], item=the_item, role=role, decision="approved")
    _, plan = approval_decide(
        actor=people["dao1"],
        item=the_item,
        role=DAO,
        decision="approved",
        chain_id=CHAIN,
        signature=sign(keys["dao1"], the_item),
    )
    assert not plan.complete
    assert plan.next_stage.signed == 1
    with pytest.raises(ApprovalDuplicateSigner):
        approval_decide(
            actor=people["dao1"],
            item=the_item,
            role=DAO,
            decision="approved",
            chain_id=CHAIN,
            signature=sign(keys["dao1"], the_item),
        )
    row, plan = approval_decide(
        actor=people["dao3"],
        item=the_item,
        role=DAO,
        decision="approved",
        chain_id=CHAIN,
        signature=sign(keys["dao3"], the_item),
    )
    assert plan.complete
    assert row.signer_address == keys["dao3"].address
    assert row.chain_id == CHAIN


def test_signed_stages_refuse_missing_foreign_tampered_and_malformed_signatures(project, people, keys):
    the_item = item(project, people, "60000.00")
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        approval_decide(actor=people[name], item=the_item, role=role, decision="approved")
    before = state()
    dao1 = people["dao1"]
    other_amount = item(project, people, "60000.01")
    cases = [
        (None, ApprovalSignatureRequired),
        (sign(keys["dao2"], the_item), ApprovalSignerNotLinked),  # a fellow signer's wallet
        (sign(Account.create(), the_item), ApprovalSignerNotLinked),  # a wallet nobody linked
        (sign(keys["dao1"], other_amount), ApprovalSignerNotLinked),  # signed another amount: recovers elsewhere
        (sign(keys["dao1"], the_item, decision="rejected"), ApprovalSignerNotLinked),  # signed another decision
        ("0x1234", ApprovalSignatureInvalid),
        ("0x" + "ff" * 65, ApprovalSignatureInvalid),
    ]
    for signature, error in cases:
        with pytest.raises(error):
            approval_decide(
                actor=dao1, item=the_item, role=DAO, decision="approved", chain_id=CHAIN, signature=signature
            )
    assert state() == before


def test_approval_limits_and_turns_are_enforced(project, people):
    the_item = item(project, people, "500.00")
    approval_decide(actor=people["pm"], item=the_item, role=PM, decision="approved")
    before = state()
    with pytest.raises(ApprovalLimitExceeded):
        approval_decide(actor=people["low"], item=the_item, role=FIN, decision="approved")
    with pytest.raises(ApprovalSubmitterCannotApprove):
        approval_decide(
            actor=people["submitter"], item=item(project, people, "20.00", number=2), role=PM, decision="approved"
        )
    with pytest.raises(ApprovalNotInTurn):
        approval_decide(
            actor=people["tre"], item=item(project, people, "20000.00", number=3), role=TREAS, decision="approved"
        )
    assert state() == before


def test_rejection_and_return_are_made_at_ones_turn_with_a_note(project, people):
    the_item = item(project, people, "9000.00")
    approval_decide(actor=people["pm"], item=the_item, role=PM, decision="approved")
    before = state()
    with pytest.raises(ApprovalNoteRequired):
        approval_decide(actor=people["fin"], item=the_item, role=FIN, decision="rejected", note="  ")
    with pytest.raises(ApprovalNotAllowed):  # the PM stage is done: Finance decides now
        approval_decide(actor=people["tre"], item=the_item, role=TREAS, decision="rejected", note="no")
    with pytest.raises(ApprovalSubmitterCannotApprove):
        approval_decide(actor=people["submitter"], item=the_item, role=FIN, decision="returned", note="oops")
    assert state() == before
    # A reviewer whose limit is below the amount may still stop it.
    row, plan = approval_decide(
        actor=people["low"], item=the_item, role=FIN, decision="returned", note="Timesheet for week 3 missing"
    )
    assert (row.decision, row.note) == (Decision.RETURNED, "Timesheet for week 3 missing")
    assert not plan.complete
    assert AuditEvent.objects.filter(action="approval.returned", subject_id=str(row.pk)).count() == 1
    with pytest.raises(ApprovalConflict):  # a round ends once
        approval_decide(actor=people["fin"], item=the_item, role=FIN, decision="rejected", note="also no")


def test_a_resubmitted_item_starts_a_new_round(project, people):
    first = item(project, people, "9000.00", round=1)
    approval_decide(actor=people["pm"], item=first, role=PM, decision="approved")
    approval_decide(actor=people["fin"], item=first, role=FIN, decision="returned", note="fix the coding")
    second = item(project, people, "9000.00", round=2)
    plan = approval_item_plan(second)
    assert plan.next_stage.role == PM
    assert plan.next_stage.signed == 0
    # The PM who approved round 1 approves again; their round-1 approval does not count twice.
    _, plan = approval_decide(actor=people["pm"], item=second, role=PM, decision="approved")
    assert plan.next_stage.role == FIN
    assert len(approval_timeline(**_target(second))) == 3


def test_decisions_are_append_only(project, people):
    row, _ = approval_decide(actor=people["pm"], item=item(project, people, "10.00"), role=PM, decision="approved")
    with pytest.raises(DatabaseError), transaction.atomic():
        ApprovalDecision.objects.filter(pk=row.pk).update(note="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        ApprovalDecision.objects.filter(pk=row.pk).delete()
    assert ApprovalDecision.objects.get(pk=row.pk).note == ""


@pytest.mark.django_db(transaction=True)
def test_a_double_click_records_one_approval(project, people):
    the_item = item(project, people, "700.00")
    pm: User = people["pm"]
    results = race([lambda: approval_decide(actor=pm, item=the_item, role=PM, decision="approved")] * 4)
    won = [r for r in results if isinstance(r, tuple)]
    assert len(won) == 1, results
    assert all(isinstance(r, ApprovalConflict | ApprovalDuplicateSigner) for r in results if r not in won)
    assert ApprovalDecision.objects.filter(approver=pm).count() == 1
    assert AuditEvent.objects.filter(action="approval.approved").count() == 1
    assert Money.sum((d.amount for d in ApprovalDecision.objects.all()), "USD") == usd("700.00")
