"""The milestone flow's pages (seed 000, issue 6): thin edges over the ``payor.contracts`` services and selectors
that the API (``payor.api.routers.milestones``) calls too.

For the company (``contract.view`` on the project; writes need ``work_request.manage`` / ``submission.review``):

* ``/projects/<id>/milestones/`` — the milestone board: every work request of the project with its status and
  per milestone its amount, due date, review status, self-billed invoice status and payment status; send and
  withdraw actions.
* ``/projects/<id>/milestones/new/`` — the project manager drafts a work request: contractor, scope, terms,
  retention, milestones (add/remove rows, each on a budget line). A refusal re-renders the form with the domain
  error inline and the field marked; nothing is written.
* ``/work-requests/<id>/edit/`` — the same form for a draft (``work_request_update``).
* ``/submissions/<id>/review/`` — a submission's note and files (preview, audited download), the milestone's
  earlier attempts, and approve / request revision. The review service's refusals (the submitter, a reviewer
  linked to the contractor, …) show inline.

For the contractor (a user acting for the work request's vendor; anyone else gets 404, even by direct URL):

* ``/portal/work-requests/`` — their inbox; ``/portal/work-requests/<id>/`` the terms, their SHA-256, the
  milestones, Accept (posts the hash shown, optionally with an EIP-712 wallet signature) and Decline.
* ``/portal/milestones/<id>/`` — submit deliverables (note + files), see the review outcome, revision notes and
  the payment status (invoice status; disbursement scheduled/executed, reference, date) with the self-billed
  receipt of the executed payment (PDF, CII, UBL through the portal's audited download; "being prepared" while it
  renders). The work request page's milestone rows carry the same receipt links.

For everyone: ``/notifications/`` (the in-app inbox, mark as read), ``/submissions/<id>/files/<id>/`` (the audited
download, ``?inline=1`` for a preview), and ``/work-requests/<id>/`` / ``/milestones/<id>/`` (the links in the
notifications), which send each reader to their own page for it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Final

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payor.accounts.models import User
from payor.api.schemas import MONEY_INPUT_MAX_MINOR
from payor.contracts import selectors, services
from payor.contracts.models import (
    Milestone,
    MilestoneStatus,
    PaymentTermsKind,
    Submission,
    SubmissionStatus,
    WorkRequest,
    WorkRequestStatus,
)
from payor.contracts.services import MILESTONES_MAX, MilestoneIn, Terms, UploadIn
from payor.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from payor.core.money import Money, MoneyError
from payor.notifications.selectors import inbox
from payor.notifications.services import notification_mark_read
from payor.projects.models import BudgetLine, Project
from payor.rbac.permissions import Perm, has_permission, require_permission, vendor_ids_for
from payor.rbac.selectors import project_get_visible
from payor.vendors.models import Vendor
from payor.web.finance_views import forbidden
from payor.web.invoice_views import INLINE_TYPES, error_context
from payor.web.receipts import ReceiptLink, receipt_links, receipts_by

NOTIFICATION_LIMIT: Final = 100
MAX_FILES: Final = 10
#: An EIP-712 signature is 0x + 130 hex digits; longer input is cut (and then refused by the service).
SIGNATURE_MAX: Final = 132
#: Blank milestone rows on a new form.
START_ROWS: Final = 2
WR_FIELDS: Final = (
    "vendor",
    "title",
    "scope",
    "retention_percent",
    "terms_kind",
    "net_days",
    "discount_percent",
    "discount_days",
)
#: The payment-terms choices as the form shows them (short labels).
TERMS_CHOICES: Final = (
    (PaymentTermsKind.ON_APPROVAL.value, "On approval"),
    (PaymentTermsKind.NET_DAYS.value, "Net N days"),
    (PaymentTermsKind.EARLY_PAY.value, "Early-pay discount"),
)
ROW_FIELDS: Final = ("title", "amount", "due_date", "budget_line", "description", "acceptance_criteria")


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _not_found(exc: Exception) -> Http404:
    return Http404(str(exc))


# --------------------------------------------------------------------------------------------------------------
# Shared reads
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentPanel:
    """A milestone's :class:`selectors.PaymentStatus` and, on the contractor's pages, their own receipts of its
    invoice's payments (``_payment.html`` and the milestone page's payment card show them)."""

    invoice_status: str | None
    disbursement_status: str | None
    amount: Money | None
    scheduled_on: dt.date | None
    executed_on: dt.date | None
    rail_reference: str
    receipts: list[ReceiptLink] = field(default_factory=list)


def payment_panel(status: selectors.PaymentStatus, receipts: list[ReceiptLink] | None = None) -> PaymentPanel:
    return PaymentPanel(**{f.name: getattr(status, f.name) for f in fields(status)}, receipts=receipts or [])


def own_receipts_of_invoices(viewer: User, project_id: uuid.UUID) -> dict[uuid.UUID, list[ReceiptLink]]:
    """The contractor's own receipts on the project by invoice (``receipt_links``: none for anyone else)."""
    return receipts_by(receipt_links(viewer, project_ids={project_id}), "invoice_id")


@dataclass(frozen=True)
class MilestoneRow:
    """One milestone on the board or a work request page, with its latest submission and payment status."""

    milestone: Milestone
    latest: Submission | None
    payment: PaymentPanel


def milestone_rows(work_request: WorkRequest, *, receipts_for: User | None = None) -> list[MilestoneRow]:
    """The rows; with ``receipts_for`` (the contractor's pages) each payment carries that user's own receipts."""
    milestones = selectors.work_request_milestones(work_request=work_request)
    latest: dict[uuid.UUID, Submission] = {}
    for submission in Submission.objects.filter(milestone__in=milestones).order_by("attempt"):
        latest[submission.milestone_id] = submission
    receipts = own_receipts_of_invoices(receipts_for, work_request.project_id) if receipts_for is not None else {}
    return [
        MilestoneRow(
            milestone=milestone,
            latest=latest.get(milestone.pk),
            payment=payment_panel(
                selectors.milestone_payment_status(milestone=milestone),
                receipts.get(milestone.invoice_id) if milestone.invoice_id else None,
            ),
        )
        for milestone in milestones
    ]


def _own_work_request(viewer: User, work_request_id: uuid.UUID) -> WorkRequest:
    """A sent work request of a vendor the viewer acts for; 404 for anyone else (the company reads the board)."""
    try:
        work_request = selectors.work_request_get_visible(viewer=viewer, work_request_id=work_request_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if work_request.vendor_id not in vendor_ids_for(viewer, work_request.project_id):
        raise Http404("No such work request")
    return work_request


def _own_milestone(viewer: User, milestone_id: uuid.UUID) -> selectors.MilestoneDetail:
    try:
        detail = selectors.milestone_detail(viewer=viewer, milestone_id=milestone_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    work_request = detail.milestone.work_request
    if work_request.vendor_id not in vendor_ids_for(viewer, work_request.project_id):
        raise Http404("No such milestone")
    return detail


def _files(request: HttpRequest, name: str) -> list[UploadedFile]:
    files = request.FILES.getlist(name)
    if len(files) > MAX_FILES:
        raise ValidationFailed(f"Attach at most {MAX_FILES} files at a time", field=name)
    return files


# --------------------------------------------------------------------------------------------------------------
# The company: board, actions
# --------------------------------------------------------------------------------------------------------------


def _board_project(request: HttpRequest, project_id: uuid.UUID) -> Project:
    """The project, if the viewer reads its work requests as the company: 404 if hidden, 403 without the role."""
    viewer = _viewer(request)
    try:
        project = project_get_visible(viewer=viewer, project_id=project_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    require_permission(viewer, Perm.CONTRACT_VIEW, project=project)
    return project


@login_required
@require_GET
def milestone_board_view(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    try:
        project = _board_project(request, project_id)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Milestones")
    requests = list(selectors.work_request_list(viewer=viewer, project_id=project.pk))
    cards = []
    counts = dict.fromkeys(MilestoneStatus.values, 0)
    for work_request in requests:
        rows = milestone_rows(work_request)
        if work_request.status == WorkRequestStatus.ACCEPTED:  # the counters are about work under contract
            for row in rows:
                counts[row.milestone.status] += 1
        cards.append(
            {
                "work_request": work_request,
                "rows": rows,
                "total": Money.of_minor(getattr(work_request, "total_minor", 0) or 0, work_request.currency),
            }
        )
    context = {
        "project": project,
        "cards": cards,
        "counts": counts,
        "can_manage": has_permission(viewer, Perm.WORK_REQUEST_MANAGE, project=project.pk),
        "can_review": has_permission(viewer, Perm.SUBMISSION_REVIEW, project=project.pk),
    }
    return render(request, "web/milestones/board.html", context)


@login_required
@require_POST
def work_request_action_view(request: HttpRequest, work_request_id: uuid.UUID, action: str) -> HttpResponse:
    """Send or withdraw (the project manager); the outcome or the refusal is shown on the board."""
    viewer = _viewer(request)
    try:
        work_request = selectors.work_request_get_visible(viewer=viewer, work_request_id=work_request_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if action not in ("send", "withdraw"):
        raise Http404("No such action")
    board = reverse("web:project-milestones", args=[work_request.project_id]) + f"#wr-{work_request.pk}"
    try:
        if action == "send":
            work_request = services.work_request_send(actor=viewer, work_request=work_request, request=request)
            messages.success(
                request,
                f"{work_request.number} sent to {work_request.vendor.name}. Terms SHA-256 {work_request.terms_sha256}.",
            )
        else:
            reason = request.POST.get("reason", "")
            work_request = services.work_request_withdraw(
                actor=viewer, work_request=work_request, reason=reason, request=request
            )
            messages.success(request, f"{work_request.number} withdrawn; {work_request.vendor.name} was notified.")
    except PermissionDenied as exc:
        if not selectors.work_request_is_internal(viewer=viewer, work_request=work_request):
            raise Http404("No such work request") from exc
        return forbidden(request, exc, title="Milestones")
    except DomainError as exc:
        messages.error(request, f"{exc.detail} ({exc.code}). Nothing was changed.")
    return redirect(board)


# --------------------------------------------------------------------------------------------------------------
# The company: drafting a work request
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DraftForm:
    """The work-request form as posted (strings, for re-display)."""

    values: dict[str, str]
    rows: list[dict[str, str]]
    #: Form row index of each parsed milestone (``milestones[i]`` in a domain error -> the row to mark).
    row_of_milestone: list[int] = field(default_factory=list)


def _blank_row() -> dict[str, str]:
    return dict.fromkeys(ROW_FIELDS, "")


def draft_form_from_post(request: HttpRequest) -> DraftForm:
    post = request.POST
    try:
        count = min(max(int(post.get("rows", "0")), 0), MILESTONES_MAX)
    except ValueError:
        count = 0
    rows = [{name: post.get(f"m-{i}-{name}", "").strip()[:4000] for name in ROW_FIELDS} for i in range(count)]
    return DraftForm(values={name: post.get(name, "").strip()[:20000] for name in WR_FIELDS}, rows=rows)


def _money(text: str, currency: str, *, field: str, label: str) -> Money:
    cleaned = text.replace(",", "").replace(" ", "")
    if not cleaned:
        raise ValidationFailed(f"{label}: enter an amount", field=field)
    try:
        money = Money.parse(cleaned, currency)
    except MoneyError:
        raise ValidationFailed(f"{label}: enter an amount like 1250.00", field=field) from None
    if abs(money.minor) > MONEY_INPUT_MAX_MINOR:
        raise ValidationFailed(f"{label}: the amount is too large", field=field)
    return money


def _int(text: str, *, field: str, label: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or len(text) > 4:
        raise ValidationFailed(f"{label}: enter a whole number of days", field=field)
    return int(text)


def draft_input(form: DraftForm, project: Project) -> dict[str, Any]:
    """The service's keyword arguments from the posted form; unreadable text is ``validation_error`` on its field."""
    values = form.values
    milestones: list[MilestoneIn] = []
    form.row_of_milestone = []
    for index, row in enumerate(form.rows):
        if not any(row.values()):
            continue
        where = f"Milestone {len(milestones) + 1}"
        amount = _money(row["amount"], project.currency, field=f"m-{index}-amount", label=f"{where}, amount")
        try:
            line_id = uuid.UUID(row["budget_line"])
        except ValueError:
            raise ValidationFailed(f"{where}: choose a budget line", field=f"m-{index}-budget_line") from None
        due: dt.date | None = None
        if row["due_date"]:
            try:
                due = dt.date.fromisoformat(row["due_date"])
            except ValueError:
                raise ValidationFailed(f"{where}: enter a due date", field=f"m-{index}-due_date") from None
        milestones.append(
            MilestoneIn(
                title=row["title"],
                amount=amount,
                budget_line_id=line_id,
                description=row["description"],
                acceptance_criteria=row["acceptance_criteria"],
                due_date=due,
            )
        )
        form.row_of_milestone.append(index)
    kind = values["terms_kind"] or PaymentTermsKind.ON_APPROVAL
    net_days = _int(values["net_days"], field="net_days", label="Net days")
    discount_days = _int(values["discount_days"], field="discount_days", label="Discount days")
    discount = values["discount_percent"].rstrip("%").strip() or None
    terms = Terms(
        kind=kind,
        net_days=net_days,
        discount_percent=discount,  # type: ignore[arg-type]  # checked (Decimal) by the service
        discount_days=discount_days,
    )
    return {
        "title": values["title"],
        "scope": values["scope"],
        "retention_percent": values["retention_percent"].rstrip("%").strip() or "0.00",
        "terms": terms,
        "milestones": milestones,
    }


def _draft_error_field(form: DraftForm, exc: DomainError) -> str:
    """The form field a domain error names (``milestones[1].amount`` -> that row's amount input)."""
    name = str(exc.extra.get("field") or "")
    if exc.code == "work_request_contractor_invalid":
        return "vendor"
    if name.startswith("milestones[") and "]" in name:
        index = name[len("milestones[") : name.index("]")]
        part = name[name.index("]") + 1 :].lstrip(".") or "title"
        if index.isdigit() and int(index) < len(form.row_of_milestone):
            return f"m-{form.row_of_milestone[int(index)]}-{part}"
    line = str(exc.extra.get("budget_line_id") or "")
    if line:
        for position, row in enumerate(form.rows):
            if row["budget_line"] == line:
                return f"m-{position}-budget_line"
    if name == "retention":
        return "retention_percent"
    if name == "terms":
        return "terms_kind"
    return name


def _contractors(project: Project) -> list[Vendor]:
    """The organization's vendors with a linked active user (who can receive a work request)."""
    return list(
        Vendor.objects.filter(organization_id=project.organization_id, user_links__user__is_active=True)
        .distinct()
        .order_by("name", "pk")
    )


def _leaf_lines(project: Project) -> list[BudgetLine]:
    lines = list(BudgetLine.objects.filter(project=project, archived_at__isnull=True).order_by("wbs_code"))
    parents = {line.parent_id for line in lines if line.parent_id}
    return [line for line in lines if line.pk not in parents]


def _draft_context(project: Project, form: DraftForm, *, error: DomainError | None = None) -> dict[str, Any]:
    error_field = _draft_error_field(form, error) if error is not None else ""
    return {
        "project": project,
        "form": form,
        "rows": [
            {
                "index": index,
                "values": row,
                "invalid": error_field.rsplit("-", 1)[-1] if error_field.startswith(f"m-{index}-") else "",
            }
            for index, row in enumerate(form.rows)
        ],
        "row_count": len(form.rows),
        "can_add": len(form.rows) < MILESTONES_MAX,
        "contractors": _contractors(project),
        "lines": _leaf_lines(project),
        "terms_kinds": TERMS_CHOICES,
        "error": error_context(error) if error is not None else None,
        "error_field": error_field,
    }


def draft_form_of(work_request: WorkRequest) -> DraftForm:
    """A draft's content as the form shows it."""
    return DraftForm(
        values={
            "vendor": str(work_request.vendor_id),
            "title": work_request.title,
            "scope": work_request.scope,
            "retention_percent": str(work_request.retention_percent),
            "terms_kind": work_request.terms_kind,
            "net_days": "" if work_request.net_days is None else str(work_request.net_days),
            "discount_percent": "" if work_request.discount_percent is None else str(work_request.discount_percent),
            "discount_days": "" if work_request.discount_days is None else str(work_request.discount_days),
        },
        rows=[
            {
                "title": m.title,
                "amount": m.amount.amount_str(),
                "due_date": m.due_date.isoformat() if m.due_date else "",
                "budget_line": str(m.budget_line_id),
                "description": m.description,
                "acceptance_criteria": m.acceptance_criteria,
            }
            for m in selectors.work_request_milestones(work_request=work_request)
        ],
    )


def _draft_form_view(
    request: HttpRequest, project: Project, draft: WorkRequest | None, initial: DraftForm
) -> HttpResponse:
    """The work-request form, new (``draft`` None) or a draft being changed: GET shows it, POST saves it (and sends
    it with "Save and send", in the same transaction)."""
    viewer = _viewer(request)

    def show(form: DraftForm, error: DomainError | None = None) -> HttpResponse:
        context = _draft_context(project, form, error=error) | {"draft": draft}
        return render(request, "web/milestones/new.html", context, status=error.status if error else 200)

    if request.method == "GET":
        return show(initial)
    form = draft_form_from_post(request)
    if draft is not None:
        form.values["vendor"] = str(draft.vendor_id)  # the contractor of a draft is fixed
    if "add" in request.POST:
        form.rows = [*form.rows, _blank_row()][:MILESTONES_MAX]
        return show(form)
    if "remove" in request.POST:
        remove = request.POST.get("remove", "")
        if remove.isdigit() and int(remove) < len(form.rows):
            del form.rows[int(remove)]
        form.rows = form.rows or [_blank_row()]
        return show(form)
    send = request.POST.get("intent") == "send"
    try:
        with transaction.atomic():  # "Save and send" is one change: a refused send leaves nothing behind
            if draft is None:
                vendor = selectors.work_request_vendor_get(
                    viewer=viewer, project=project, vendor_id=form.values["vendor"]
                )
                work_request = services.work_request_create(
                    actor=viewer, project=project, vendor=vendor, request=request, **draft_input(form, project)
                )
            else:
                work_request = services.work_request_update(
                    actor=viewer, work_request=draft, request=request, **draft_input(form, project)
                )
            if send:
                work_request = services.work_request_send(actor=viewer, work_request=work_request, request=request)
    except DomainError as exc:
        return show(form, exc)
    if send:
        messages.success(
            request,
            f"{work_request.number} sent to {work_request.vendor.name}. Terms SHA-256 {work_request.terms_sha256}.",
        )
    else:
        messages.success(request, f"{work_request.number} saved as a draft. Send it from the board when it is ready.")
    return redirect(reverse("web:project-milestones", args=[project.pk]) + f"#wr-{work_request.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def work_request_new_view(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    try:
        project = _board_project(request, project_id)
        require_permission(viewer, Perm.WORK_REQUEST_MANAGE, project=project)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="New work request")
    initial = DraftForm(
        values=dict.fromkeys(WR_FIELDS, "") | {"retention_percent": "0.00", "terms_kind": "on_approval"},
        rows=[_blank_row() for _ in range(START_ROWS)],
    )
    return _draft_form_view(request, project, None, initial)


@login_required
@require_http_methods(["GET", "POST"])
def work_request_edit_view(request: HttpRequest, work_request_id: uuid.UUID) -> HttpResponse:
    """Change a draft (``work_request_update``); once sent, its terms are frozen and the board is shown instead."""
    viewer = _viewer(request)
    try:
        work_request = selectors.work_request_get_visible(viewer=viewer, work_request_id=work_request_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if not selectors.work_request_is_internal(viewer=viewer, work_request=work_request):
        raise Http404("No such work request")  # the contractor's page for it is in the portal
    try:
        project = _board_project(request, work_request.project_id)
        require_permission(viewer, Perm.WORK_REQUEST_MANAGE, project=project)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Edit work request")
    if work_request.status != WorkRequestStatus.DRAFT:
        messages.info(
            request, f"{work_request.number} is {work_request.get_status_display().lower()}: only a draft is edited."
        )
        return redirect(reverse("web:project-milestones", args=[project.pk]) + f"#wr-{work_request.pk}")
    return _draft_form_view(request, project, work_request, draft_form_of(work_request))


# --------------------------------------------------------------------------------------------------------------
# The company: reviewing a submission
# --------------------------------------------------------------------------------------------------------------


def _review_context(viewer: User, submission: Submission) -> dict[str, Any]:
    detail = selectors.milestone_detail(viewer=viewer, milestone_id=submission.milestone_id)
    milestone = detail.milestone
    work_request = milestone.work_request
    return {
        "project": work_request.project,
        "work_request": work_request,
        "milestone": milestone,
        "submission": next((s for s in detail.submissions if s.pk == submission.pk), submission),
        "files": detail.files.get(submission.pk, []),
        "history": [
            {"submission": s, "files": detail.files.get(s.pk, [])} for s in detail.submissions if s.pk != submission.pk
        ],
        "payment": detail.payment,
        "can_review": has_permission(viewer, Perm.SUBMISSION_REVIEW, project=work_request.project_id)
        and submission.approval_status == SubmissionStatus.SUBMITTED,
        "error": None,
        "note": "",
    }


@login_required
@require_http_methods(["GET", "POST"])
def submission_review_view(request: HttpRequest, submission_id: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    try:
        submission = selectors.submission_get_visible(viewer=viewer, submission_id=submission_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    work_request = submission.milestone.work_request
    internal = selectors.work_request_is_internal(viewer=viewer, work_request=work_request)
    if request.method == "GET":
        if not internal:  # the contractor reads the outcome on their milestone page; no review actions
            return redirect("web:portal-milestone", milestone_id=submission.milestone_id)
        return render(request, "web/milestones/review.html", _review_context(viewer, submission))
    decision = request.POST.get("decision", "")
    note = request.POST.get("note", "")
    try:
        submission = services.submission_review(
            actor=viewer, submission=submission, decision=decision, note=note, request=request
        )
    except PermissionDenied as exc:
        if not internal:
            return render(
                request,
                "web/milestones/refused.html",
                {"reason": exc.detail, "milestone": submission.milestone},
                status=exc.status,
            )
        if exc.code == PermissionDenied.code:  # no review role at all; segregation refusals are shown inline
            return forbidden(request, exc, title="Review")
        context = _review_context(viewer, submission)
        context.update(error=error_context(exc), note=note)
        return render(request, "web/milestones/review.html", context, status=exc.status)
    except DomainError as exc:
        context = _review_context(viewer, submission)
        context.update(error=error_context(exc), note=note)
        return render(request, "web/milestones/review.html", context, status=exc.status)
    if submission.approval_status == SubmissionStatus.APPROVED:
        invoice = submission.invoice
        messages.success(
            request,
            f"Milestone approved: self-billed invoice {invoice.number if invoice else ''} submitted for "
            f"{invoice.total.format() if invoice else ''}.",
        )
    else:
        messages.success(request, "Revision requested; the contractor was notified.")
    return redirect("web:submission-review", submission_id=submission.pk)


@login_required
@require_GET
@xframe_options_sameorigin
def submission_file_view(
    request: HttpRequest, submission_id: uuid.UUID, file_id: uuid.UUID
) -> FileResponse | HttpResponse:
    """A deliverable file for whoever reads the work request: audited, re-hashed (``?inline=1`` to preview)."""
    viewer = _viewer(request)
    try:
        submission = selectors.submission_get_visible(viewer=viewer, submission_id=submission_id)
        row = selectors.submission_file_get(viewer=viewer, submission=submission, file_id=file_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    try:
        handle = selectors.submission_file_download(viewer=viewer, row=row, request=request)
    except DomainError as exc:
        return HttpResponse(f"{exc.detail} ({exc.code})\n", status=exc.status, content_type="text/plain; charset=utf-8")
    inline = request.GET.get("inline") == "1" and row.content_type in INLINE_TYPES
    response = FileResponse(
        handle, as_attachment=not inline, filename=row.original_filename, content_type=row.content_type
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        "default-src 'none'; frame-ancestors 'self'" if inline else "default-src 'none'; sandbox"
    )
    return response


# --------------------------------------------------------------------------------------------------------------
# The contractor: inbox, terms, accept / decline, milestones
# --------------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def portal_work_requests_view(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    rows: list[dict[str, Any]] = []
    waiting = 0
    for work_request in selectors.work_request_list(viewer=viewer):
        if work_request.vendor_id not in vendor_ids_for(viewer, work_request.project_id):
            continue  # the company's view of a project is the board, not the contractor's inbox
        waiting += work_request.status == WorkRequestStatus.SENT
        rows.append(
            {
                "work_request": work_request,
                "total": Money.of_minor(getattr(work_request, "total_minor", 0) or 0, work_request.currency),
                "milestones": selectors.work_request_milestones(work_request=work_request),
            }
        )
    return render(request, "web/milestones/inbox.html", {"rows": rows, "waiting": waiting})


def _terms_context(viewer: User, work_request: WorkRequest) -> dict[str, Any]:
    return {
        "work_request": work_request,
        "project": work_request.project,
        "rows": milestone_rows(work_request, receipts_for=viewer),
        "total": services.work_request_total(work_request),
        "can_respond": work_request.status == WorkRequestStatus.SENT
        and has_permission(viewer, Perm.WORK_REQUEST_RESPOND, project=work_request.project_id),
        "typed_data_url": reverse("api-v1:work_request_typed_data", args=[work_request.pk])
        if work_request.terms_sha256
        else "",
        "error": None,
        "reason": "",
    }


@login_required
@require_GET
def portal_work_request_view(request: HttpRequest, work_request_id: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    work_request = _own_work_request(viewer, work_request_id)
    return render(request, "web/milestones/terms.html", _terms_context(viewer, work_request))


@login_required
@require_POST
def portal_work_request_action_view(request: HttpRequest, work_request_id: uuid.UUID, action: str) -> HttpResponse:
    """Accept (the hash the page showed, optionally signed) or decline (with a reason)."""
    viewer = _viewer(request)
    work_request = _own_work_request(viewer, work_request_id)
    if action not in ("accept", "decline"):
        raise Http404("No such action")
    post = request.POST
    try:
        if action == "accept":
            chain_text = post.get("chain_id", "").strip()
            signature = post.get("signature", "").strip()[:SIGNATURE_MAX] or None
            work_request = services.work_request_accept(
                actor=viewer,
                work_request=work_request,
                terms_sha256=post.get("terms_sha256", "")[:80],
                signature=signature,
                # A signature without a chain id is the service's refusal (work_request_invalid).
                chain_id=int(chain_text) if signature and chain_text.isdigit() and len(chain_text) <= 18 else None,
                request=request,
            )
            contract = work_request.contract
            messages.success(
                request,
                f"You accepted {work_request.number}"
                + (f" (contract {contract.number})" if contract else "")
                + ". Submit each milestone's deliverables from its page.",
            )
        else:
            work_request = services.work_request_decline(
                actor=viewer, work_request=work_request, reason=post.get("reason", ""), request=request
            )
            messages.success(request, f"You declined {work_request.number}; the project manager was notified.")
    except DomainError as exc:
        context = _terms_context(
            viewer, selectors.work_request_get_visible(viewer=viewer, work_request_id=work_request.pk)
        )
        context.update(error=error_context(exc), reason=post.get("reason", ""))
        return render(request, "web/milestones/terms.html", context, status=exc.status)
    return redirect("web:portal-work-request", work_request_id=work_request.pk)


def _milestone_context(viewer: User, detail: selectors.MilestoneDetail) -> dict[str, Any]:
    milestone = detail.milestone
    work_request = milestone.work_request
    receipts = own_receipts_of_invoices(viewer, work_request.project_id) if milestone.invoice_id else {}
    return {
        "milestone": milestone,
        "work_request": work_request,
        "project": work_request.project,
        "submissions": [{"submission": s, "files": detail.files.get(s.pk, [])} for s in reversed(detail.submissions)],
        "payment": payment_panel(detail.payment, receipts.get(milestone.invoice_id) if milestone.invoice_id else None),
        "can_submit": work_request.status == WorkRequestStatus.ACCEPTED
        and MilestoneStatus.can_submit(milestone.status),
        "error": None,
        "note": "",
    }


@login_required
@require_http_methods(["GET", "POST"])
def portal_milestone_view(request: HttpRequest, milestone_id: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    detail = _own_milestone(viewer, milestone_id)
    if request.method == "GET":
        return render(request, "web/milestones/milestone.html", _milestone_context(viewer, detail))
    note = request.POST.get("note", "")
    try:
        files = _files(request, "files")
        services.submission_create(
            actor=viewer,
            milestone=detail.milestone,
            note=note,
            files=[UploadIn(file=upload, filename=upload.name) for upload in files],
            request=request,
        )
    except DomainError as exc:
        context = _milestone_context(viewer, _own_milestone(viewer, milestone_id))
        context.update(error=error_context(exc), note=note)
        return render(request, "web/milestones/milestone.html", context, status=exc.status)
    messages.success(request, "Deliverables submitted. The project manager was notified and will review them.")
    return redirect("web:portal-milestone", milestone_id=milestone_id)


# --------------------------------------------------------------------------------------------------------------
# Links from notifications, and the inbox
# --------------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def work_request_open_view(request: HttpRequest, work_request_id: uuid.UUID) -> HttpResponse:
    """``/work-requests/<id>/`` (the notifications' link): the board for the company, the terms for the contractor."""
    viewer = _viewer(request)
    try:
        work_request = selectors.work_request_get_visible(viewer=viewer, work_request_id=work_request_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if selectors.work_request_is_internal(viewer=viewer, work_request=work_request):
        return redirect(reverse("web:project-milestones", args=[work_request.project_id]) + f"#wr-{work_request.pk}")
    return redirect("web:portal-work-request", work_request_id=work_request.pk)


@login_required
@require_GET
def milestone_open_view(request: HttpRequest, milestone_id: uuid.UUID) -> HttpResponse:
    """``/milestones/<id>/``: the latest submission's review screen for the company, the milestone page for the
    contractor."""
    viewer = _viewer(request)
    try:
        detail = selectors.milestone_detail(viewer=viewer, milestone_id=milestone_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    if not detail.internal:
        return redirect("web:portal-milestone", milestone_id=milestone_id)
    if detail.submissions:
        return redirect("web:submission-review", submission_id=detail.submissions[-1].pk)
    work_request = detail.milestone.work_request
    return redirect(reverse("web:project-milestones", args=[work_request.project_id]) + f"#m-{milestone_id}")


@login_required
@require_GET
def notifications_view(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    unread_only = request.GET.get("unread") == "1"
    rows = list(inbox(viewer=viewer, unread_only=unread_only)[:NOTIFICATION_LIMIT])
    return render(request, "web/milestones/notifications.html", {"rows": rows, "unread_only": unread_only})


@login_required
@require_POST
def notification_read_view(request: HttpRequest, notification_id: uuid.UUID) -> HttpResponse:
    """Mark one of the viewer's messages read, then go to its link (``open``) or back to the inbox."""
    viewer = _viewer(request)
    try:
        notification = notification_mark_read(actor=viewer, notification_id=notification_id)
    except NotFound as exc:
        raise _not_found(exc) from exc
    link = notification.link
    if request.POST.get("open") and link and url_has_allowed_host_and_scheme(link, allowed_hosts=None):
        return redirect(link if link.endswith("/") else f"{link}/")
    return redirect("web:notifications")
