"""The Invoices Queue and Invoice Detail screens (seed 004 screens 3 and 4): parse, call the invoices
selectors/services (the same ones the API calls), render.

* ``/invoices/`` — the queue: filters (status, vendor, project, due date, "awaiting me") as GET parameters,
  live through HTMX like the projects list; sorting; page pagination; totals of the filtered set per currency;
  a bulk "approve my stage" that runs ``invoice_decide`` once per selected invoice, with every control, and
  reports per invoice what happened (the result survives the redirect in the session).
* ``/invoices/<id>/`` — the detail: figures, SOV lines, coding, attachments (preview), approval plan and
  timeline, funds availability, ledger effects, payments, and the viewer's actions. A decision that the
  domain refuses re-renders the page with the error's message and code (HTTP status of the error); nothing is
  written then (the service's transaction rolled back).
* ``/invoices/<id>/attachments/<id>/`` — the audited download (``?inline=1``: PDF and images shown in the
  page, framed by this site only).

Who sees what is the selectors' rule (``invoice_not_found`` for anyone else, as a 404 page).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Final

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, QuerySet, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from payor.accounts.models import User, Wallet
from payor.approvals.decisions import SIGNED_ROLES
from payor.approvals.models import Decision
from payor.core.errors import DomainError, NotFound, ValidationFailed
from payor.core.money import Money
from payor.invoices import selectors, services
from payor.invoices.errors import InvoiceNotFound
from payor.invoices.models import Invoice, InvoiceStatus
from payor.payments.selectors import disbursement_list
from payor.projects.models import Project
from payor.rbac.permissions import Perm, has_permission, projects_with_permission, roles_of, vendor_ids_for
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor
from payor.web.receipts import receipt_links, receipts_by

PAGE_SIZE: Final = 25
#: At most this many invoices in one bulk approval.
BULK_MAX: Final = 100
#: "Awaiting me" looks at most at this many invoices in review (each needs its approval plan).
AWAITING_SCAN: Final = 500
FILTER_OPTIONS: Final = 300
BULK_SESSION_KEY: Final = "payor.invoices.bulk_results"
#: Sort keys -> ordering (ties broken by newest first).
SORTS: Final[dict[str, tuple[Any, ...]]] = {
    "newest": ("-id",),
    "due": (F("due_on").asc(nulls_last=True), "-id"),
    "-due": (F("due_on").desc(nulls_last=True), "-id"),
    "total": ("total", "-id"),
    "-total": ("-total", "-id"),
    "number": ("number", "-id"),
    "-number": ("-number", "-id"),
    "status": ("status", "-id"),
    "-status": ("-status", "-id"),
}
SORT_LABELS: Final = {
    "newest": "Newest first",
    "due": "Due date (soonest)",
    "-due": "Due date (latest)",
    "total": "Total (smallest)",
    "-total": "Total (largest)",
    "number": "Number (A to Z)",
    "-number": "Number (Z to A)",
    "status": "Status (A to Z)",
    "-status": "Status (Z to A)",
}
FILTER_KEYS: Final = ("status", "vendor", "project", "due_from", "due_to", "awaiting", "sort")
#: The approver roles, by the permission that lets them approve their stage.
APPROVER_PERMS: Final = (
    Perm.INVOICE_APPROVE_PM,
    Perm.INVOICE_APPROVE_FINANCE,
    Perm.INVOICE_APPROVE_TREASURER,
    Perm.INVOICE_COSIGN_MULTISIG,
)
DECISIONS: Final = {"approved": Decision.APPROVED, "rejected": Decision.REJECTED, "returned": Decision.RETURNED}


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def error_context(exc: DomainError) -> dict[str, Any]:
    """What the inline error block shows of a domain error (the API's problem fields)."""
    return {"code": exc.code, "detail": exc.detail, "title": exc.title, "status": exc.status, "extra": exc.extra}


# --------------------------------------------------------------------------------------------------------------
# The queue
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    statuses: list[str]
    vendor_id: uuid.UUID | None
    project_id: uuid.UUID | None
    due_after: dt.date | None
    due_before: dt.date | None
    awaiting: bool
    sort: str


def _form(params: Any) -> dict[str, str]:
    return {key: str(params.get(key, "")).strip()[:64] for key in FILTER_KEYS}


def _parse_uuid(value: str, *, field: str, label: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(f"{label}: not a valid choice", field=field) from None


def _parse_date(value: str, *, field: str, label: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{label}: enter a date as YYYY-MM-DD", field=field) from None


def queue_filter_parse(form: dict[str, str]) -> QueueFilter:
    status = form["status"]
    if status and status not in InvoiceStatus.values:
        raise ValidationFailed(f"Status: {status[:32]} is not a status", field="status")
    due_after = _parse_date(form["due_from"], field="due_from", label="Due from")
    due_before = _parse_date(form["due_to"], field="due_to", label="Due to")
    if due_after and due_before and due_before < due_after:
        raise ValidationFailed("Due to: the range ends before it starts", field="due_to")
    return QueueFilter(
        statuses=[status] if status else [],
        vendor_id=_parse_uuid(form["vendor"], field="vendor", label="Vendor"),
        project_id=_parse_uuid(form["project"], field="project", label="Project"),
        due_after=due_after,
        due_before=due_before,
        awaiting=form["awaiting"] in {"1", "on", "true"},
        sort=form["sort"] if form["sort"] in SORTS else "newest",
    )


def awaiting_ids(viewer: User, invoices: QuerySet[Invoice]) -> set[uuid.UUID]:
    """The invoices in review whose next stage ``viewer`` may fill now: they hold the stage's role with a limit
    covering the total, did not submit it nor fill another stage of it, and do not act for its vendor."""
    projects = set()
    for perm in APPROVER_PERMS:
        projects |= set(projects_with_permission(viewer, perm).values_list("pk", flat=True))
    candidates = invoices.filter(status__in=InvoiceStatus.in_review(), project_id__in=projects).select_related(
        "project", "submitted_by"
    )[:AWAITING_SCAN]
    mine: set[uuid.UUID] = set()
    for invoice in candidates:
        if invoice.vendor_id in vendor_ids_for(viewer, invoice.project_id):
            continue
        plan = selectors.invoice_approval_plan(invoice=invoice, with_eligible=True)
        stage = None if plan is None else plan.next_stage
        if stage is not None and any(user.pk == viewer.pk for user in stage.eligible):
            mine.add(invoice.pk)
    return mine


def _totals(invoices: QuerySet[Invoice]) -> list[dict[str, Any]]:
    rows = (
        invoices.order_by().values("currency").annotate(count=Count("id"), total=Sum("total"), net=Sum("net_payable"))
    )
    return [
        {
            "currency": row["currency"],
            "count": row["count"],
            "total": Money.of_minor(int(row["total"] or 0), row["currency"]),
            "net_payable": Money.of_minor(int(row["net"] or 0), row["currency"]),
        }
        for row in sorted(rows, key=lambda row: row["currency"])
    ]


def _page_number(value: str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


def _queue_context(request: HttpRequest, form: dict[str, str]) -> dict[str, Any]:
    viewer = _viewer(request)
    context: dict[str, Any] = {"form": form, "error": None, "page": None, "rows": [], "totals": []}
    try:
        filters = queue_filter_parse(form)
        invoices = selectors.invoice_list(
            viewer=viewer,
            statuses=filters.statuses or None,
            vendor_id=filters.vendor_id,
            project_id=filters.project_id,
            due_before=filters.due_before,
            due_after=filters.due_after,
        )
    except DomainError as exc:
        context["error"] = error_context(exc)
        return context
    # "Awaiting me" needs each candidate's approval plan: over the whole set when filtering by it, else only for
    # the page's rows (their "Your stage" badge).
    mine = awaiting_ids(viewer, invoices) if filters.awaiting else set()
    if filters.awaiting:
        invoices = invoices.filter(pk__in=mine)
    invoices = invoices.select_related("project").order_by(*SORTS[filters.sort])
    page = Paginator(invoices, PAGE_SIZE).get_page(_page_number(request.GET.get("page")))
    if not filters.awaiting:
        mine = awaiting_ids(viewer, invoices.filter(pk__in=[invoice.pk for invoice in page.object_list]))
    context.update(
        page=page,
        rows=[{"invoice": invoice, "mine": invoice.pk in mine} for invoice in page.object_list],
        totals=_totals(invoices),
        filtered=any(form[key] for key in FILTER_KEYS if key != "sort"),
        query=urlencode({key: form[key] for key in FILTER_KEYS if form[key]}),
    )
    return context


def _filter_options(viewer: User) -> dict[str, Any]:
    visible = selectors.invoice_list(viewer=viewer)
    return {
        "vendors": list(
            Vendor.objects.filter(pk__in=visible.values("vendor_id")).order_by("name", "pk")[:FILTER_OPTIONS]
        ),
        "projects": list(
            Project.objects.filter(pk__in=visible.values("project_id")).order_by("name", "pk")[:FILTER_OPTIONS]
        ),
    }


def _vendor_only(viewer: User) -> bool:
    """A user who reads invoices only as a vendor's user (no ``invoice.view_all`` anywhere): the portal is theirs."""
    return not projects_with_permission(viewer, Perm.INVOICE_VIEW_ALL).exists() and bool(
        projects_with_permission(viewer, Perm.INVOICE_VIEW_OWN).exists()
    )


@login_required
@require_GET
def invoice_list_view(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    if _vendor_only(viewer):
        return redirect("web:portal")
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    form = _form(request.GET)
    context = _queue_context(request, form)
    if not partial:
        context.update(_filter_options(viewer))
        context["bulk_results"] = request.session.pop(BULK_SESSION_KEY, None)
    context.update(
        statuses=InvoiceStatus.choices,
        sorts=SORT_LABELS.items(),
        bulk_max=BULK_MAX,
    )
    template = "web/invoices/list.html#invoice-rows" if partial else "web/invoices/list.html"
    status = 400 if context["error"] is not None and not partial else 200  # htmx swaps only 2xx answers
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return default


def bulk_approve(viewer: User, invoice_ids: list[str], request: HttpRequest) -> list[dict[str, Any]]:
    """Approve the viewer's stage of each invoice through ``invoice_decide`` (every control applies), one
    transaction each: a refusal writes nothing for that invoice and never stops the others."""
    results: list[dict[str, Any]] = []
    for raw in invoice_ids:
        result: dict[str, Any] = {"id": raw, "number": raw[:40], "outcome": "refused"}
        try:
            invoice = selectors.invoice_get_visible(viewer=viewer, invoice_id=raw)
            result["number"] = invoice.number
            result["url"] = reverse("web:invoice", args=[invoice.pk])
            plan = selectors.invoice_approval_plan(invoice=invoice, with_eligible=False)
            stage = None if plan is None or invoice.status not in InvoiceStatus.in_review() else plan.next_stage
            if stage is not None and stage.role in SIGNED_ROLES:
                result.update(
                    outcome="skipped",
                    code="approval_signature_required",
                    detail="The DAO multisig stage is signed in a wallet: open the invoice to sign it.",
                )
            else:
                role = stage.role if stage is not None else ProjectRole.PROJECT_MANAGER
                invoice = services.invoice_decide(
                    actor=viewer, invoice=invoice, role=role, decision=Decision.APPROVED, request=request
                )
                result.update(
                    outcome="approved",
                    status=invoice.status,
                    detail=f"{role.label} stage approved; the invoice is {invoice.get_status_display().lower()}.",
                )
        except DomainError as exc:
            result.update(code=exc.code, detail=exc.detail)
        results.append(result)
    return results


@login_required
@require_POST
def invoice_bulk_approve_view(request: HttpRequest) -> HttpResponseRedirect:
    ids = list(dict.fromkeys(value.strip()[:64] for value in request.POST.getlist("invoice") if value.strip()))
    target = _safe_next(request, reverse("web:invoices"))
    if not ids:
        messages.warning(request, "Select at least one invoice to approve.")
        return HttpResponseRedirect(target)
    if len(ids) > BULK_MAX:
        messages.error(request, f"Select at most {BULK_MAX} invoices at a time.")
        return HttpResponseRedirect(target)
    results = bulk_approve(_viewer(request), ids, request)
    request.session[BULK_SESSION_KEY] = {
        "results": results,
        "approved": sum(1 for r in results if r["outcome"] == "approved"),
        "refused": sum(1 for r in results if r["outcome"] == "refused"),
        "skipped": sum(1 for r in results if r["outcome"] == "skipped"),
    }
    return HttpResponseRedirect(target)


# --------------------------------------------------------------------------------------------------------------
# The detail
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundsRow:
    label: str
    before: Money
    after: Money
    coded: Money
    fits: bool


def funds_rows(detail: selectors.InvoiceDetail) -> dict[str, Any] | None:
    """The funds-availability widget's before/after figures, from :func:`selectors.invoice_funds`: an invoice takes
    each coded line's gross from the contract's remaining commitment and its fees from available. Once encumbered,
    "before" adds back what it took; before that, "after" is what submitting would leave."""
    funds = detail.funds
    if funds is None:
        return None
    held = funds.encumbered
    rows = [
        FundsRow(
            label=f"{line.budget_line.wbs_code} {line.budget_line.description}",
            before=line.remaining_commitment + line.coded if held else line.remaining_commitment,
            after=line.remaining_commitment if held else line.remaining_commitment - line.coded,
            coded=line.coded,
            fits=line.fits,
        )
        for line in funds.lines
    ]
    rejected = funds.covered is None
    return {
        "funds": funds,
        "lines": rows,
        "available_before": funds.bucket_available + funds.fees if held else funds.bucket_available,
        "available_after": funds.bucket_available if held or rejected else funds.bucket_available - funds.fees,
        "rejected": rejected,
    }


def _chain_id(viewer: User) -> int:
    wallet = Wallet.objects.filter(user=viewer).order_by("linked_at").first()
    return int(wallet.chain_id) if wallet is not None and wallet.chain_id else 1


def _actions(viewer: User, detail: selectors.InvoiceDetail) -> dict[str, Any]:
    """Which action forms the page offers the viewer (the services decide; these only shape the page)."""
    invoice, plan = detail.invoice, detail.plan
    actions: dict[str, Any] = {"stage": None, "decide": False, "signed": False, "review": False}
    if not detail.view.internal:
        own = invoice.vendor_id in vendor_ids_for(viewer, invoice.project_id)
        actions["withdraw"] = own and invoice.status in InvoiceStatus.in_review()
        actions["submit"] = own and invoice.status == InvoiceStatus.DRAFT
        return actions
    stage = plan.next_stage if plan is not None and invoice.status in InvoiceStatus.in_review() else None
    if stage is None:
        return actions
    actions["stage"] = stage
    if any(user.pk == viewer.pk for user in stage.signers):  # a multisig signer who signed already
        actions["signed_already"] = True
        return actions
    held = stage.role in roles_of(viewer, invoice.project_id)
    actions["own_submission"] = invoice.submitted_by_id == viewer.pk
    actions["decide"] = held
    actions["signed"] = held and stage.role in SIGNED_ROLES
    actions["review"] = held and invoice.status == InvoiceStatus.SUBMITTED
    if actions["signed"]:
        chain_id = _chain_id(viewer)
        actions["chain_id"] = chain_id
        actions["typed_data"] = selectors.invoice_typed_data(
            invoice=invoice, role=stage.role, decision=Decision.APPROVED, chain_id=chain_id
        )
    return actions


def _detail_context(request: HttpRequest, invoice_id: uuid.UUID) -> dict[str, Any]:
    viewer = _viewer(request)
    try:
        detail = selectors.invoice_detail(viewer=viewer, invoice_id=invoice_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    invoice = detail.invoice
    payments = list(disbursement_list(viewer=viewer, invoice_id=invoice.pk)) if invoice.status != "draft" else []
    # Each executed payment's data-room folder (dataroom.read holders) and the contractor's own receipts.
    dataroom_url = (
        reverse("web:project-dataroom", args=[invoice.project_id])
        if payments and has_permission(viewer, Perm.DATAROOM_READ, project=invoice.project_id)
        else ""
    )
    own = receipt_links(viewer, project_ids={invoice.project_id}) if payments else []
    receipts = receipts_by(own, "disbursement_id")
    return {
        "detail": detail,
        "invoice": invoice,
        "view": detail.view,
        "lines": [
            {
                "line": line,
                "billed": line.previous + line.this_period,
                "balance": line.scheduled_value - line.previous - line.this_period,
            }
            for line in detail.lines
        ],
        "funds": funds_rows(detail),
        "actions": _actions(viewer, detail),
        "payments": [
            {
                "payment": payment,
                "folder_url": f"{dataroom_url}#folder-{payment.pk}" if dataroom_url and payment.executed_on else "",
                "receipts": receipts.get(payment.pk, []),
            }
            for payment in payments
        ],
        "submitter": detail.view.shows(invoice.submitted_by),
        "in_review": invoice.status in InvoiceStatus.in_review(),
        "error": None,
        "posted": {},
    }


@login_required
@require_GET
def invoice_detail_view(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    return render(request, "web/invoices/detail.html", _detail_context(request, invoice_id))


def _decide(request: HttpRequest, invoice: Invoice) -> tuple[Invoice, str]:
    """Run the posted action through its service; returns the invoice and a success message."""
    viewer = _viewer(request)
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")
    if action == "submit":
        invoice = services.invoice_submit(actor=viewer, invoice=invoice, request=request)
        return invoice, f"{invoice.number} submitted for approval."
    if action == "withdraw":
        invoice = services.invoice_withdraw(actor=viewer, invoice=invoice, note=note, request=request)
        return invoice, f"{invoice.number} withdrawn: it is a draft again."
    try:
        role = ProjectRole(request.POST.get("role", ""))
    except ValueError:
        raise ValidationFailed("Choose the stage you act for", field="role") from None
    if action == "review":
        invoice = services.invoice_review_start(actor=viewer, invoice=invoice, role=role, request=request)
        return invoice, f"You took {invoice.number} into review."
    if action not in DECISIONS:
        raise ValidationFailed("Unknown action", field="action")
    chain_id: int | None = None
    signature: str | None = None
    if role in SIGNED_ROLES:
        raw_chain = request.POST.get("chain_id", "").strip()
        if raw_chain:
            if not raw_chain.isdigit() or not 1 <= int(raw_chain) <= 2**63 - 1:
                raise ValidationFailed("Chain id: a positive whole number", field="chain_id")
            chain_id = int(raw_chain)
        signature = request.POST.get("signature", "").strip()[:200] or None
    invoice = services.invoice_decide(
        actor=viewer,
        invoice=invoice,
        role=role,
        decision=DECISIONS[action],
        note=note,
        chain_id=chain_id,
        signature=signature,
        request=request,
    )
    done = {"approved": "approved your stage of", "rejected": "rejected", "returned": "returned for revision"}[action]
    return invoice, f"You {done} {invoice.number}; it is now {invoice.get_status_display().lower()}."


@login_required
@require_POST
def invoice_action_view(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    try:
        invoice = selectors.invoice_get_visible(viewer=_viewer(request), invoice_id=invoice_id)
    except InvoiceNotFound as exc:
        raise Http404(str(exc)) from exc
    try:
        invoice, message = _decide(request, invoice)
    except DomainError as exc:
        context = _detail_context(request, invoice_id)
        context["error"] = error_context(exc)
        context["posted"] = {
            key: request.POST.get(key, "")[:4000] for key in ("action", "note", "signature", "chain_id")
        }
        return render(request, "web/invoices/detail.html", context, status=exc.status)
    messages.success(request, message)
    return redirect("web:invoice", invoice_id=invoice.pk)


#: Attachment types the page may show inline (anything else is always a download).
INLINE_TYPES: Final = frozenset({"application/pdf", "image/png", "image/jpeg"})


@login_required
@require_GET
@xframe_options_sameorigin
def invoice_attachment_view(
    request: HttpRequest, invoice_id: uuid.UUID, attachment_id: uuid.UUID
) -> FileResponse | HttpResponse:
    viewer = _viewer(request)
    try:
        invoice = selectors.invoice_get_visible(viewer=viewer, invoice_id=invoice_id)
        attachment = selectors.invoice_attachment_get(viewer=viewer, invoice=invoice, attachment_id=attachment_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    try:
        handle = selectors.invoice_attachment_download(viewer=viewer, attachment=attachment, request=request)
    except DomainError as exc:  # the stored file is missing or altered: say so, serve nothing
        return HttpResponse(f"{exc.detail} ({exc.code})\n", status=exc.status, content_type="text/plain; charset=utf-8")
    inline = request.GET.get("inline") == "1" and attachment.content_type in INLINE_TYPES
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=attachment.original_filename,
        content_type=attachment.content_type,
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    # Shown inside this site's pages only; no scripts, no requests of its own. Downloads are sandboxed too.
    response["Content-Security-Policy"] = (
        "default-src 'none'; frame-ancestors 'self'" if inline else "default-src 'none'; sandbox"
    )
    return response
