"""The invoice lifecycle end to end at service level: each band of the default matrix with its roles, rejection,
return for revision (a new round needs every stage again), withdrawal and taking an invoice into review — with
the status, the ledger, the audit trail and the outbox checked after every step."""

from __future__ import annotations

import pytest

from payor.approvals.errors import ApprovalNotAllowed, ApprovalNotInTurn
from payor.approvals.models import ApprovalDecision
from payor.core.errors import PermissionDenied
from payor.events.models import OutboxEvent
from payor.invoices.errors import InvoiceStateInvalid
from payor.invoices.math import SovLineIn
from payor.invoices.models import InvoiceStatus
from payor.invoices.services import (
    invoice_create,
    invoice_review_start,
    invoice_submit,
    invoice_update,
    invoice_withdraw,
)
from payor.invoices.tests.conftest import (
    DAO,
    FIN,
    PM,
    TREAS,
    audit_actions,
    audit_mark,
    big_contract,
    decide,
    figures,
    full_state,
    outbox_mark,
    topics,
    transfers,
    usd,
)
from payor.ledger import selectors as ledger_selectors

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def line_figures(billing, contract=None):
    """Remaining commitment per WBS code of a contract, and its encumbered/retention/withheld figures."""
    contract = contract or billing.contract
    by_line = ledger_selectors.contract_committed_by_line(contract_id=contract.pk)
    codes = {billing.line_id(code): code for code in ("1.1", "1.2")}
    f = ledger_selectors.contract_figures(contract_id=contract.pk)["USD"]
    return {codes[k]: v for k, v in by_line.items()}, f.encumbered, f.retention, f.withheld


def test_band_one_pm_then_finance(billing):
    people = billing.people
    audit, outbox = audit_mark(), outbox_mark()
    invoice = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Site preparation", usd("10000.00"), this_period=usd("4000.00")),
            coding={"1.1": "3000.00", "1.2": "1000.00"},
            taxes="100.00",
            withholds="400.00",
            vendor_reference="WCR-1",
        ),
    )
    assert invoice.status == InvoiceStatus.SUBMITTED
    assert invoice.round == 1
    assert invoice.submitted_by == billing.vendor_user
    assert (invoice.total, invoice.retention, invoice.withholds) == (usd("4100.00"), usd("400.00"), usd("400.00"))
    assert invoice.early_pay_discount == usd("72.00")  # 2 % of 3,600.00
    assert invoice.net_payable == usd("3228.00")
    # ENCUMBER per coded line: 3,000.00 + 75.00 taxes on 1.1, 1,000.00 + 25.00 on 1.2.
    committed, encumbered, retention, withheld = line_figures(billing)
    assert committed == {"1.1": usd("26925.00"), "1.2": usd("13975.00")}
    assert (encumbered, retention, withheld) == (usd("4100.00"), usd("0.00"), usd("0.00"))
    assert [code for code, _ in transfers(invoice)] == ["ENCUMBER", "ENCUMBER"]
    assert audit_actions(audit) == ["invoice.created", "invoice.submitted"]
    assert topics(outbox) == ["invoice.submitted"]

    invoice = decide(billing, invoice, "pm", PM, note="Work verified on site")
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    assert line_figures(billing)[1] == usd("4100.00")
    assert audit_actions(audit)[2:] == ["approval.approved"]
    assert topics(outbox) == ["invoice.submitted"]

    invoice = decide(billing, invoice, "fin", FIN)
    assert invoice.status == InvoiceStatus.APPROVED
    assert invoice.approved_at is not None
    assert invoice.due_on is not None
    # RETAIN 400.00 and WITHHOLD 400.00, each split over the coded lines in proportion.
    committed, encumbered, retention, withheld = line_figures(billing)
    assert committed == {"1.1": usd("26925.00"), "1.2": usd("13975.00")}
    assert (encumbered, retention, withheld) == (usd("3300.00"), usd("400.00"), usd("400.00"))
    assert sorted(code for code, _ in transfers(invoice)) == ["ENCUMBER"] * 2 + ["RETAIN"] * 2 + ["WITHHOLD"] * 2
    assert audit_actions(audit) == [
        "invoice.created",
        "invoice.submitted",
        "approval.approved",
        "approval.approved",
        "invoice.approved",
    ]
    assert topics(outbox) == ["invoice.submitted", "invoice.approved"]
    approved = OutboxEvent.objects.filter(topic="invoice.approved").get()
    assert approved.payload["invoice_id"] == str(invoice.pk)
    assert approved.payload["net_payable"] == {"amount": "3228.00", "currency": "USD"}
    assert approved.payload["retention"] == {"amount": "400.00", "currency": "USD"}
    assert approved.payload["due_on"] == invoice.due_on.isoformat()
    decisions = ApprovalDecision.objects.filter(target_id=invoice.pk).order_by("decided_at")
    assert [(d.role, d.approver_id, d.band_position, d.round) for d in decisions] == [
        (PM, people["pm"].pk, 1, 1),
        (FIN, people["fin"].pk, 1, 1),
    ]


def test_band_two_adds_the_treasurer(billing):
    audit, outbox = audit_mark(), outbox_mark()
    invoice = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Planting", usd("30000.00"), this_period=usd("20000.00")), coding={"1.1": "20000.00"}
        ),
    )
    assert invoice.total == usd("20000.00")
    for name, role in (("pm", PM), ("fin", FIN)):
        invoice = decide(billing, invoice, name, role)
        assert invoice.status == InvoiceStatus.UNDER_REVIEW
        assert line_figures(billing)[1:] == (usd("20000.00"), usd("0.00"), usd("0.00"))
    invoice = decide(billing, invoice, "tre", TREAS)
    assert invoice.status == InvoiceStatus.APPROVED
    committed, encumbered, retention, _ = line_figures(billing)
    assert committed == {"1.1": usd("10000.00"), "1.2": usd("15000.00")}
    assert (encumbered, retention) == (usd("18000.00"), usd("2000.00"))
    assert audit_actions(audit) == ["invoice.created", "invoice.submitted"] + ["approval.approved"] * 3 + [
        "invoice.approved"
    ]
    assert topics(outbox) == ["invoice.submitted", "invoice.approved"]
    assert ApprovalDecision.objects.filter(target_id=invoice.pk, band_position=2).count() == 3


def test_band_three_needs_two_distinct_dao_signatures(billing):
    contract = big_contract(billing)
    audit, outbox = audit_mark(), outbox_mark()
    invoice = invoice_create(
        actor=billing.vendor_user,
        contract=contract,
        data=billing.data(
            SovLineIn("1", "Planting, phase 2", usd("80000.00"), this_period=usd("60000.00")),
            coding={"1.1": "60000.00"},
        ),
    )
    assert invoice.status == InvoiceStatus.SUBMITTED
    assert invoice.net_payable == usd("52920.00")  # 60,000.00 - 6,000.00 retention - 2 % of 54,000.00
    committed, encumbered, _, _ = line_figures(billing, contract)
    assert committed == {"1.1": usd("20000.00"), "1.2": usd("40000.00")}
    assert encumbered == usd("60000.00")

    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS), ("dao1", DAO)):
        invoice = decide(billing, invoice, name, role)
        assert invoice.status == InvoiceStatus.UNDER_REVIEW, name
        assert line_figures(billing, contract)[1:] == (usd("60000.00"), usd("0.00"), usd("0.00"))
    invoice = decide(billing, invoice, "dao2", DAO)
    assert invoice.status == InvoiceStatus.APPROVED
    assert line_figures(billing, contract)[1:] == (usd("54000.00"), usd("6000.00"), usd("0.00"))
    assert [code for code, _ in transfers(invoice)] == ["ENCUMBER", "RETAIN"]

    decisions = list(ApprovalDecision.objects.filter(target_id=invoice.pk).order_by("decided_at"))
    assert [d.role for d in decisions] == [PM, FIN, TREAS, DAO, DAO]
    assert {d.band_position for d in decisions} == {3}
    wallets = billing.world.keys
    assert [d.signer_address for d in decisions[3:]] == [wallets["dao1"].address, wallets["dao2"].address]
    assert all(d.signature.startswith("0x") and d.chain_id == 1 for d in decisions[3:])
    assert audit_actions(audit) == ["invoice.created", "invoice.submitted"] + ["approval.approved"] * 5 + [
        "invoice.approved"
    ]
    assert topics(outbox) == ["invoice.submitted", "invoice.approved"]


def test_rejection_at_a_middle_stage_releases_the_encumbrance_exactly(billing):
    before_committed, *_ = line_figures(billing)
    available = figures(billing).available
    invoice = invoice_create(
        actor=billing.vendor_user,
        contract=billing.contract,
        data=billing.data(
            SovLineIn("1", "Planting", usd("30000.00"), this_period=usd("12345.67")),
            coding={"1.1": "10000.00", "1.2": "2345.67"},
            taxes="123.45",
            fees="25.00",
        ),
    )
    assert figures(billing).available == available - usd("25.00")
    invoice = decide(billing, invoice, "pm", PM)
    audit, outbox = audit_mark(), outbox_mark()

    invoice = decide(billing, invoice, "fin", FIN, "rejected", note="  Timesheets do not support the hours  ")
    assert invoice.status == InvoiceStatus.REJECTED
    assert invoice.rejection_reason == "Timesheets do not support the hours"
    assert invoice.decided_at is not None
    committed, encumbered, retention, withheld = line_figures(billing)
    assert committed == before_committed
    assert (encumbered, retention, withheld) == (usd("0.00"), usd("0.00"), usd("0.00"))
    assert figures(billing).available == available
    codes = [code for code, _ in transfers(invoice)]
    assert sorted(codes) == ["ENCUMBER"] * 3 + ["RELEASE"] * 3  # two lines and the fees, each way
    assert audit_actions(audit) == ["approval.rejected", "invoice.rejected"]
    assert topics(outbox) == ["invoice.rejected"]
    event = OutboxEvent.objects.filter(topic="invoice.rejected").get()
    assert event.payload["reason"] == "Timesheets do not support the hours"
    assert event.payload["round"] == 1

    # A rejected invoice is final: no more decisions, no resubmission.
    before = full_state(billing)
    with pytest.raises(InvoiceStateInvalid):
        decide(billing, invoice, "tre", TREAS)
    with pytest.raises(InvoiceStateInvalid):
        invoice_submit(actor=billing.vendor_user, invoice=invoice)
    assert full_state(billing) == before


def test_return_for_revision_starts_a_new_round_that_needs_every_stage_again(billing):
    before_committed, *_ = line_figures(billing)
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data(fees="10.00"))
    invoice = decide(billing, invoice, "pm", PM)
    audit, outbox = audit_mark(), outbox_mark()
    invoice = decide(billing, invoice, "fin", FIN, "returned", note="Attach the October timesheets")
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.round == 2
    assert invoice.return_note == "Attach the October timesheets"
    assert line_figures(billing)[0] == before_committed
    assert line_figures(billing)[1] == usd("0.00")
    assert audit_actions(audit) == ["approval.returned", "invoice.returned"]
    assert topics(outbox) == ["invoice.returned"]

    # Revise and resubmit: round 2 encumbers under its own keys.
    invoice = invoice_update(
        actor=billing.vendor_user,
        invoice=invoice,
        data=billing.data(
            SovLineIn("1", "Site preparation", usd("10000.00"), this_period=usd("1500.00")), fees="10.00"
        ),
    )
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.subtotal == usd("1500.00")
    invoice = invoice_submit(actor=billing.vendor_user, invoice=invoice)
    assert (invoice.status, invoice.round) == (InvoiceStatus.SUBMITTED, 2)
    assert line_figures(billing)[0]["1.1"] == before_committed["1.1"] - usd("1500.00")
    assert line_figures(billing)[1] == usd("1510.00")

    # Round 1's PM approval does not count: finance is not next, the PM stage is.
    before = full_state(billing)
    with pytest.raises(ApprovalNotInTurn):
        decide(billing, invoice, "fin", FIN)
    assert full_state(billing) == before
    invoice = decide(billing, invoice, "pm", PM)  # the same PM may approve again in the new round
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    invoice = decide(billing, invoice, "fin", FIN)
    assert invoice.status == InvoiceStatus.APPROVED
    assert line_figures(billing)[1:3] == (usd("1360.00"), usd("150.00"))

    assert transfers(invoice) == [
        ("ENCUMBER", f"r1:encumber:{billing.line_id('1.1')}"),
        ("ENCUMBER", "r1:fee-encumber:fees"),
        ("RELEASE", f"r1:release:{billing.line_id('1.1')}"),
        ("RELEASE", "r1:fee-release:fees"),
        ("ENCUMBER", f"r2:encumber:{billing.line_id('1.1')}"),
        ("ENCUMBER", "r2:fee-encumber:fees"),
        ("RETAIN", f"r2:retain:{billing.line_id('1.1')}"),
    ]
    rounds = list(
        ApprovalDecision.objects.filter(target_id=invoice.pk).order_by("decided_at").values_list("round", "decision")
    )
    assert rounds == [(1, "approved"), (1, "returned"), (2, "approved"), (2, "approved")]
    assert audit_actions(audit)[2:] == [
        "invoice.updated",
        "invoice.submitted",
        "approval.approved",
        "approval.approved",
        "invoice.approved",
    ]
    assert topics(outbox) == ["invoice.returned", "invoice.submitted", "invoice.approved"]


def test_the_vendor_withdraws_an_invoice_under_review(billing):
    before_committed, *_ = line_figures(billing)
    available = figures(billing).available
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data(fees="5.00"))
    invoice = decide(billing, invoice, "pm", PM)

    # Only the vendor's side withdraws.
    before = full_state(billing)
    with pytest.raises(PermissionDenied):
        invoice_withdraw(actor=billing.people["pm"], invoice=invoice, note="not mine")
    assert full_state(billing) == before

    audit, outbox = audit_mark(), outbox_mark()
    invoice = invoice_withdraw(actor=billing.vendor_user, invoice=invoice, note="Wrong period")
    assert (invoice.status, invoice.round, invoice.return_note) == (InvoiceStatus.DRAFT, 2, "Wrong period")
    assert line_figures(billing)[0] == before_committed
    assert line_figures(billing)[1] == usd("0.00")
    assert figures(billing).available == available
    assert audit_actions(audit) == ["invoice.withdrawn"]
    assert topics(outbox) == ["invoice.withdrawn"]

    # A draft cannot be withdrawn again; resubmitted, it needs the PM again.
    before = full_state(billing)
    with pytest.raises(InvoiceStateInvalid):
        invoice_withdraw(actor=billing.vendor_user, invoice=invoice)
    assert full_state(billing) == before
    invoice = invoice_submit(actor=billing.vendor_user, invoice=invoice)
    assert (invoice.status, invoice.round) == (InvoiceStatus.SUBMITTED, 2)
    with pytest.raises(ApprovalNotInTurn):
        decide(billing, invoice, "fin", FIN)


def test_review_is_started_by_whoever_may_approve_the_next_stage(billing):
    invoice = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())
    people = billing.people
    before = full_state(billing)
    for actor, role in (
        (people["fin"], FIN),  # finance is not next
        (people["pm"], FIN),  # the right person claiming the wrong stage
        (people["tre"], PM),  # the right stage, a role the actor does not hold
        (billing.vendor_user, PM),
    ):
        with pytest.raises(ApprovalNotAllowed):
            invoice_review_start(actor=actor, invoice=invoice, role=role)
    assert full_state(billing) == before

    audit = audit_mark()
    invoice = invoice_review_start(actor=people["pm2"], invoice=invoice, role=PM)
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    assert audit_actions(audit) == ["invoice.review_started"]
    assert full_state(billing)[:4] == before[:4]  # no ledger effect
    # Starting it again is a no-op; the stage is still open to any PM.
    invoice_review_start(actor=people["pm2"], invoice=invoice, role=PM)
    assert audit_actions(audit) == ["invoice.review_started"]
    invoice = decide(billing, invoice, "pm", PM)
    invoice = decide(billing, invoice, "fin", FIN)
    assert invoice.status == InvoiceStatus.APPROVED
