"""Who may approve next: the stages an amount needs, which are done, and who may fill the next one.

Both functions only read (the matrix, role assignments): the caller (the
invoice workflow) persists approvals and calls them under its own locks, so
the check and the write of an approval see the same approvals so far.

Rules (ARCHITECTURE §7, seed 004):

* the amount's band is the one with ``lower < amount <= upper``; its stages run
  in order, and a stage is done once ``signers_required`` distinct people
  approved it;
* an approver holds the stage's role on the project (an active assignment)
  with an approval limit ≥ the amount, in the same currency;
* the submitter never approves their own item;
* one person fills at most one stage of one item;
* multisig signatures come from distinct signers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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
from payor.approvals.matrix import Band, Stage
from payor.approvals.selectors import approval_matrix_current
from payor.core.money import Money
from payor.projects.models import Project
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import can_approve_amount, roles_of
from payor.rbac.roles import ProjectRole


class StageStatus(StrEnum):
    DONE = "done"
    NEXT = "next"
    WAITING = "waiting"


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """An approval already given for the item: ``user`` filled the stage of ``role`` at ``decided_at``."""

    user: User
    role: str
    decided_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One stage of the item's band: its status, who signed it so far and, for the next stage, who may sign."""

    position: int
    stage: Stage
    status: StageStatus
    signers: tuple[User, ...]
    eligible: tuple[User, ...] = ()

    @property
    def role(self) -> ProjectRole:
        return self.stage.role

    @property
    def signers_required(self) -> int:
        return self.stage.signers_required

    @property
    def signed(self) -> int:
        """Distinct signers so far (the multisig's "1 of 2 signatures")."""
        return len(self.signers)

    @property
    def missing(self) -> int:
        return max(self.stage.signers_required - len(self.signers), 0)


@dataclass(frozen=True, slots=True)
class ApprovalPlan:
    """The approvals ``amount`` needs under matrix ``matrix_version``, and how far they are."""

    amount: Money
    matrix_version: int
    band_position: int
    band: Band
    stages: tuple[StagePlan, ...]

    @property
    def complete(self) -> bool:
        return all(stage.status is StageStatus.DONE for stage in self.stages)

    @property
    def next_stage(self) -> StagePlan | None:
        return next((stage for stage in self.stages if stage.status is StageStatus.NEXT), None)

    @property
    def remaining(self) -> tuple[StagePlan, ...]:
        return tuple(stage for stage in self.stages if stage.status is not StageStatus.DONE)


def _signers_by_role(band: Band, approvals: Sequence[ApprovalRecord]) -> dict[str, tuple[User, ...]]:
    """Distinct signers of each stage of ``band``, in decision order; approvals for other roles are ignored."""
    signers: dict[str, list[User]] = {stage.role.value: [] for stage in band.stages}
    for record in sorted(approvals, key=lambda record: record.decided_at):
        users = signers.get(str(record.role))
        if users is not None and all(user.pk != record.user.pk for user in users):
            users.append(record.user)
    return {role: tuple(users) for role, users in signers.items()}


def _eligible(
    *, project: Project, stage: Stage, amount: Money, submitter: User | None, approvals: Sequence[ApprovalRecord]
) -> tuple[User, ...]:
    """Active holders of the stage's role with a limit ≥ amount, minus the submitter and this item's approvers."""
    excluded = {record.user.pk for record in approvals}
    if submitter is not None:
        excluded.add(submitter.pk)
    assignments = (
        ProjectRoleAssignment.objects.filter(
            project=project,
            role=stage.role,
            revoked_at__isnull=True,
            user__is_active=True,
            currency=amount.code,
            approval_limit__gte=amount.minor,
        )
        .exclude(user__in=excluded)
        .select_related("user")
        .order_by("user__email", "user_id")
    )
    # can_approve_amount has the last word, so whoever is listed passes approval_check's role and limit checks.
    return tuple(
        assignment.user
        for assignment in assignments
        if can_approve_amount(assignment.user, project, stage.role, amount)
    )


def _plan(
    *,
    project: Project,
    amount: Money,
    submitter: User | None,
    approvals: Sequence[ApprovalRecord],
    with_eligible: bool,
) -> ApprovalPlan:
    current = approval_matrix_current(project=project)
    if amount.code != current.document.currency:
        raise ApprovalCurrencyMismatch(
            f"{amount} is not in {current.document.currency}, the currency of the project's approval matrix"
        )
    if not amount.is_positive:
        raise ApprovalAmountInvalid(f"{amount} is not positive")
    band_position, band = current.document.band_for(amount)
    signers = _signers_by_role(band, approvals)
    stages: list[StagePlan] = []
    waiting = False
    for position, stage in enumerate(band.stages, start=1):
        stage_signers = signers[stage.role.value]
        if waiting:
            status = StageStatus.WAITING
        elif len(stage_signers) >= stage.signers_required:
            status = StageStatus.DONE
        else:
            status, waiting = StageStatus.NEXT, True
        eligible: tuple[User, ...] = ()
        if status is StageStatus.NEXT and with_eligible:
            eligible = _eligible(project=project, stage=stage, amount=amount, submitter=submitter, approvals=approvals)
        stages.append(
            StagePlan(position=position, stage=stage, status=status, signers=stage_signers, eligible=eligible)
        )
    return ApprovalPlan(
        amount=amount,
        matrix_version=current.version,
        band_position=band_position,
        band=band,
        stages=tuple(stages),
    )


def approval_plan(
    *,
    project: Project,
    amount: Money,
    submitter: User | None,
    approvals: Sequence[ApprovalRecord],
    with_eligible: bool = True,
) -> ApprovalPlan:
    """Which stages ``amount`` needs on ``project``, which are done, and who may fill the next one.

    ``approvals`` are the approvals given so far for the item (any order; they
    are taken in ``decided_at`` order, a signer counts once per stage, and
    approvals for roles the band does not list are ignored). Stages run in
    order: the first stage short of its signers is ``next`` and lists its
    eligible users (by email); later ones are ``waiting``. ``submitter`` None: an item
    nobody submitted (system-generated). Raises ``approval_currency_mismatch``
    and ``approval_amount_invalid`` (422) for an amount that is not positive
    or not in the matrix currency. ``with_eligible=False`` skips looking up who may fill the next stage
    (``eligible`` stays empty) for callers that only need the stages' status.
    """
    return _plan(project=project, amount=amount, submitter=submitter, approvals=approvals, with_eligible=with_eligible)


def approval_check(
    *,
    project: Project,
    amount: Money,
    submitter: User | None,
    approvals: Sequence[ApprovalRecord],
    approver: User,
    role: str,
) -> None:
    """Refuse ``approver`` filling the ``role`` stage of an item with ``approvals`` so far, or return None.

    Checked in this order, first failure raised: ``approval_already_complete``
    (409), ``approval_stage_not_required`` (409: the band has no such stage),
    ``approval_not_in_turn`` (409), ``approval_submitter_cannot_approve``
    (403), ``approval_duplicate_signer`` (409: already signed this stage),
    ``approval_one_stage_per_person`` (403: approved another stage of the
    item), ``approval_role_missing`` (403), ``approval_limit_exceeded`` (403:
    no limit, a limit below the amount or in another currency).
    """
    plan = _plan(project=project, amount=amount, submitter=submitter, approvals=approvals, with_eligible=False)
    if plan.complete:
        raise ApprovalAlreadyComplete(f"every stage of band {plan.band_position} is approved")
    stage = next((stage for stage in plan.stages if stage.role == role), None)
    if stage is None:
        raise ApprovalStageNotRequired(
            f"{amount} falls in band {plan.band_position}, whose stages are "
            f"{', '.join(s.role.value for s in plan.stages)}: not {role}"
        )
    if stage.status is not StageStatus.NEXT:
        next_stage = plan.next_stage
        assert next_stage is not None  # noqa: S101 - an incomplete plan always has a next stage
        raise ApprovalNotInTurn(
            f"the {stage.role.value} stage is {stage.status.value}; the {next_stage.role.value} stage is next"
        )
    if submitter is not None and approver.pk == submitter.pk:
        raise ApprovalSubmitterCannotApprove()
    if any(signer.pk == approver.pk for signer in stage.signers):
        raise ApprovalDuplicateSigner(
            f"{stage.signed} of {stage.signers_required} signatures so far, one of them yours"
        )
    other = next((record for record in approvals if record.user.pk == approver.pk), None)
    if other is not None:
        raise ApprovalOneStagePerPerson(f"you already approved the {other.role} stage of this item")
    if not approver.is_active or stage.role not in roles_of(approver, project):
        raise ApprovalRoleMissing(f"you do not hold {stage.role.value} on this project")
    if not can_approve_amount(approver, project, stage.role, amount):
        raise ApprovalLimitExceeded(f"{amount} is above your {stage.role.value} approval limit")
