"""The sidebar's menus, shaped by role (issue 8 §7): a vendor never sees finance menus.

* **Finance** (Finance home, Budget & contracts): holders of ``project.view_totals`` or ``budget.view`` on some
  project. The links point at the project in the page's URL when it is one of those, else the first of them by name.
* **Invoices**: ``invoice.view_all`` on some project (the invoices screens' ``web:invoices``, when installed).
* **Vendors**: ``vendor.view`` for some organization's vendors (the vendor master; vendor users' own vendor is not
  enough).
* **Vendor portal** (``web:portal``, when installed): users acting for a vendor (a ``VendorUser`` link or an active
  VENDOR role). A user who holds nothing but that sees only the portal.

* **Milestones** (``web:project-milestones``, the milestone board): holders of ``contract.view`` on some project,
  for the project in the page's URL when it is one of those, else the first of them by name.
* **Data room** (``web:project-dataroom``, the project's transaction folders with their receipts and hashes):
  holders of ``dataroom.read`` on some project (finance reviewer, treasurer, procurement, auditor, system
  auditors), for the project in the page's URL when it is one of those, else the first of them by name.
* **Work requests** and **Inbox** (the milestone flow's contractor pages) sit next to the vendor portal for users
  acting for a vendor; every signed-in user has the inbox bell in the top bar with the unread count
  (``unread``, from ``payor.notifications.selectors``).

The audit log item is :func:`payor.audit.selectors.audit_log_available`'s rule (``show_audit_log``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from payor.notifications.selectors import inbox_unread_count
from payor.projects.models import Project
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import Perm, projects_with_permission, system_roles_of
from payor.rbac.roles import ProjectRole
from payor.vendors.access import vendors_with_permission
from payor.vendors.models import VendorUser

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer


@dataclass(frozen=True)
class Navigation:
    finance: bool
    invoices_url: str | None
    vendors: bool
    portal_url: str | None
    vendor_only: bool
    project: Project | None
    milestones_project: Project | None = None
    dataroom_project: Project | None = None
    unread: int = 0

    @property
    def projects(self) -> bool:
        """The project list: everyone but a user who only acts for vendors."""
        return not self.vendor_only


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def finance_projects(user: Viewer) -> QuerySet[Project]:
    """The projects whose finance pages ``user`` may open (``project.view_totals`` or ``budget.view``), by name."""
    return Project.objects.filter(
        Q(pk__in=projects_with_permission(user, Perm.PROJECT_VIEW_TOTALS).values("pk"))
        | Q(pk__in=projects_with_permission(user, Perm.BUDGET_VIEW).values("pk"))
    ).order_by("name", "pk")


def navigation_for(request: HttpRequest) -> Navigation:
    user = request.user
    if not user.is_authenticated or user.pk is None:
        return Navigation(
            finance=False, invoices_url=None, vendors=False, portal_url=None, vendor_only=False, project=None
        )
    user_id = user.pk
    projects = finance_projects(user)
    finance = projects.exists()
    invoices = projects_with_permission(user, Perm.INVOICE_VIEW_ALL).exists()
    vendors = vendors_with_permission(user, Perm.VENDOR_VIEW).exists()
    acts_for_vendor = (
        VendorUser.objects.filter(user_id=user_id).exists()
        or ProjectRoleAssignment.objects.filter(
            user_id=user_id, role=ProjectRole.VENDOR, revoked_at__isnull=True
        ).exists()
    )
    other_roles = (
        ProjectRoleAssignment.objects.filter(user_id=user_id, revoked_at__isnull=True)
        .exclude(role=ProjectRole.VENDOR)
        .exists()
    )
    vendor_only = acts_for_vendor and not (finance or vendors or other_roles or system_roles_of(user))
    match = request.resolver_match
    current_project = match.kwargs.get("project_id") if match is not None else None
    board_projects = projects_with_permission(user, Perm.CONTRACT_VIEW).order_by("name", "pk")
    milestones_project = board_projects.filter(pk=current_project).first() if current_project else None
    if milestones_project is None:
        milestones_project = board_projects.first()
    dataroom_projects = projects_with_permission(user, Perm.DATAROOM_READ).order_by("name", "pk")
    dataroom_project = dataroom_projects.filter(pk=current_project).first() if current_project else None
    if dataroom_project is None:
        dataroom_project = dataroom_projects.first()
    project = None
    if finance:
        match = request.resolver_match
        current = match.kwargs.get("project_id") if match is not None else None
        if current is not None:
            project = projects.filter(pk=current).first()
        if project is None:
            project = projects.first()
    return Navigation(
        finance=finance,
        invoices_url=_url("web:invoices") if invoices else None,
        vendors=vendors,
        portal_url=_url("web:portal") if acts_for_vendor else None,
        vendor_only=vendor_only,
        project=project,
        milestones_project=milestones_project,
        dataroom_project=dataroom_project,
        unread=inbox_unread_count(viewer=user),
    )
