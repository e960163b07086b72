"""Recording approval decisions on an item (invoice, change order…) against the project's approval matrix.

The owning service (``invoice_decide``, ``change_order_decide``…) locks its item, builds an
:class:`ApprovalItem` from it and calls :func:`approval_decide` in the same transaction; it then moves the
item's status from the returned plan (complete → approved; a rejection → rejected; a return → draft) and
posts the ledger effects. This module owns the rules of a decision:

* approving: :func:`payor.approvals.plan.approval_check` (stage in turn, role held with a limit ≥ the
  amount, submitter ≠ approver, one stage per person, distinct multisig signers), and nobody approves an item
  of a vendor they act for (seed 004: "Treasurer cannot approve their own vendor" — applied to every stage);
* rejecting or returning for revision: the next stage's role, held by someone other than the submitter, with
  a note. No approval limit is needed to stop an item (a reviewer with a low limit may still refuse it);
* DAO multisig stages are signed in a wallet: the decision carries an EIP-712 signature by one of the
  approver's linked addresses (:mod:`payor.approvals.eip712`), whatever the decision;
* every decision is appended (``ApprovalDecision``, immutable) and audited (``approval.approved`` …).

Approvals count per review ``round``: an item returned for revision and resubmitted starts a new round and
needs every stage again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from payor import audit
from payor.accounts.models import User
from payor.approvals.eip712 import approval_signature_verify, approval_typed_data
from payor.approvals.errors import (
    ApprovalAlreadyComplete,
    ApprovalConflict,
    ApprovalNotAllowed,
    ApprovalNoteRequired,
    ApprovalSignatureRequired,
    ApprovalSubmitterCannotApprove,
    ApprovalVendorConflict,
)
from payor.approvals.models import ApprovalDecision, ApprovalTarget, Decision
from payor.approvals.plan import ApprovalPlan, ApprovalRecord, approval_check, approval_plan
from payor.core.errors import ValidationFailed
from payor.core.money import Money
from payor.projects.models import Project
from payor.rbac.permissions import roles_of, vendor_ids_for
from payor.rbac.roles import ProjectRole

#: Stages decided with a wallet signature.
SIGNED_ROLES = frozenset({ProjectRole.DAO_MULTISIG})
NOTE_MAX = 4000


@dataclass(frozen=True)
class ApprovalItem:
    """What the owning service knows of the (locked) item being decided on."""

    project: Project
    target_type: ApprovalTarget
    target_id: uuid.UUID
    amount: Money
    submitter: User | None
    round: int = 1
    vendor_id: uuid.UUID | None = None


def approval_records(item: ApprovalItem) -> list[ApprovalRecord]:
    """The approvals given so far in the item's current round, oldest first."""
    decisions = (
        ApprovalDecision.objects.filter(
            target_type=item.target_type, target_id=item.target_id, round=item.round, decision=Decision.APPROVED
        )
        .select_related("approver")
        .order_by("decided_at", "id")
    )
    return [ApprovalRecord(user=d.approver, role=d.role, decided_at=d.decided_at) for d in decisions]


def approval_item_plan(item: ApprovalItem) -> ApprovalPlan:
    """Where the item's current round stands: stages done, the next one and who may fill it."""
    return approval_plan(
        project=item.project, amount=item.amount, submitter=item.submitter, approvals=approval_records(item)
    )


def approval_timeline(*, target_type: ApprovalTarget | str, target_id: uuid.UUID) -> list[ApprovalDecision]:
    """Every decision on the item, all rounds, oldest first (the item's timeline)."""
    return list(
        ApprovalDecision.objects.filter(target_type=target_type, target_id=target_id)
        .select_related("approver")
        .order_by("decided_at", "id")
    )


def decision_typed_data(
    *, item: ApprovalItem, role: str, decision: str, chain_id: int, matrix_version: int
) -> dict[str, Any]:
    """The EIP-712 message a signer signs for ``decision`` on the item's ``role`` stage (for pages and clients)."""
    return approval_typed_data(
        chain_id=chain_id,
        project_id=item.project.pk,
        target_type=str(item.target_type),
        target_id=item.target_id,
        round=item.round,
        role=role,
        decision=decision,
        amount=item.amount,
        matrix_version=matrix_version,
    )


def _snapshot(decision: ApprovalDecision) -> dict[str, object]:
    return {
        "target_type": decision.target_type,
        "target_id": decision.target_id,
        "round": decision.round,
        "role": decision.role,
        "decision": decision.decision,
        "amount": decision.amount,
        "matrix_version": decision.matrix_version,
        "band": decision.band_position,
        "note": decision.note,
        "signer_address": decision.signer_address or None,
    }


def _check_stop(*, actor: User, item: ApprovalItem, plan: ApprovalPlan, role: str, note: str) -> None:
    """A rejection or return: the next stage's role, not the submitter, with a note."""
    if not note.strip():
        raise ApprovalNoteRequired()
    if plan.complete:
        raise ApprovalAlreadyComplete(f"every stage of band {plan.band_position} is approved")
    next_stage = plan.next_stage
    assert next_stage is not None  # noqa: S101 - an incomplete plan always has a next stage
    if item.submitter is not None and actor.pk == item.submitter.pk:
        raise ApprovalSubmitterCannotApprove("The submitter of an item cannot decide on it; withdraw it instead")
    if role != next_stage.role.value or next_stage.role not in roles_of(actor, item.project):
        raise ApprovalNotAllowed(f"The {next_stage.role.value} stage is next; you can decide only at your stage")


def approval_decide(
    *,
    actor: User,
    item: ApprovalItem,
    role: ProjectRole | str,
    decision: Decision | str,
    note: str = "",
    chain_id: int | None = None,
    signature: str | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApprovalDecision, ApprovalPlan]:
    """Record ``actor``'s ``decision`` on the ``role`` stage of ``item``; returns it and the plan after it.

    Call inside the owning service's transaction, with the item locked. Refusals (nothing written): those of
    :func:`approval_check` for approvals; ``approval_note_required``, ``approval_not_allowed`` and
    ``approval_submitter_cannot_approve`` for rejections and returns; ``approval_vendor_conflict`` (403) for
    an approver who acts for the item's vendor; ``approval_signature_required`` / ``approval_signature_invalid``
    / ``approval_signer_not_linked`` on signed stages; ``approval_conflict`` (409) if a concurrent decision
    got there first.
    """
    role = ProjectRole(role)
    decision = Decision(decision)
    note = (note or "").strip()
    if len(note) > NOTE_MAX or "\x00" in note:
        raise ValidationFailed(f"a note is at most {NOTE_MAX} characters of text", field="note")
    with transaction.atomic():
        records = approval_records(item)
        plan = approval_plan(
            project=item.project, amount=item.amount, submitter=item.submitter, approvals=records, with_eligible=False
        )
        if decision is Decision.APPROVED:
            approval_check(
                project=item.project,
                amount=item.amount,
                submitter=item.submitter,
                approvals=records,
                approver=actor,
                role=role,
            )
        else:
            _check_stop(actor=actor, item=item, plan=plan, role=role, note=note)
        if item.vendor_id is not None and item.vendor_id in vendor_ids_for(actor, item.project):
            raise ApprovalVendorConflict()
        signer_address = ""
        if role in SIGNED_ROLES:
            if not signature or chain_id is None:
                raise ApprovalSignatureRequired()
            typed = decision_typed_data(
                item=item, role=role, decision=decision, chain_id=chain_id, matrix_version=plan.matrix_version
            )
            signer_address = approval_signature_verify(typed_data=typed, signature=signature, approver=actor)
        row = ApprovalDecision(
            project=item.project,
            target_type=item.target_type,
            target_id=item.target_id,
            round=item.round,
            role=role,
            decision=decision,
            approver=actor,
            currency=item.amount.code,
            matrix_version=plan.matrix_version,
            band_position=plan.band_position,
            note=note,
            chain_id=chain_id if signer_address else None,
            signer_address=signer_address,
            signature=(signature or "") if signer_address else "",
            decided_at=timezone.now(),
        )
        row.amount = item.amount
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError as exc:
            raise ApprovalConflict() from exc
        audit.record(
            actor, f"approval.{decision.value}", row, after=_snapshot(row), project=item.project, request=request
        )
        if decision is Decision.APPROVED:
            records.append(ApprovalRecord(user=actor, role=role, decided_at=row.decided_at))
            plan = approval_plan(project=item.project, amount=item.amount, submitter=item.submitter, approvals=records)
        return row, plan
