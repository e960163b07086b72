"""Races over real parallel database connections (one connection per thread): approvers of one stage, a double
submit, invoices racing for the last of a contract's commitment and fees racing for the last available funds."""

from __future__ import annotations

import pytest

from payor.approvals.models import ApprovalDecision
from payor.audit.models import AuditEvent
from payor.audit.verify import audit_verify
from payor.core.errors import DomainError
from payor.events.models import OutboxEvent
from payor.invoices.math import SovLineIn
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_create, invoice_decide, invoice_submit, invoice_withdraw
from payor.invoices.tests.conftest import FIN, PM, contract_figures, contract_for, figures, grant, transfers, usd
from payor.ledger.models import Transfer
from payor.testing.concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media")]


def fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def codes(results: list[object]) -> list[str]:
    return sorted(r.code for r in results if isinstance(r, DomainError))


def unexpected(results: list[object]) -> list[object]:
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]


def small(billing, amount: str = "1000.00", code: str = "1", **fields):
    return billing.data(
        SovLineIn(code, f"Item {code}", usd(amount), this_period=usd(amount)), coding={"1.1": amount}, **fields
    )


def test_racing_approvers_of_a_stage_record_one_approval(billing):
    people = billing.people
    fin2 = grant(billing.world, "fin2@example.test", FIN)
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=small(billing))
    ledger_before = (figures(billing), Transfer.objects.count())

    # The PM stage: pm and pm2 at once.
    results = race(
        [
            lambda who=who: invoice_decide(actor=who, invoice=fresh(invoice), role=PM, decision="approved")
            for who in (people["pm"], people["pm2"])
        ]
    )
    assert not unexpected(results), results
    won = [r for r in results if isinstance(r, Invoice)]
    assert len(won) == 1, results
    # The loser waited on the invoice lock and found the stage filled (or lost the decision's unique index).
    assert codes(results) in (["approval_not_in_turn"], ["approval_conflict"]), results
    assert won[0].status == InvoiceStatus.UNDER_REVIEW
    assert ApprovalDecision.objects.filter(target_id=invoice.pk).count() == 1
    assert AuditEvent.objects.filter(action="approval.approved").count() == 1
    assert (figures(billing), Transfer.objects.count()) == ledger_before

    # The last stage: fin and fin2 at once; one approval, one RETAIN, one event.
    results = race(
        [
            lambda who=who: invoice_decide(actor=who, invoice=fresh(invoice), role=FIN, decision="approved")
            for who in (people["fin"], fin2)
        ]
    )
    assert not unexpected(results), results
    assert len([r for r in results if isinstance(r, Invoice)]) == 1, results
    assert codes(results) in (["invoice_state_invalid"], ["approval_conflict"]), results
    assert fresh(invoice).status == InvoiceStatus.APPROVED
    assert ApprovalDecision.objects.filter(target_id=invoice.pk).count() == 2
    assert [code for code, _ in transfers(invoice)] == ["ENCUMBER", "RETAIN"]
    assert contract_figures(billing).retention == usd("100.00")
    assert OutboxEvent.objects.filter(topic="invoice.approved").count() == 1


def test_racing_decisions_end_one_way(billing):
    people = billing.people
    fin2 = grant(billing.world, "fin2@example.test", FIN)

    # An approval and a rejection of the last stage at once: approved or rejected, never both.
    first = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=small(billing, code="1"))
    invoice_decide(actor=people["pm"], invoice=first, role=PM, decision="approved")
    results = race(
        [
            lambda: invoice_decide(actor=people["fin"], invoice=fresh(first), role=FIN, decision="approved"),
            lambda: invoice_decide(actor=fin2, invoice=fresh(first), role=FIN, decision="rejected", note="No"),
        ]
    )
    assert not unexpected(results), results
    assert len([r for r in results if isinstance(r, Invoice)]) == 1, results
    assert codes(results) == ["invoice_state_invalid"]
    status = fresh(first).status
    moves = sorted(code for code, _ in transfers(first))
    if status == InvoiceStatus.APPROVED:
        assert moves == ["ENCUMBER", "RETAIN"]
    else:
        assert status == InvoiceStatus.REJECTED
        assert moves == ["ENCUMBER", "RELEASE"]

    # The vendor withdraws while the PM approves: the withdrawal always goes through (before the approval, which
    # then finds a draft; or after it), leaving a clean draft of round 2.
    second = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=small(billing, code="2"))
    results = race(
        [
            lambda: invoice_withdraw(actor=billing.vendor_user, invoice=fresh(second), note="Wrong period"),
            lambda: invoice_decide(actor=people["pm"], invoice=fresh(second), role=PM, decision="approved"),
        ]
    )
    assert not unexpected(results), results
    assert isinstance(results[0], Invoice), results
    assert codes(results) in ([], ["invoice_state_invalid"])
    second = fresh(second)
    assert (second.status, second.round) == (InvoiceStatus.DRAFT, 2)
    assert sorted(code for code, _ in transfers(second)) == ["ENCUMBER", "RELEASE"]

    f = contract_figures(billing)
    if status == InvoiceStatus.APPROVED:
        assert (f.encumbered, f.retention, f.committed) == (usd("900.00"), usd("100.00"), usd("44000.00"))
    else:
        assert (f.encumbered, f.retention, f.committed) == (usd("0.00"), usd("0.00"), usd("45000.00"))


def test_a_double_submit_encumbers_once(billing):
    draft = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Planting", usd("10000.00"), this_period=usd("3000.00")),
            coding={"1.1": "2000.00", "1.2": "1000.00"},
            fees="15.00",
        ),
        submit=False,
    )
    results = race([lambda: invoice_submit(actor=billing.vendor_user, invoice=fresh(draft))] * 2)
    assert all(isinstance(r, Invoice) for r in results), results
    assert {r.status for r in results} == {InvoiceStatus.SUBMITTED}
    assert sorted(Transfer.objects.filter(invoice_id=draft.pk, code="ENCUMBER").values_list("id", flat=True)) == sorted(
        [
            f"invoice:{draft.pk}:r1:encumber:{billing.line_id('1.1')}",
            f"invoice:{draft.pk}:r1:encumber:{billing.line_id('1.2')}",
            f"invoice:{draft.pk}:r1:fee-encumber:fees",
        ]
    )
    assert contract_figures(billing).encumbered == usd("3015.00")
    assert AuditEvent.objects.filter(action="invoice.submitted").count() == 1
    assert OutboxEvent.objects.filter(topic="invoice.submitted").count() == 1


def test_twenty_invoices_race_for_the_last_of_the_commitment(billing):
    # 23,000.00 of the 30,000.00 committed on 1.1 billed (INV-0001): room for exactly 7 more of 1,000.00.
    invoice_create(actor=billing.vendor_user, contract=billing.contract, data=small(billing, "23000.00", code="A"))
    # The drafts are entered at once too: numbered one by one under the project lock.
    drafts = race(
        [
            lambda i=i: invoice_create(
                actor=billing.vendor_user, contract=billing.contract, data=small(billing, code=f"R{i}"), submit=False
            )
            for i in range(20)
        ]
    )
    assert all(isinstance(d, Invoice) for d in drafts), drafts
    assert sorted(d.number for d in drafts) == [f"INV-{n:04d}" for n in range(2, 22)]
    results = race(
        [lambda draft=draft: invoice_submit(actor=billing.vendor_user, invoice=fresh(draft)) for draft in drafts]
    )
    assert not unexpected(results), results
    won = [r for r in results if isinstance(r, Invoice)]
    assert len(won) == 7, results
    assert codes(results) == ["invoice_commitment_exceeded"] * 13
    f = contract_figures(billing)
    assert (f.encumbered, f.committed) == (usd("30000.00"), usd("15000.00"))
    by_status = Invoice.objects.filter(pk__in=[d.pk for d in drafts]).values_list("status", flat=True)
    assert sorted(by_status) == ["draft"] * 13 + ["submitted"] * 7
    assert Transfer.objects.filter(code="ENCUMBER", invoice_id__in=[d.pk for d in drafts]).count() == 7
    assert audit_verify().ok


def test_twenty_invoices_fees_race_for_the_last_available_funds(billing, world):
    # A second contract takes all but 1,000.00 of available; 20 invoices, 10 on each contract (so not even the
    # contract lock lines them up), each bearing 150.00 of fees: exactly 6 fit.
    sink = contract_for(
        world,
        billing.vendor,
        nte="104000.00",
        allocations=[world.alloc("1.1", "80000.00"), world.alloc("1.2", "24000.00")],
    )
    assert figures(billing).available == usd("1000.00")
    drafts = [
        invoice_create(
            actor=billing.vendor_user,
            contract=contract,
            data=small(billing, "100.00", code=f"F{i}", fees="150.00"),
            submit=False,
        )
        for i in range(10)
        for contract in (billing.contract, sink)
    ]
    results = race(
        [lambda draft=draft: invoice_submit(actor=billing.vendor_user, invoice=fresh(draft)) for draft in drafts]
    )
    assert not unexpected(results), results
    assert len([r for r in results if isinstance(r, Invoice)]) == 6, results
    assert codes(results) == ["insufficient_funds"] * 14
    f = figures(billing)
    assert f.available == usd("100.00")
    assert f.encumbered == usd("1500.00")  # 6 x (100.00 + 150.00)
    assert Transfer.objects.filter(code="ENCUMBER", invoice_id__in=[d.pk for d in drafts]).count() == 12
    assert OutboxEvent.objects.filter(topic="invoice.submitted").count() == 6
    # Every event of a committed transaction got its delivery position.
    assert not OutboxEvent.objects.filter(position__isnull=True).exists()
