"""Segregation of duties on invoices: every violation is refused with its code and changes nothing — not the
ledger, not the invoice, not the decisions, the audit log or the outbox (``full_state``)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from payor.approvals.decisions import decision_typed_data
from payor.approvals.errors import (
    ApprovalDuplicateSigner,
    ApprovalLimitExceeded,
    ApprovalNotAllowed,
    ApprovalNoteRequired,
    ApprovalNotInTurn,
    ApprovalOneStagePerPerson,
    ApprovalRoleMissing,
    ApprovalSignatureInvalid,
    ApprovalSignatureRequired,
    ApprovalSignerNotLinked,
    ApprovalStageNotRequired,
    ApprovalSubmitterCannotApprove,
    ApprovalVendorConflict,
)
from payor.core.errors import PermissionDenied
from payor.invoices.math import SovLineIn
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_create, invoice_decide, invoice_item, invoice_submit
from payor.invoices.tests.conftest import (
    CHAIN,
    DAO,
    FIN,
    PM,
    TREAS,
    big_contract,
    decide,
    full_state,
    grant,
    grant_to,
    usd,
)
from payor.rbac.roles import ProjectRole

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def submitted(billing, amount: str = "1000.00", contract=None, **fields) -> Invoice:
    return invoice_create(
        actor=billing.vendor_user,
        contract=contract or billing.contract,
        data=billing.data(
            SovLineIn("1", "Planting", usd(amount), this_period=usd(amount)), coding={"1.1": amount}, **fields
        ),
    )


def refused(billing, error: type[Exception], code: str, action) -> None:
    """``action()`` raises ``error`` with ``code`` and leaves everything as it was."""
    before = full_state(billing)
    with pytest.raises(error) as caught:
        action()
    assert caught.value.code == code
    assert full_state(billing) == before


def test_the_submitter_cannot_approve_or_stop_their_own_invoice(billing):
    # The vendor's user also holds the PM role (with a limit) on the project.
    grant_to(billing.world, billing.vendor_user, ProjectRole.PROJECT_MANAGER)
    invoice = submitted(billing)
    assert invoice.submitted_by == billing.vendor_user
    for decision, note in (("approved", ""), ("rejected", "changed my mind"), ("returned", "typo")):
        refused(
            billing,
            ApprovalSubmitterCannotApprove,
            "approval_submitter_cannot_approve",
            lambda decision=decision, note=note: invoice_decide(
                actor=billing.vendor_user, invoice=invoice, role=PM, decision=decision, note=note
            ),
        )
    # Anyone else who holds the stage still may.
    assert decide(billing, invoice, "pm", PM).status == InvoiceStatus.UNDER_REVIEW


def test_one_person_fills_one_stage(billing):
    pm = grant_to(billing.world, billing.people["pm"], FIN)  # the PM also holds the finance role
    invoice = decide(billing, submitted(billing), "pm", PM)
    refused(
        billing,
        ApprovalOneStagePerPerson,
        "approval_one_stage_per_person",
        lambda: invoice_decide(actor=pm, invoice=invoice, role=FIN, decision="approved"),
    )
    # The same PM cannot fill the PM stage twice either.
    refused(
        billing,
        ApprovalNotInTurn,
        "approval_not_in_turn",
        lambda: invoice_decide(actor=pm, invoice=invoice, role=PM, decision="approved"),
    )
    assert decide(billing, invoice, "fin", FIN).status == InvoiceStatus.APPROVED


def test_an_approver_who_acts_for_the_vendor_is_refused(billing):
    tre = grant_to(billing.world, billing.people["tre"], ProjectRole.VENDOR, vendor=billing.vendor)
    invoice = submitted(billing, "20000.00")  # band 2: PM, finance, treasurer
    invoice = decide(billing, invoice, "pm", PM)
    invoice = decide(billing, invoice, "fin", FIN)
    refused(
        billing,
        ApprovalVendorConflict,
        "approval_vendor_conflict",
        lambda: invoice_decide(actor=tre, invoice=invoice, role=TREAS, decision="approved"),
    )
    # Not even a rejection: the treasurer may not decide on their own vendor's invoice.
    refused(
        billing,
        ApprovalVendorConflict,
        "approval_vendor_conflict",
        lambda: invoice_decide(actor=tre, invoice=invoice, role=TREAS, decision="rejected", note="no"),
    )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.UNDER_REVIEW


def test_an_approval_limit_below_the_total_is_refused(billing):
    world = billing.world
    low = grant(world, "low-pm@example.test", PM, limit="999.99")
    exact = grant(world, "exact-pm@example.test", PM, limit="1000.00")
    invoice = submitted(billing, "1000.00")
    refused(
        billing,
        ApprovalLimitExceeded,
        "approval_limit_exceeded",
        lambda: invoice_decide(actor=low, invoice=invoice, role=PM, decision="approved"),
    )
    # A limit equal to the total is enough.
    invoice = invoice_decide(actor=exact, invoice=invoice, role=PM, decision="approved")
    assert invoice.status == InvoiceStatus.UNDER_REVIEW


def test_stages_are_decided_in_order_by_holders_of_their_role(billing):
    people = billing.people
    invoice = submitted(billing)
    refused(
        billing,
        ApprovalNotInTurn,
        "approval_not_in_turn",
        lambda: invoice_decide(actor=people["fin"], invoice=invoice, role=FIN, decision="approved"),
    )
    refused(
        billing,
        ApprovalStageNotRequired,
        "approval_stage_not_required",  # band 1 has no treasurer stage
        lambda: invoice_decide(actor=people["tre"], invoice=invoice, role=TREAS, decision="approved"),
    )
    refused(
        billing,
        ApprovalRoleMissing,
        "approval_role_missing",
        lambda: invoice_decide(actor=people["fin"], invoice=invoice, role=PM, decision="approved"),
    )
    # Stops are made at one's own turn too.
    refused(
        billing,
        ApprovalNotAllowed,
        "approval_not_allowed",
        lambda: invoice_decide(actor=people["fin"], invoice=invoice, role=FIN, decision="rejected", note="no"),
    )


def test_a_rejection_or_return_needs_a_note(billing):
    invoice = submitted(billing)
    for decision in ("rejected", "returned"):
        for note in ("", "   \n "):
            refused(
                billing,
                ApprovalNoteRequired,
                "approval_note_required",
                lambda decision=decision, note=note: invoice_decide(
                    actor=billing.people["pm"], invoice=invoice, role=PM, decision=decision, note=note
                ),
            )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.SUBMITTED


def test_dao_stage_signatures(billing):
    contract = big_contract(billing)
    invoice = submitted(billing, "60000.00", contract=contract)
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        invoice = decide(billing, invoice, name, role)
    dao1 = billing.people["dao1"]

    def dao1_decides(signature: str | None, chain_id: int | None = CHAIN):
        return lambda: invoice_decide(
            actor=dao1, invoice=invoice, role=DAO, decision="approved", chain_id=chain_id, signature=signature
        )

    refused(billing, ApprovalSignatureRequired, "approval_signature_required", dao1_decides(None))
    refused(
        billing,
        ApprovalSignatureRequired,
        "approval_signature_required",
        dao1_decides(billing.sign("dao1", invoice), chain_id=None),
    )
    refused(billing, ApprovalSignatureInvalid, "approval_signature_invalid", dao1_decides("0x1234"))
    # A valid signature of the decision by a key nobody linked, and by another signer's linked key.
    typed = decision_typed_data(
        item=invoice_item(invoice), role=DAO, decision="approved", chain_id=CHAIN, matrix_version=1
    )
    stranger = "0x" + Account.create().sign_message(encode_typed_data(full_message=typed)).signature.hex()
    refused(billing, ApprovalSignerNotLinked, "approval_signer_not_linked", dao1_decides(stranger))
    refused(billing, ApprovalSignerNotLinked, "approval_signer_not_linked", dao1_decides(billing.sign("dao2", invoice)))
    # dao1's own signature of another decision (a rejection) does not sign this approval.
    refused(
        billing,
        ApprovalSignerNotLinked,
        "approval_signer_not_linked",
        dao1_decides(billing.sign("dao1", invoice, "rejected")),
    )

    invoice = decide(billing, invoice, "dao1", DAO)
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    refused(billing, ApprovalDuplicateSigner, "approval_duplicate_signer", dao1_decides(billing.sign("dao1", invoice)))
    invoice = decide(billing, invoice, "dao2", DAO)
    assert invoice.status == InvoiceStatus.APPROVED


def test_only_the_contracts_vendor_submits(billing):
    world, people = billing.world, billing.people
    other_vendor_user = grant(world, "billing@other.test", ProjectRole.VENDOR)  # acts for a new vendor
    data = billing.data()
    for actor in (people["pm"], people["fin"], other_vendor_user):
        refused(
            billing,
            PermissionDenied,
            "permission_denied",
            lambda actor=actor: invoice_create(actor=actor, contract=billing.contract, data=data),
        )
    draft = invoice_create(actor=billing.vendor_user, contract=billing.contract, data=data, submit=False)
    for actor in (people["pm"], other_vendor_user):
        refused(
            billing,
            PermissionDenied,
            "permission_denied",
            lambda actor=actor: invoice_submit(actor=actor, invoice=draft),
        )
    # A revoked vendor role no longer submits.
    billing.vendor_user.project_roles.update(revoked_at=draft.created_at)
    refused(
        billing,
        PermissionDenied,
        "permission_denied",
        lambda: invoice_submit(actor=billing.vendor_user, invoice=draft),
    )
