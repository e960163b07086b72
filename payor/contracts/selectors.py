"""Reads of contracts/POs and change orders. Every selector takes the viewer, so scoping cannot be skipped.

Who reads a contract (and its change orders):

* a project the viewer cannot see (``rbac.permissions.project_visible``) hides its contracts:
  ``contract_not_found`` / ``change_order_not_found`` (404), whether or not they exist;
* on a visible project, ``contract.view`` reads every contract; a VENDOR user also reads the contracts of the
  vendors they act for there (``vendor_ids_for``: they invoice against them);
* anyone else who sees the project gets ``permission_denied`` (403).

Lists apply the same rule in SQL: the projects where the viewer holds ``contract.view``
(``projects_with_permission``), plus the (project, vendor) pairs of their active VENDOR roles.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from payor.approvals.decisions import approval_item_plan, approval_timeline, decision_typed_data
from payor.approvals.models import ApprovalDecision, ApprovalTarget, Decision
from payor.approvals.plan import ApprovalPlan
from payor.contracts.errors import ChangeOrderNotFound, ChangeOrderStateInvalid, ContractNotFound, ContractVendorInvalid
from payor.contracts.models import (
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Contract,
    ContractAllocation,
    ContractStatus,
)
from payor.contracts.services import change_order_item
from payor.core.errors import PermissionDenied
from payor.core.money import Money
from payor.ledger.selectors import Figures, contract_figures
from payor.projects.models import Project
from payor.rbac.errors import ProjectNotFound
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import (
    Perm,
    has_permission,
    project_visible,
    projects_with_permission,
    require_permission,
    vendor_ids_for,
)
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

__all__ = [
    "ContractFigures",
    "change_order_get_visible",
    "change_order_lines",
    "change_order_list",
    "change_order_plan",
    "change_order_timeline",
    "change_order_typed_data",
    "contract_allocations",
    "contract_change_orders",
    "contract_figures_of",
    "contract_get_visible",
    "contract_list",
    "contract_vendor_get",
]


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _denied() -> PermissionDenied:
    return PermissionDenied(
        f"This needs the {Perm.CONTRACT_VIEW.value} permission on this project, or a VENDOR role for the contract's "
        "vendor",
        permission=Perm.CONTRACT_VIEW.value,
    )


def _read_check(viewer: Viewer, *, project_id: uuid.UUID, vendor_id: uuid.UUID, not_found: Exception) -> None:
    """The read rule for one contract (module docstring): raises ``not_found`` or ``permission_denied``."""
    if not project_visible(viewer, project_id):
        raise not_found
    if has_permission(viewer, Perm.CONTRACT_VIEW, project=project_id):
        return
    if vendor_id in vendor_ids_for(viewer, project_id):
        return
    raise _denied()


def _own_vendor_contracts(viewer: Viewer) -> Q:
    """Contracts whose (project, vendor) is one of the viewer's active VENDOR roles."""
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return Q(pk__in=[])
    own = ProjectRoleAssignment.objects.filter(
        user_id=viewer.pk,
        role=ProjectRole.VENDOR,
        revoked_at__isnull=True,
        project_id=OuterRef("project_id"),
        vendor_id=OuterRef("vendor_id"),
    )
    return Q(Exists(own))


# --------------------------------------------------------------------------------------------------------------
# Contracts
# --------------------------------------------------------------------------------------------------------------


def contract_list(
    *,
    viewer: Viewer,
    project_id: uuid.UUID | str | None = None,
    vendor_id: uuid.UUID | str | None = None,
    status: ContractStatus | str | None = None,
) -> QuerySet[Contract]:
    """The contracts ``viewer`` may read, newest first, optionally narrowed to a project, a vendor, a status.

    A ``project_id`` the viewer cannot see is ``project_not_found`` (404); a visible project on which they may
    read no contract at all (no ``contract.view``, no VENDOR role) is ``permission_denied`` (403). Without a
    project filter the list is simply what the viewer may read (empty for someone who may read nothing).
    """
    contracts = Contract.objects.filter(
        Q(project__in=projects_with_permission(viewer, Perm.CONTRACT_VIEW)) | _own_vendor_contracts(viewer)
    )
    if project_id is not None:
        project_pk = _uuid(project_id)
        if project_pk is None or not project_visible(viewer, project_pk):
            raise ProjectNotFound()
        if not has_permission(viewer, Perm.CONTRACT_VIEW, project=project_pk) and not vendor_ids_for(
            viewer, project_pk
        ):
            raise _denied()
        contracts = contracts.filter(project_id=project_pk)
    if vendor_id is not None:
        vendor_pk = _uuid(vendor_id)
        contracts = contracts.none() if vendor_pk is None else contracts.filter(vendor_id=vendor_pk)
    if status is not None:
        contracts = contracts.filter(status=status) if status in ContractStatus.values else contracts.none()
    return contracts.select_related("vendor").order_by("-id")


def contract_get_visible(*, viewer: Viewer, contract_id: uuid.UUID | str) -> Contract:
    """The contract, if ``viewer`` may read it: ``contract_not_found`` (404) or ``permission_denied`` (403)."""
    pk = _uuid(contract_id)
    contract = (
        None
        if pk is None
        else Contract.objects.select_related("project", "vendor", "created_by", "executed_by", "closed_by")
        .filter(pk=pk)
        .first()
    )
    if contract is None:
        raise ContractNotFound()
    _read_check(viewer, project_id=contract.project_id, vendor_id=contract.vendor_id, not_found=ContractNotFound())
    return contract


def contract_vendor_get(*, viewer: Viewer, project: Project, vendor_id: uuid.UUID | str) -> Vendor:
    """The vendor a contract on ``project`` is drafted with: one of the project organization's vendors.

    Needs ``contract.manage`` on the project, checked first, so that a viewer without it learns nothing about
    vendor ids. An unknown id and another organization's vendor are both ``contract_vendor_invalid`` (422).
    """
    require_permission(viewer, Perm.CONTRACT_MANAGE, project=project)
    pk = _uuid(vendor_id)
    vendor = None if pk is None else Vendor.objects.filter(pk=pk, organization_id=project.organization_id).first()
    if vendor is None:
        raise ContractVendorInvalid()
    return vendor


def contract_allocations(*, contract: Contract) -> list[ContractAllocation]:
    """The contract's allocations with their budget lines, in WBS-code order (read ``contract_get_visible`` first)."""
    return list(contract.allocations.select_related("budget_line").order_by("budget_line__wbs_code"))


@dataclass(frozen=True)
class ContractFigures:
    """A contract's ledger figures in its currency.

    ``remaining_commitment`` is the ledger's ``committed`` on the contract: committed and not yet invoiced.
    ``invoiced`` = encumbered + retention + withheld + pending + disbursed; ``committed`` = remaining_commitment +
    invoiced (everything the contract holds against the budget now).
    """

    committed: Money
    encumbered: Money
    retention: Money
    withheld: Money
    pending: Money
    disbursed: Money
    invoiced: Money
    remaining_commitment: Money


def contract_figures_of(*, contract: Contract) -> ContractFigures:
    """The contract's figures from its ledger accounts (one aggregate query); zero for a draft."""
    figures = contract_figures(contract_id=contract.pk).get(contract.currency) or Figures.zero(contract.currency)
    invoiced = Money.sum(
        (figures.encumbered, figures.retention, figures.withheld, figures.pending, figures.disbursed), contract.currency
    )
    return ContractFigures(
        committed=figures.committed + invoiced,
        encumbered=figures.encumbered,
        retention=figures.retention,
        withheld=figures.withheld,
        pending=figures.pending,
        disbursed=figures.disbursed,
        invoiced=invoiced,
        remaining_commitment=figures.committed,
    )


# --------------------------------------------------------------------------------------------------------------
# Change orders
# --------------------------------------------------------------------------------------------------------------


def contract_change_orders(*, contract: Contract) -> QuerySet[ChangeOrder]:
    """A contract's change orders by number (read ``contract_get_visible`` first)."""
    return ChangeOrder.objects.filter(contract=contract).select_related("requested_by").order_by("number")


def change_order_list(*, viewer: Viewer, contract: Contract) -> QuerySet[ChangeOrder]:
    """The change orders of a contract ``viewer`` may read (checked again here), newest first."""
    contract_get_visible(viewer=viewer, contract_id=contract.pk)
    return contract_change_orders(contract=contract).order_by("-id")


def change_order_get_visible(*, viewer: Viewer, change_order_id: uuid.UUID | str) -> ChangeOrder:
    """The change order, if ``viewer`` may read its contract: ``change_order_not_found`` (404) or 403."""
    pk = _uuid(change_order_id)
    change_order = (
        None
        if pk is None
        else ChangeOrder.objects.select_related("contract__project", "contract__vendor", "requested_by")
        .filter(pk=pk)
        .first()
    )
    if change_order is None:
        raise ChangeOrderNotFound()
    contract = change_order.contract
    _read_check(viewer, project_id=contract.project_id, vendor_id=contract.vendor_id, not_found=ChangeOrderNotFound())
    return change_order


def change_order_lines(*, change_order: ChangeOrder) -> list[ChangeOrderLine]:
    """The change order's per-line deltas with their budget lines, in WBS-code order."""
    return list(change_order.lines.select_related("budget_line").order_by("budget_line__wbs_code"))


def change_order_plan(*, change_order: ChangeOrder) -> ApprovalPlan:
    """Where the change order's approval stands under the project's current matrix (stages, signers so far)."""
    return approval_item_plan(change_order_item(change_order))


def change_order_timeline(*, change_order: ChangeOrder) -> list[ApprovalDecision]:
    """Every decision on the change order, oldest first."""
    return approval_timeline(target_type=ApprovalTarget.CHANGE_ORDER, target_id=change_order.pk)


def change_order_typed_data(
    *, change_order: ChangeOrder, role: ProjectRole | str, decision: Decision | str, chain_id: int
) -> dict[str, Any]:
    """The EIP-712 message a signer signs for ``decision`` on the ``role`` stage of a pending change order.

    It carries the current matrix version (what ``change_order_decide`` verifies against). A decided change
    order has nothing left to sign: ``change_order_state_invalid`` (409).
    """
    if change_order.status != ChangeOrderStatus.PENDING:
        raise ChangeOrderStateInvalid(f"change order {change_order.number} is {change_order.status}")
    item = change_order_item(change_order)
    plan = approval_item_plan(item)
    return decision_typed_data(
        item=item,
        role=ProjectRole(role).value,
        decision=Decision(decision).value,
        chain_id=chain_id,
        matrix_version=plan.matrix_version,
    )
