"""The finance screens (seed 004 screens 1 and 2): Project Finance Home, Budget & Contracts, contract detail.

Thin views: parse input, call one selector or service, render. Figures come from the ledger through the domain
selectors (:mod:`payor.reporting.selectors` for burn, runway and alerts); forms call the existing services and show
their refusals inline, with the same messages and codes the API returns, nothing written. Who sees what:

* the finance pages open to holders of ``project.view_totals`` or ``budget.view`` on the project (never a vendor
  user: 403); a project the viewer cannot see is a 404;
* the Lift Forward card, burn and runway need ``project.view_totals``; each alert group its own permission;
* the contract detail needs ``contract.view`` (a vendor user may read their own contract through the API and the
  vendor portal, not here: 403).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, cast

from babel.numbers import get_currency_symbol
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from payor.contracts.models import ChangeOrder, ChangeOrderStatus, Contract, ContractStatus
from payor.contracts.selectors import (
    change_order_get_visible,
    change_order_lines,
    change_order_plan,
    change_order_timeline,
    contract_allocations,
    contract_change_orders,
    contract_figures_of,
    contract_get_visible,
    contract_list,
)
from payor.contracts.services import (
    Allocation,
    change_order_create,
    change_order_decide,
    contract_close,
    contract_execute,
)
from payor.core.errors import DomainError, NotFound, PermissionDenied
from payor.core.money import Money, MoneyError
from payor.invoices.selectors import invoice_list
from payor.projects.budget import BudgetNode, wbs_path
from payor.projects.models import BudgetLine, Project
from payor.projects.selectors import budget_line_visible, budget_tree, project_get
from payor.projects.services import DESCRIPTION_MAX, budget_line_create, budget_line_update
from payor.rbac.permissions import Perm, has_permission, permissions_of, require_permission, roles_of
from payor.rbac.roles import ProjectRole
from payor.reporting.selectors import (
    BUDGET_ALERT_PERCENT,
    COI_ALERT_DAYS,
    RUNWAY_MONTHS,
    Burn,
    contract_line_figures,
    finance_home,
)
from payor.web.navigation import finance_projects, navigation_for

MONEY_INPUT_MAX_MINOR: Final = 10**17  # the API's bound (payor.api.schemas.MoneyIn)
CONTRACT_LIMIT: Final = 200
INVOICE_LIMIT: Final = 100


# --------------------------------------------------------------------------------------------------------------
# Shared helpers (the vendor screens use them too)
# --------------------------------------------------------------------------------------------------------------


def forbidden(request: HttpRequest, exc: PermissionDenied, *, title: str) -> HttpResponse:
    return render(request, "web/finance/forbidden.html", {"reason": exc.detail, "title": title}, status=403)


def invoice_url(invoice_id: uuid.UUID) -> str:
    """The invoice detail page (the invoices screens' ``web:invoice``; its path when that is not installed)."""
    try:
        return reverse("web:invoice", args=[invoice_id])
    except NoReverseMatch:
        return f"/invoices/{invoice_id}/"


def add_domain_error(form: forms.Form, exc: DomainError, fields: Mapping[str, str | None]) -> None:
    """Show a service's refusal on the form: on the field its code (or its ``field`` member) names, else on top.

    The message is the service's own ``detail`` (what the API's problem JSON says); the code rides along.
    """
    field = fields.get(exc.code)
    named = exc.extra.get("field")
    if field is None and isinstance(named, str) and named in form.fields:
        field = named
    form.add_error(field if field in form.fields else None, ValidationError(str(exc.detail), code=exc.code))


_AMOUNT_NOISE = re.compile(r"[\s,]")


class MoneyFormField(forms.CharField):
    """An amount in a fixed currency: ``12,500.00``, ``12500`` or ``$12,500.00`` (grouping commas and the currency
    symbol are allowed; never a float). ``signed`` lets a negative amount through (change-order deltas)."""

    def __init__(self, *, currency: str, signed: bool = False, **kwargs: Any) -> None:
        self.currency = currency
        self.signed = signed
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("autocomplete", "off")

    def clean(self, value: Any) -> Money | None:
        text = super().clean(value)
        if not text:
            return None
        symbol = get_currency_symbol(self.currency, locale="en_US")
        cleaned = _AMOUNT_NOISE.sub("", str(text)).replace(symbol, "", 1).removesuffix(self.currency).strip()
        try:
            money = Money.parse(cleaned, self.currency)
        except MoneyError:
            raise ValidationError(
                f"Enter an amount in {self.currency}, such as 12,500.00", code="money_invalid"
            ) from None
        if abs(money.minor) > MONEY_INPUT_MAX_MINOR:
            raise ValidationError("This amount is beyond the supported range", code="money_invalid")
        if money.is_negative and not self.signed:
            raise ValidationError("Enter an amount of zero or more", code="money_invalid")
        return money


# --------------------------------------------------------------------------------------------------------------
# Project Finance Home
# --------------------------------------------------------------------------------------------------------------

CHART_W: Final = 720
CHART_H: Final = 260
PAD_L: Final = 64
PAD_R: Final = 72
PAD_T: Final = 16
PAD_B: Final = 32
_NICE: Final = (1, 2, 25, 5)  # x 10^k (25 meaning 2.5)


def _nice_ceiling(minor: int, exponent: int) -> int:
    """The smallest 1/2/2.5/5 x 10^k amount (in minor units, at least one major unit) at or above ``minor``."""
    unit = 10**exponent
    step = unit
    while True:
        for nice in _NICE:
            candidate = step * nice // 10 if nice == 25 else step * nice
            if candidate >= minor:
                return candidate
        step *= 10


def _compact(minor: int, code: str, exponent: int) -> str:
    """``$12.5k``, ``$1.2M``, ``$900``: a chart axis label (exact integer arithmetic, one decimal, rounded down)."""
    symbol = get_currency_symbol(code, locale="en_US")
    prefix, suffix = (symbol, "") if symbol != code else ("", f" {code}")
    whole = minor // 10**exponent
    for size, letter in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if whole >= size:
            tenths = whole * 10 // size
            text = f"{tenths // 10}" if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"
            return f"{prefix}{text}{letter}{suffix}"
    return f"{prefix}{whole}{suffix}"


@dataclass(frozen=True)
class ChartBar:
    x: int
    y: int
    width: int
    height: int
    label: str
    label_x: int
    month: dt.date
    disbursed: Money
    cumulative: Money


def burn_chart(burn: Burn) -> dict[str, Any]:
    """Geometry of the burn chart (bars: paid per month, left axis; line: cumulative, right axis), in integers."""
    code = burn.currency
    exponent = Money.zero(code).exponent
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    # Four gridlines: the top is four "nice" steps (1, 2, 2.5 or 5 x 10^k, at least one major unit each).
    bars_top = 4 * _nice_ceiling(-(-max(burn.peak.minor, 1) // 4), exponent)
    line_top = 4 * _nice_ceiling(-(-max(burn.total.minor, 1) // 4), exponent)
    slot = plot_w // max(len(burn.months), 1)
    bar_w = max(slot * 3 // 5, 4)
    bars, points = [], []
    for index, month in enumerate(burn.months):
        height = max(month.disbursed.minor, 0) * plot_h // bars_top
        x = PAD_L + index * slot + (slot - bar_w) // 2
        bars.append(
            ChartBar(
                x=x,
                y=PAD_T + plot_h - height,
                width=bar_w,
                height=height,
                label=month.month.strftime("%b")
                if month.month.month != 1 or index == 0
                else month.month.strftime("%b %y"),
                label_x=x + bar_w // 2,
                month=month.month,
                disbursed=month.disbursed,
                cumulative=month.cumulative,
            )
        )
        cy = PAD_T + plot_h - max(month.cumulative.minor, 0) * plot_h // line_top
        points.append((x + bar_w // 2, cy))
    ticks = [
        {
            "y": PAD_T + plot_h - plot_h * step // 4,
            "left": _compact(bars_top * step // 4, code, exponent),
            "right": _compact(line_top * step // 4, code, exponent),
        }
        for step in range(5)
    ]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "plot_left": PAD_L,
        "plot_right": CHART_W - PAD_R,
        "plot_bottom": PAD_T + plot_h,
        "label_y": CHART_H - 10,
        "bars": bars,
        "line": " ".join(f"{x},{y}" for x, y in points),
        "points": points,
        "ticks": ticks,
        "empty": burn.peak.is_zero and burn.total.is_zero,
        "center_x": PAD_L + plot_w // 2,
        "center_y": PAD_T + plot_h // 2,
        "first": burn.months[0].month if burn.months else None,
        "last": burn.months[-1].month if burn.months else None,
    }


@login_required
@require_GET
def project_finance_view(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    try:
        home = finance_home(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Finance home")
    alerts = home.alerts
    context = {
        "home": home,
        "project": home.project,
        "alerts": alerts,
        "approval_rows": [(alert, invoice_url(alert.invoice.pk)) for alert in alerts.approvals],
        "failed_rows": [(d, invoice_url(d.invoice_id)) for d in alerts.failed_payments],
        "chart": burn_chart(home.burn) if home.burn is not None else None,
        "runway_months": RUNWAY_MONTHS,
        "coi_days": COI_ALERT_DAYS,
        "budget_percent": BUDGET_ALERT_PERCENT,
        # The project's transaction folders (receipts, approval records, deliverables), for dataroom.read holders.
        "dataroom_url": reverse("web:project-dataroom", args=[home.project.pk])
        if has_permission(request.user, Perm.DATAROOM_READ, project=home.project)
        else "",
    }
    return render(request, "web/finance/home.html", context)


# --------------------------------------------------------------------------------------------------------------
# Budget & Contracts
# --------------------------------------------------------------------------------------------------------------

_BUDGET_FIELDS: Final[dict[str, str | None]] = {
    "budget_wbs_code_invalid": "wbs_code",
    "budget_wbs_code_taken": "wbs_code",
    "budget_description_invalid": "description",
    "budget_cap_invalid": "cap",
    "budget_currency_mismatch": "cap",
    "budget_children_exceed_parent": "cap",
    "budget_cap_below_used": "cap",
    "budget_parent_invalid": "parent",
    "budget_line_has_activity": "parent",
    "budget_position_invalid": None,
}


class BudgetLineForm(forms.Form):
    parent = forms.ChoiceField(label="Parent line", required=False)
    wbs_code = forms.CharField(
        label="WBS code", max_length=100, help_text="A top-level line is one segment (3); a child adds one (3.1)."
    )
    description = forms.CharField(label="Description", max_length=DESCRIPTION_MAX)

    def __init__(self, *args: Any, project: Project, lines: list[BudgetLine], **kwargs: Any) -> None:
        kwargs["prefix"] = "new"
        super().__init__(*args, **kwargs)
        self.fields["cap"] = MoneyFormField(currency=project.currency, label=f"Cap ({project.currency})")
        cast(forms.ChoiceField, self.fields["parent"]).choices = [("", "— Top level —")] + [
            (str(line.pk), f"{line.wbs_code} · {line.description}") for line in lines if not line.is_archived
        ]


class BudgetLineEditForm(forms.Form):
    description = forms.CharField(label="Description", max_length=DESCRIPTION_MAX)

    def __init__(self, *args: Any, line: BudgetLine, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"description": line.description, "cap": line.cap.amount_str()})
        kwargs["prefix"] = f"line-{line.pk}"
        super().__init__(*args, **kwargs)
        self.fields["cap"] = MoneyFormField(currency=line.currency, label=f"Cap ({line.currency})")


def _budget_page(
    request: HttpRequest,
    project: Project,
    *,
    add_form: BudgetLineForm | None = None,
    edit_form: tuple[uuid.UUID, BudgetLineEditForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    viewer = request.user
    try:
        tree = budget_tree(viewer=viewer, project=project)  # type: ignore[arg-type]
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Budget & contracts")
    perms = permissions_of(viewer, project=project)
    can_manage = Perm.BUDGET_MANAGE in perms
    lines = [node.line for root in tree.roots for node in root.walk()]
    edit_forms: dict[uuid.UUID, BudgetLineEditForm] = {}
    if can_manage:
        edit_forms = {line.pk: BudgetLineEditForm(line=line) for line in lines if not line.is_archived}
        if edit_form is not None:
            edit_forms[edit_form[0]] = edit_form[1]
    open_codes: set[str] = set()
    if edit_form is not None:
        code = next((line.wbs_code for line in lines if line.pk == edit_form[0]), None)
        open_codes = set(wbs_path(code)) if code else set()
    contracts = []
    if Perm.CONTRACT_VIEW in perms:
        for contract in contract_list(viewer=viewer, project_id=project.pk).order_by("number")[:CONTRACT_LIMIT]:
            contracts.append((contract, contract_figures_of(contract=contract)))
    context = {
        "project": project,
        "tree": tree,
        "rows": _tree_rows(tree.roots, edit_forms),
        "can_manage": can_manage,
        "add_form": add_form
        if add_form is not None
        else (BudgetLineForm(project=project, lines=lines) if can_manage else None),
        "add_open": add_form is not None,
        "open_codes": open_codes,
        "contracts": contracts,
        "show_contracts": Perm.CONTRACT_VIEW in perms,
        "can_contract": Perm.CONTRACT_MANAGE in perms,
        "alert_percent": BUDGET_ALERT_PERCENT,
    }
    return render(request, "web/finance/budget.html", context, status=status)


@dataclass(frozen=True)
class TreeRow:
    node: BudgetNode
    depth: int
    form: BudgetLineEditForm | None
    children: list[TreeRow]

    @property
    def percent_bar(self) -> Decimal:
        """``percent_used`` clamped to 0-100 for the bar's width."""
        used = self.node.figures.percent_used
        if used is None:
            return Decimal(0)
        return min(max(used, Decimal(0)), Decimal(100))

    @property
    def tone(self) -> str:
        used = self.node.figures.percent_used
        if used is None:
            return "secondary"
        if used > 100:
            return "red"
        if used > BUDGET_ALERT_PERCENT:
            return "orange"
        return "primary"


def _tree_rows(
    nodes: list[BudgetNode], forms_by_line: Mapping[uuid.UUID, BudgetLineEditForm], depth: int = 0
) -> list[TreeRow]:
    return [
        TreeRow(
            node=node,
            depth=depth,
            form=forms_by_line.get(node.line.pk),
            children=_tree_rows(node.children, forms_by_line, depth + 1),
        )
        for node in nodes
    ]


def _project(request: HttpRequest, project_id: uuid.UUID) -> Project:
    try:
        return project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    except NotFound as exc:
        raise Http404(str(exc)) from exc


@login_required
@require_GET
def project_budget_view(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    return _budget_page(request, _project(request, project_id))


@login_required
@require_POST
def budget_line_create_view(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = _project(request, project_id)
    try:
        require_permission(request.user, Perm.BUDGET_MANAGE, project=project)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Budget & contracts")
    lines = list(BudgetLine.objects.filter(project=project).order_by("wbs_code"))
    form = BudgetLineForm(request.POST, project=project, lines=lines)
    if form.is_valid():
        data = form.cleaned_data
        try:
            line = budget_line_create(
                actor=request.user,  # type: ignore[arg-type]
                project=project,
                wbs_code=data["wbs_code"],
                description=data["description"],
                cap=data["cap"],
                parent_id=data["parent"] or None,
                request=request,
            )
        except DomainError as exc:
            add_domain_error(form, exc, _BUDGET_FIELDS)
            return _budget_page(request, project, add_form=form, status=exc.status)
        messages.success(request, f"Budget line {line.wbs_code} · {line.description} added.")
        return redirect(f"{reverse('web:project-budget', args=[project.pk])}#line-{line.pk}")
    return _budget_page(request, project, add_form=form, status=422)


@login_required
@require_POST
def budget_line_update_view(request: HttpRequest, line_id: uuid.UUID) -> HttpResponse:
    try:
        line = budget_line_visible(viewer=request.user, line_id=line_id)  # type: ignore[arg-type]
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    project = line.project
    try:
        require_permission(request.user, Perm.BUDGET_MANAGE, project=project)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Budget & contracts")
    form = BudgetLineEditForm(request.POST, line=line)
    if form.is_valid():
        try:
            updated = budget_line_update(
                actor=request.user,  # type: ignore[arg-type]
                line=line,
                description=form.cleaned_data["description"],
                cap=form.cleaned_data["cap"],
                request=request,
            )
        except DomainError as exc:
            add_domain_error(form, exc, _BUDGET_FIELDS)
            return _budget_page(request, project, edit_form=(line.pk, form), status=exc.status)
        messages.success(request, f"Budget line {updated.wbs_code} saved: cap {updated.cap.format()}.")
        return redirect(f"{reverse('web:project-budget', args=[project.pk])}#line-{line.pk}")
    return _budget_page(request, project, edit_form=(line.pk, form), status=422)


# --------------------------------------------------------------------------------------------------------------
# Contract detail
# --------------------------------------------------------------------------------------------------------------

_CHANGE_ORDER_FIELDS: Final[dict[str, str | None]] = {"change_order_release_exceeded": None}


class ChangeOrderForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, contract: Contract, lines: list[BudgetLine], **kwargs: Any) -> None:
        kwargs["prefix"] = "co"
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"delta_{line.pk}"] = MoneyFormField(
                currency=contract.currency,
                signed=True,
                required=False,
                label=f"{line.wbs_code} · {line.description}",
                help_text="Positive adds scope, negative releases it",
            )

    def delta_fields(self) -> list[forms.BoundField]:
        return [self[f"delta_{line.pk}"] for line in self.lines]

    def allocations(self) -> list[Allocation]:
        out = []
        for line in self.lines:
            delta = self.cleaned_data.get(f"delta_{line.pk}")
            if delta is not None and not delta.is_zero:
                out.append(Allocation(budget_line_id=line.pk, amount=delta))
        return out


class ChangeOrderDecisionForm(forms.Form):
    decision = forms.ChoiceField(label="Decision", choices=[("approved", "Approve"), ("rejected", "Reject")])
    note = forms.CharField(label="Note", required=False, max_length=4000, help_text="Required to reject")

    def __init__(self, *args: Any, change_order: ChangeOrder, **kwargs: Any) -> None:
        kwargs["prefix"] = f"co-{change_order.number}"
        super().__init__(*args, **kwargs)


#: Stages decided in a wallet (an EIP-712 signature): through the API, not a web form.
_SIGNED_STAGES: Final = frozenset({ProjectRole.DAO_MULTISIG})


def _contract(request: HttpRequest, contract_id: uuid.UUID) -> Contract:
    """The contract for the finance screens: readable and ``contract.view`` there (vendor users: 403)."""
    try:
        contract = contract_get_visible(viewer=request.user, contract_id=contract_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    require_permission(request.user, Perm.CONTRACT_VIEW, project=contract.project_id)
    return contract


def _change_order_lines(contract: Contract) -> list[BudgetLine]:
    """Leaf lines a change order may move: the contract's allocated lines, then the project's other open leaves."""
    allocated = [allocation.budget_line for allocation in contract_allocations(contract=contract)]
    ids = {line.pk for line in allocated}
    parents = set(
        BudgetLine.objects.filter(project_id=contract.project_id, parent__isnull=False).values_list(
            "parent_id", flat=True
        )
    )
    others = [
        line
        for line in BudgetLine.objects.filter(project_id=contract.project_id, archived_at__isnull=True).order_by(
            "wbs_code"
        )
        if line.pk not in ids and line.pk not in parents
    ]
    return allocated + others


def _contract_page(
    request: HttpRequest,
    contract: Contract,
    *,
    change_order_form: ChangeOrderForm | None = None,
    decision: tuple[uuid.UUID, ChangeOrderDecisionForm] | None = None,
    action_error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    viewer = request.user
    perms = permissions_of(viewer, project=contract.project_id)
    can_manage = Perm.CONTRACT_MANAGE in perms
    by_line = contract_line_figures(contract=contract)
    allocations = [
        (allocation, by_line.get(allocation.budget_line_id)) for allocation in contract_allocations(contract=contract)
    ]
    my_roles = roles_of(viewer, contract.project_id)
    change_orders = []
    for change_order in contract_change_orders(contract=contract):
        try:
            plan = (
                change_order_plan(change_order=change_order)
                if change_order.status == ChangeOrderStatus.PENDING
                else None
            )
        except DomainError:
            plan = None
        stage = plan.next_stage if plan is not None else None
        form = None
        if stage is not None and stage.role in my_roles and stage.role not in _SIGNED_STAGES:
            if decision is not None and decision[0] == change_order.pk:
                form = decision[1]
            else:
                form = ChangeOrderDecisionForm(change_order=change_order)
        change_orders.append(
            {
                "co": change_order,
                "lines": change_order_lines(change_order=change_order),
                "plan": plan,
                "stage": stage,
                "decision_form": form,
                "wallet_stage": stage is not None and stage.role in my_roles and stage.role in _SIGNED_STAGES,
                "timeline": change_order_timeline(change_order=change_order),
            }
        )
    invoices = []
    if Perm.INVOICE_VIEW_ALL in perms:
        invoices = [
            (invoice, invoice_url(invoice.pk))
            for invoice in invoice_list(viewer=viewer, contract_id=contract.pk)[:INVOICE_LIMIT]
        ]
    if can_manage and change_order_form is None and contract.status == ContractStatus.EXECUTED:
        change_order_form = ChangeOrderForm(contract=contract, lines=_change_order_lines(contract))
    context = {
        "contract": contract,
        "project": contract.project,
        "figures": contract_figures_of(contract=contract),
        "allocations": allocations,
        "change_orders": change_orders,
        "invoices": invoices,
        "show_invoices": Perm.INVOICE_VIEW_ALL in perms,
        "can_manage": can_manage,
        "change_order_form": change_order_form,
        "change_order_open": change_order_form is not None and change_order_form.is_bound,
        "action_error": action_error,
    }
    return render(request, "web/finance/contract.html", context, status=status)


@login_required
@require_GET
def contract_detail_view(request: HttpRequest, contract_id: uuid.UUID) -> HttpResponse:
    try:
        contract = _contract(request, contract_id)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Contract")
    return _contract_page(request, contract)


_ACTIONS: Final = {
    "execute": (contract_execute, "executed: its allocations are committed in the ledger"),
    "close": (contract_close, "closed: what was still committed is available again"),
}


@login_required
@require_POST
def contract_action_view(request: HttpRequest, contract_id: uuid.UUID, action: str) -> HttpResponse:
    if action not in _ACTIONS:
        raise Http404("No such action")
    service, done = _ACTIONS[action]
    try:
        contract = _contract(request, contract_id)
        contract = service(actor=request.user, contract=contract, request=request)  # type: ignore[arg-type]
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Contract")
    except DomainError as exc:
        return _contract_page(request, _contract(request, contract_id), action_error=exc, status=exc.status)
    messages.success(request, f"{contract.number} {done}.")
    return redirect("web:contract", contract_id=contract.pk)


@login_required
@require_POST
def change_order_create_view(request: HttpRequest, contract_id: uuid.UUID) -> HttpResponse:
    try:
        contract = _contract(request, contract_id)
        require_permission(request.user, Perm.CONTRACT_MANAGE, project=contract.project_id)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Contract")
    form = ChangeOrderForm(request.POST, contract=contract, lines=_change_order_lines(contract))
    if form.is_valid():
        try:
            change_order = change_order_create(
                actor=request.user,  # type: ignore[arg-type]
                contract=contract,
                reason=form.cleaned_data["reason"],
                lines=form.allocations(),
                request=request,
            )
        except DomainError as exc:
            add_domain_error(form, exc, _CHANGE_ORDER_FIELDS)
            return _contract_page(request, contract, change_order_form=form, status=exc.status)
        messages.success(
            request,
            f"Change order {change_order.number} proposed ({change_order.delta.format()}): it now goes through the "
            "approval matrix.",
        )
        return redirect(f"{reverse('web:contract', args=[contract.pk])}#co-{change_order.number}")
    return _contract_page(request, contract, change_order_form=form, status=422)


@login_required
@require_POST
def change_order_decide_view(request: HttpRequest, change_order_id: uuid.UUID) -> HttpResponse:
    """Approve or reject the next stage of a pending change order (the stage's role is the plan's; DAO multisig
    stages are signed in a wallet through the API)."""
    try:
        change_order = change_order_get_visible(viewer=request.user, change_order_id=change_order_id)
        contract = _contract(request, change_order.contract_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Contract")
    form = ChangeOrderDecisionForm(request.POST, change_order=change_order)
    if not form.is_valid():
        return _contract_page(request, contract, decision=(change_order.pk, form), status=422)
    role = ProjectRole.PROJECT_MANAGER
    try:
        stage = change_order_plan(change_order=change_order).next_stage
        role = stage.role if stage is not None else role  # a complete plan: the service refuses it
        change_order = change_order_decide(
            actor=request.user,  # type: ignore[arg-type]
            change_order=change_order,
            role=role,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except DomainError as exc:
        add_domain_error(form, exc, {"approval_note_required": "note"})
        return _contract_page(request, contract, decision=(change_order.pk, form), status=exc.status)
    verb = "approved" if form.cleaned_data["decision"] == "approved" else "rejected"
    applied = " The change is applied." if change_order.status == ChangeOrderStatus.APPROVED else ""
    messages.success(request, f"CO-{change_order.number}: you {verb} the {role.label.lower()} stage.{applied}")
    return redirect(f"{reverse('web:contract', args=[contract.pk])}#co-{change_order.number}")


# --------------------------------------------------------------------------------------------------------------
# Landing
# --------------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def landing_view(request: HttpRequest) -> HttpResponse:
    """``/``: a vendor's user lands in the vendor portal, someone with the finance pages of exactly one project on
    its finance home, everyone else on the project list (the menus are :mod:`payor.web.navigation`'s)."""
    nav = navigation_for(request)
    if nav.vendor_only and nav.portal_url:
        return redirect(nav.portal_url)
    if nav.finance:
        projects = list(finance_projects(request.user)[:2])
        if len(projects) == 1:
            return redirect("web:project-finance", project_id=projects[0].pk)
    return redirect("web:projects")
