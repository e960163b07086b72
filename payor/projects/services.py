"""Writes for projects: lock, check, write, ledger, audit — one transaction each."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.http import HttpRequest
from django.utils import timezone

from payor import audit
from payor.accounts.models import Organization, User
from payor.core.errors import DomainError
from payor.core.money import Money, get_currency
from payor.ledger import selectors as ledger_selectors
from payor.ledger import services as ledger
from payor.projects.budget import LineFigures, in_subtree, own_figures, wbs_code_normalize, wbs_parent, wbs_path
from payor.projects.errors import (
    BudgetAllocationInvalid,
    BudgetCapBelowUsed,
    BudgetCapExceeded,
    BudgetCapInvalid,
    BudgetCheckOutsideTransaction,
    BudgetChildrenExceedParent,
    BudgetCurrencyMismatch,
    BudgetDescriptionInvalid,
    BudgetLineArchived,
    BudgetLineHasActivity,
    BudgetLineInUse,
    BudgetLineNotFound,
    BudgetLineNotLeaf,
    BudgetParentInvalid,
    BudgetPositionInvalid,
    BudgetWbsCodeInvalid,
    BudgetWbsCodeTaken,
    FundingAmountInvalid,
    FundingCurrencyMismatch,
    FundingSourceInvalid,
    OrganizationNotFound,
    ProjectDatesInvalid,
    ProjectNameTaken,
)
from payor.projects.models import BudgetLine, FundingBucket, FundingEvent, Project, ProjectPhase, ProjectStatus
from payor.rbac.permissions import Perm, require_permission
from payor.rbac.services import role_bootstrap


def project_create(
    *,
    actor: User,
    organization: Organization,
    name: str,
    currency: str,
    description: str = "",
    phase: str = ProjectPhase.ORIGINATION,
    status: str = ProjectStatus.ACTIVE,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    request: HttpRequest | None = None,
) -> Project:
    """Create a project and its Lift Forward bucket in the project currency, in one transaction."""
    get_currency(currency)  # raises currency_unknown
    if start_date and end_date and end_date < start_date:
        raise ProjectDatesInvalid(f"end_date {end_date} is before start_date {start_date}")
    if not actor.is_superuser and not organization.memberships.filter(user=actor).exists():
        raise OrganizationNotFound()
    try:
        with transaction.atomic():
            project = Project.objects.create(
                organization=organization,
                name=name.strip(),
                description=description,
                currency=currency,
                phase=phase,
                status=status,
                start_date=start_date,
                end_date=end_date,
                created_by=actor,
            )
            FundingBucket.objects.create(project=project, kind=FundingBucket.Kind.LIFT_FORWARD, currency=currency)
            after = project_snapshot(project)
            audit.record(actor, "project.created", project, after=after, project=project, request=request)
            # The creator becomes the project's PROJECT_MANAGER (audited as role.assigned).
            role_bootstrap(project=project, user=actor)
    except IntegrityError as exc:
        if "projects_project_name_unique_per_org" in str(exc):
            raise ProjectNameTaken(f"{organization.name} already has a project named {name!r}") from exc
        raise
    return project


def project_snapshot(project: Project) -> dict[str, object]:
    """What the audit log keeps of a project."""
    return {
        "organization": project.organization_id,
        "name": project.name,
        "description": project.description,
        "currency": project.currency,
        "phase": project.phase,
        "status": project.status,
        "start_date": project.start_date,
        "end_date": project.end_date,
    }


@transaction.atomic
def bucket_ensure(
    *, actor: User | None, project: Project, currency: str, request: HttpRequest | None = None
) -> FundingBucket:
    """The project's Lift Forward bucket for ``currency`` (created on first use, audited as ``bucket.created``)."""
    get_currency(currency)
    bucket, created = FundingBucket.objects.get_or_create(
        project=project, kind=FundingBucket.Kind.LIFT_FORWARD, currency=currency
    )
    if created:
        after = {"kind": bucket.kind, "currency": bucket.currency}
        audit.record(actor, "bucket.created", bucket, after=after, project=project, request=request)
    return bucket


@transaction.atomic
def funding_record(
    *,
    actor: User | None,
    bucket: FundingBucket,
    amount: Money,
    source: str,
    received_on: dt.date,
    reference: str = "",
    tx_hash: str = "",
    request: HttpRequest | None = None,
) -> FundingEvent:
    """Record money arriving in a bucket and post it to the ledger (funding → available), atomically."""
    bucket = FundingBucket.objects.select_for_update().get(pk=bucket.pk)
    if amount.currency.code != bucket.currency:
        raise FundingCurrencyMismatch(f"bucket is in {bucket.currency}, amount is in {amount.currency.code}")
    if not amount.is_positive:
        raise FundingAmountInvalid()
    if source not in FundingEvent.Source.values:
        raise FundingSourceInvalid(f"source must be one of {', '.join(FundingEvent.Source.values)}, not {source!r}")
    event = FundingEvent(
        bucket=bucket,
        source=source,
        currency=bucket.currency,
        received_on=received_on,
        reference=reference,
        tx_hash=tx_hash,
        recorded_by=actor,
    )
    event.amount = amount
    event.save()
    ledger.fund(bucket=bucket, amount=amount, key=f"funding:{event.pk}", actor_id=actor.pk if actor else None)
    after = {
        "bucket": bucket.pk,
        "amount": amount,
        "source": source,
        "received_on": received_on,
        "reference": reference,
        "tx_hash": tx_hash,
    }
    audit.record(actor, "funding.recorded", event, after=after, project=bucket.project_id, request=request)
    return event


# --------------------------------------------------------------------------- budget lines (the WBS tree)
#
# Locking: every change to the tree and every allocation check locks the lines on the path from the root down
# to the line concerned (SELECT ... ORDER BY wbs_code FOR NO KEY UPDATE: one statement, one fixed order, an
# ancestor always before its descendants). Whoever changes a cap, adds a child, archives a subtree or
# allocates money below a line therefore holds the locks of all its ancestors, so the sibling sums, the
# subtree usage and the leaf status read after locking cannot change before the commit. NO KEY UPDATE (not
# FOR UPDATE) lets other transactions insert rows that reference the lines (contract allocations, invoice
# coding) without waiting for us, so their foreign-key checks cannot deadlock against these locks.

POSITION_MAX = 2_147_483_647
DESCRIPTION_MAX = 500
CAP_MAX_MINOR = 2**63 - 1  # BIGINT, like every amount in the ledger


def _money_json(money: Money) -> dict[str, object]:
    """An amount in a problem body: the API's MoneyOut shape."""
    return {"amount": money.amount_str(), "currency": money.code, "minor": money.minor}


def _lock_paths(project_id: uuid.UUID, codes: Iterable[str]) -> dict[str, BudgetLine]:
    """Lock every line on the paths from the roots to ``codes`` (each included), in code order; by code."""
    wanted = sorted({code for leaf in codes for code in wbs_path(leaf)})
    lines = (
        BudgetLine.objects.select_for_update(no_key=True)
        .filter(project_id=project_id, wbs_code__in=wanted)
        .order_by("wbs_code")
    )
    return {line.wbs_code: line for line in lines}


def _subtrees(codes: Iterable[str]) -> Q:
    query = Q(pk__in=[])
    for code in codes:
        query |= Q(wbs_code=code) | Q(wbs_code__startswith=f"{code}.")
    return query


def _sum_minor(lines: Iterable[BudgetLine]) -> int:
    return sum(line.cap.minor for line in lines)


def _subtree_usage(project_id: uuid.UUID, codes: Iterable[str], currency: str) -> dict[str, LineFigures]:
    """Per code, the ledger figures of its whole subtree (``cap`` left at zero): two queries for all codes."""
    codes = list(codes)
    rows = list(BudgetLine.objects.filter(project_id=project_id).filter(_subtrees(codes)).values_list("pk", "wbs_code"))
    ledger_rows = ledger_selectors.budget_lines_figures(project_id=project_id, budget_line_ids=[pk for pk, _ in rows])
    own = own_figures(ledger_rows, currency)
    zero = Money.zero(currency)
    return {
        code: LineFigures.of(zero, None).with_children(
            LineFigures.of(zero, own.get(pk)) for pk, line_code in rows if in_subtree(line_code, code)
        )
        for code in codes
    }


def _description(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > DESCRIPTION_MAX or "\x00" in text:
        raise BudgetDescriptionInvalid()
    return text


def _cap(cap: object, currency: str) -> Money:
    if not isinstance(cap, Money):
        raise BudgetCapInvalid("the cap must be an amount of money")
    if cap.code != currency:
        raise BudgetCurrencyMismatch(f"the project books in {currency}, not {cap.code}")
    if cap.is_negative:
        raise BudgetCapInvalid(f"the cap cannot be negative ({cap.amount_str()} {cap.code})")
    if cap.minor > CAP_MAX_MINOR:
        raise BudgetCapInvalid(f"the cap is above the largest amount Payor stores ({CAP_MAX_MINOR} minor units)")
    return cap


def _position(position: object) -> int:
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= POSITION_MAX:
        raise BudgetPositionInvalid()
    return position


def budget_line_snapshot(line: BudgetLine) -> dict[str, object]:
    """What the audit log keeps of a budget line."""
    return {
        "wbs_code": line.wbs_code,
        "parent": line.parent_id,
        "description": line.description,
        "cap": line.cap,
        "position": line.position,
        "archived_at": line.archived_at,
    }


@transaction.atomic
def budget_line_create(
    *,
    actor: User,
    project: Project,
    wbs_code: str,
    description: str,
    cap: Money,
    parent_id: uuid.UUID | str | None = None,
    position: int | None = None,
    request: HttpRequest | None = None,
) -> BudgetLine:
    """Add a line to the project's WBS tree (needs ``budget.manage``); audited as ``budget_line.created``.

    A root line (no ``parent_id``) has a one-segment code (``1``); a child's code is its parent's plus one
    segment (``1.2`` under ``1``). Refused: a parent of another project or archived, a parent the ledger
    already books money on (only leaves take money, and a leaf with activity stays a leaf), children's caps
    summing above the parent's cap, a taken code. ``position`` defaults to after the last sibling.
    """
    require_permission(actor, Perm.BUDGET_MANAGE, project=project)
    code = wbs_code_normalize(wbs_code)
    text = _description(description)
    cap = _cap(cap, project.currency)
    parent: BudgetLine | None = None
    if parent_id is not None:
        parent_code = _line_code(project, parent_id, BudgetParentInvalid)
        if wbs_parent(code) != parent_code:
            raise BudgetWbsCodeInvalid(f"a child of {parent_code} has a code {parent_code}.<segment>, not {code}")
        parent = _lock_paths(project.pk, [parent_code]).get(parent_code)
        if parent is None:  # deleted meanwhile (possible only for a line the ledger never mentioned)
            raise BudgetParentInvalid()
        if parent.is_archived:
            raise BudgetLineArchived(f"{parent.wbs_code} is archived: it takes no new lines")
        if ledger_selectors.budget_lines_touched(project_id=project.pk, budget_line_ids=[parent.pk]):
            raise BudgetLineHasActivity(
                f"the ledger books money on {parent.wbs_code}, so it stays a leaf: add the new line beside it"
            )
        children_cap = Money.of_minor(_sum_minor(parent.children.all()), project.currency)
        if children_cap + cap > parent.cap:
            raise BudgetChildrenExceedParent(
                f"the children of {parent.wbs_code} would be capped at {(children_cap + cap).amount_str()}, "
                f"above its cap of {parent.cap.amount_str()} {project.currency}",
                budget_line_id=str(parent.pk),
                wbs_code=parent.wbs_code,
                cap=_money_json(parent.cap),
                children_cap=_money_json(children_cap + cap),
            )
    elif "." in code:
        raise BudgetWbsCodeInvalid(f"{code} is a child's code: give the id of line {wbs_parent(code)} as parent_id")
    if position is None:
        last = BudgetLine.objects.filter(project=project, parent=parent).aggregate(last=Max("position"))["last"]
        position = 0 if last is None else min(last + 1, POSITION_MAX)
    line = BudgetLine(
        project=project,
        parent=parent,
        wbs_code=code,
        description=text,
        currency=project.currency,
        position=_position(position),
        created_by=actor,
    )
    line.cap = cap
    try:
        with transaction.atomic():
            line.save(force_insert=True)
    except IntegrityError as exc:
        if "projects_budget_line_code_unique" in str(exc):
            raise BudgetWbsCodeTaken(f"the project already has a budget line {code}") from exc
        raise
    audit.record(actor, "budget_line.created", line, after=budget_line_snapshot(line), project=project, request=request)
    return line


def _line_code(project: Project, line_id: uuid.UUID | str, error: type[DomainError]) -> str:
    try:
        pk = line_id if isinstance(line_id, uuid.UUID) else uuid.UUID(str(line_id))
    except ValueError as exc:
        raise error() from exc
    code = BudgetLine.objects.filter(project=project, pk=pk).values_list("wbs_code", flat=True).first()
    if code is None:
        raise error()
    return code


def _locked(line: BudgetLine) -> tuple[BudgetLine, dict[str, BudgetLine]]:
    """``line`` re-read under the lock of its path, and the locked path by code."""
    path = _lock_paths(line.project_id, [line.wbs_code])
    current = path.get(line.wbs_code)
    if current is None or current.pk != line.pk:
        raise BudgetLineNotFound()
    return current, path


@transaction.atomic
def budget_line_update(
    *,
    actor: User,
    line: BudgetLine,
    description: str | None = None,
    cap: Money | None = None,
    position: int | None = None,
    request: HttpRequest | None = None,
) -> BudgetLine:
    """Change a line's description, cap or position (needs ``budget.manage``); audited as ``budget_line.updated``.

    The cap stays at or above the caps of the line's children (summed) and at or above what its subtree
    already uses in the ledger (``budget_cap_below_used``); with its siblings it stays within the parent's cap
    (``budget_children_exceed_parent``). Nothing changing is a no-op (nothing audited). Archived lines are
    read-only.
    """
    require_permission(actor, Perm.BUDGET_MANAGE, project=line.project_id)
    line, path = _locked(line)
    if line.is_archived:
        raise BudgetLineArchived(f"{line.wbs_code} is archived")
    before = budget_line_snapshot(line)
    changed: list[str] = []
    if description is not None and (text := _description(description)) != line.description:
        line.description = text
        changed.append("description")
    if position is not None and _position(position) != line.position:
        line.position = position
        changed.append("position")
    if cap is not None and _cap(cap, line.currency) != line.cap:
        _check_new_cap(line, cap, path)
        line.cap = cap
        changed.append("cap")
    if not changed:
        return line
    line.save(update_fields=[*changed, "updated_at"])
    after = budget_line_snapshot(line)
    audit.record(
        actor,
        "budget_line.updated",
        line,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
        project=line.project_id,
        request=request,
    )
    return line


def _check_new_cap(line: BudgetLine, cap: Money, path: Mapping[str, BudgetLine]) -> None:
    children_cap = Money.of_minor(_sum_minor(line.children.all()), line.currency)
    if cap < children_cap:
        raise BudgetChildrenExceedParent(
            f"the children of {line.wbs_code} are capped at {children_cap.amount_str()} together: "
            f"its cap cannot go below that",
            budget_line_id=str(line.pk),
            wbs_code=line.wbs_code,
            cap=_money_json(cap),
            children_cap=_money_json(children_cap),
        )
    parent_code = wbs_parent(line.wbs_code)
    if parent_code is not None:
        parent = path[parent_code]
        siblings = Money.of_minor(_sum_minor(parent.children.exclude(pk=line.pk)), line.currency)
        if siblings + cap > parent.cap:
            raise BudgetChildrenExceedParent(
                f"the children of {parent.wbs_code} would be capped at {(siblings + cap).amount_str()}, "
                f"above its cap of {parent.cap.amount_str()} {line.currency}",
                budget_line_id=str(parent.pk),
                wbs_code=parent.wbs_code,
                cap=_money_json(parent.cap),
                children_cap=_money_json(siblings + cap),
            )
    used = _subtree_usage(line.project_id, [line.wbs_code], line.currency)[line.wbs_code].used
    if cap < used:
        raise BudgetCapBelowUsed(
            f"{line.wbs_code} already uses {used.amount_str()} {line.currency} "
            f"(committed, invoiced, retained, withheld, in flight or paid): its cap cannot go below that",
            budget_line_id=str(line.pk),
            wbs_code=line.wbs_code,
            cap=_money_json(cap),
            used=_money_json(used),
        )


@transaction.atomic
def budget_line_archive(*, actor: User, line: BudgetLine, request: HttpRequest | None = None) -> BudgetLine:
    """Archive a line and everything below it (needs ``budget.manage``); audited as ``budget_line.archived``.

    Archived lines take no allocations, children or edits, and keep their figures: they stay in the tree
    and in its roll-ups. Refused while money is still open on the subtree (committed, encumbered, retention,
    withheld or pending, in any currency): close or settle the contracts first. Lower the cap to what was
    used before archiving to free the rest for the siblings. Archiving an archived line is a no-op.
    """
    require_permission(actor, Perm.BUDGET_MANAGE, project=line.project_id)
    line, _ = _locked(line)
    if line.is_archived:
        return line
    subtree = list(BudgetLine.objects.filter(project_id=line.project_id).filter(_subtrees([line.wbs_code])))
    ledger_rows = ledger_selectors.budget_lines_figures(
        project_id=line.project_id, budget_line_ids=[each.pk for each in subtree]
    )
    for (_, currency), figures in sorted(ledger_rows.items(), key=lambda item: item[0][1]):
        open_money = LineFigures.of(Money.zero(currency), figures).open
        if open_money.is_positive:
            raise BudgetLineInUse(
                f"{open_money.amount_str()} {currency} is still open on {line.wbs_code} or below it",
                budget_line_id=str(line.pk),
                wbs_code=line.wbs_code,
                open=_money_json(open_money),
            )
    now = timezone.now()
    archived = [each for each in subtree if not each.is_archived]
    BudgetLine.objects.filter(pk__in=[each.pk for each in archived]).update(
        archived_at=now, archived_by=actor, updated_at=now
    )
    line.refresh_from_db()
    audit.record(
        actor,
        "budget_line.archived",
        line,
        before={"archived_at": None},
        after={"archived_at": now, "lines": sorted(each.wbs_code for each in archived)},
        project=line.project_id,
        request=request,
    )
    return line


def budget_allocation_check(
    *, project: Project, allocations: Mapping[uuid.UUID | str, Money]
) -> dict[uuid.UUID, BudgetLine]:
    """The budget lock of seed 004, for the contracts service: may these amounts be committed on these lines?

    Call it inside the transaction that then posts the COMMIT (contract executed, work request accepted,
    change order +delta), once, with every line of the allocation: it locks the lines and their ancestors
    (FOR NO KEY UPDATE, in code order) until that transaction ends, so a concurrent allocation waits and then
    sees this one's ledger postings. ``allocations`` maps budget line ids to amounts in the project currency
    (zero is allowed, negative is not). Refused, with nothing locked for long (raise, roll back):

    * ``budget_line_not_found``: not a line of this project; ``budget_line_archived``; ``budget_line_not_leaf``;
    * ``budget_currency_mismatch``, ``budget_allocation_invalid``;
    * ``budget_cap_exceeded``: for the line or one of its ancestors, used (committed + encumbered + retention
      + withheld + pending + disbursed over its subtree) + requested (this call's amounts in its subtree)
      > cap. The problem names the line (``budget_line_id``, ``wbs_code``), ``cap``, ``used`` and
      ``requested``; the innermost line is named first. Exactly at the cap is allowed.

    Returns the locked lines by id. No permission check: the calling service checks its own.
    """
    if not connection.in_atomic_block:
        raise BudgetCheckOutsideTransaction()
    currency = project.currency
    wanted: dict[uuid.UUID, Money] = {}
    for key, amount in allocations.items():
        try:
            line_id = key if isinstance(key, uuid.UUID) else uuid.UUID(str(key))
        except ValueError as exc:
            raise BudgetLineNotFound(f"no budget line {key!r} on this project", budget_line_id=str(key)) from exc
        if not isinstance(amount, Money):
            raise BudgetAllocationInvalid(f"the allocation to {line_id} is not an amount of money")
        if amount.code != currency:
            raise BudgetCurrencyMismatch(f"the project books in {currency}, not {amount.code}")
        if amount.is_negative:
            raise BudgetAllocationInvalid(f"the allocation to {line_id} is negative ({amount.amount_str()})")
        wanted[line_id] = wanted.get(line_id, Money.zero(currency)) + amount
    if not wanted:
        return {}
    codes: dict[uuid.UUID, str] = dict(
        BudgetLine.objects.filter(project=project, pk__in=list(wanted)).values_list("pk", "wbs_code")
    )
    for line_id in wanted:
        if line_id not in codes:
            raise BudgetLineNotFound(f"no budget line {line_id} on this project", budget_line_id=str(line_id))
    locked = _lock_paths(project.pk, codes.values())
    lines = {line_id: locked[codes[line_id]] for line_id in sorted(wanted, key=codes.__getitem__)}
    for line in lines.values():
        if line.is_archived:
            raise BudgetLineArchived(
                f"{line.wbs_code} is archived: it takes no allocations", budget_line_id=str(line.pk)
            )
    with_children = set(BudgetLine.objects.filter(parent_id__in=list(lines)).values_list("parent_id", flat=True))
    for line in lines.values():
        if line.pk in with_children:
            raise BudgetLineNotLeaf(
                f"{line.wbs_code} has lines below it: allocate to those", budget_line_id=str(line.pk)
            )
    usage = _subtree_usage(project.pk, locked, currency)
    for node in sorted(locked.values(), key=lambda each: (-each.depth, each.wbs_code)):
        requested = Money.sum(
            (amount for line_id, amount in wanted.items() if in_subtree(codes[line_id], node.wbs_code)), currency
        )
        used = usage[node.wbs_code].used
        if requested.is_positive and used + requested > node.cap:
            raise BudgetCapExceeded(
                f"{node.wbs_code} ({node.description}) is capped at {node.cap.amount_str()} {currency}; "
                f"{used.amount_str()} is used and {requested.amount_str()} more was asked for",
                budget_line_id=str(node.pk),
                wbs_code=node.wbs_code,
                cap=_money_json(node.cap),
                used=_money_json(used),
                requested=_money_json(requested),
            )
    return lines
