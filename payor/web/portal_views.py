"""The vendor portal (seed 004 screen 6): a vendor's users see their own contracts, invoices and payments, and
enter invoices.

* ``/portal/`` — the vendors the viewer acts for (active VENDOR roles): their executed contracts with what
  remains, their invoices with status, and their payments (the payment confirmation: reference, date, amount).
* ``/portal/contracts/<id>/invoices/new/`` — a new invoice: SOV lines (the contract's items billed so far are
  offered with their scheduled values; new items can be added), coding to the contract's budget lines,
  taxes and withholding, attachments; "Save draft" or "Submit" (``invoice_create`` then
  ``invoice_attachment_add`` then ``invoice_submit``, in one transaction: a refusal writes nothing).
* ``/portal/contracts/<id>/invoices/preview/`` — the live totals (HTMX): the same pricing as entering the
  invoice (``invoice_price``: :mod:`payor.invoices.math`), refusals shown with their code.

* ``/portal/receipts/<id>/<pdf|cii|ubl>/`` — the contractor's self-billed receipt of an executed payment (PDF/A-3b,
  CII or UBL XML; issue 8: "downloads their receipts"), read through the data room's service
  (:func:`payor.dataroom.services.dataroom_object_read`): it allows a vendor's users their own receipt documents
  and nothing else (finance/procurement/auditors with ``dataroom.read`` as on the data-room page), 404 for anyone
  else, and audits every read (``dataroom.read``). The payments table links each rendered receipt and says
  when one is still being rendered (:func:`receipt_links`).

A contract of a vendor the viewer does not act for is a 404, whoever they are; invoices are read on the invoice
detail page, whose selector applies the same rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payor.accounts.models import User
from payor.api.schemas import MONEY_INPUT_MAX_MINOR
from payor.contracts.models import Contract, ContractAllocation, ContractStatus
from payor.contracts.selectors import contract_allocations, contract_figures_of, contract_list
from payor.core.errors import DomainError, NotFound, ValidationFailed
from payor.core.money import Money, MoneyError
from payor.dataroom.models import DataRoomObject
from payor.dataroom.services import dataroom_object_read
from payor.invoices import selectors, services
from payor.invoices.math import CodingIn, InvoiceFigures, SovLineIn
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceLine, InvoiceStatus
from payor.invoices.services import InvoiceInput
from payor.payments.selectors import disbursement_list
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import vendor_ids_for
from payor.rbac.roles import ProjectRole
from payor.vendors.models import Vendor
from payor.web.invoice_views import error_context
from payor.web.receipts import RECEIPT_FORMATS, receipt_links, receipts_by

INVOICE_LIMIT: Final = 100
PAYMENT_LIMIT: Final = 100
BLANK_ROWS: Final = 2
MAX_ROWS: Final = 200
MAX_FILES: Final = 10
TEXT_FIELDS: Final = ("period_start", "period_end", "vendor_reference", "description", "taxes", "withholds")
ROW_FIELDS: Final = ("item_code", "description", "scheduled_value", "this_period", "percent_complete")


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def own_vendors(viewer: User) -> list[Vendor]:
    """The vendors ``viewer`` acts for on some project (active VENDOR roles)."""
    ids = ProjectRoleAssignment.objects.filter(
        user_id=viewer.pk, role=ProjectRole.VENDOR, revoked_at__isnull=True, vendor__isnull=False
    ).values("vendor_id")
    return list(Vendor.objects.filter(pk__in=ids).order_by("name", "pk"))


def own_contract(viewer: User, contract_id: uuid.UUID) -> Contract:
    """A contract of a vendor the viewer acts for on its project; a 404 otherwise (whoever they are)."""
    try:
        contract = selectors.invoice_contract_get(viewer=viewer, contract_id=contract_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if contract.vendor_id not in vendor_ids_for(viewer, contract.project_id):
        raise Http404("No such contract")
    return contract


# --------------------------------------------------------------------------------------------------------------
# Receipts (the contractor's self-billing copies)
# --------------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def receipt_download_view(request: HttpRequest, receipt_id: uuid.UUID, fmt: str) -> HttpResponse:
    """One document of a receipt, read (access check, hash check, audit) by the data room's service."""
    kind = RECEIPT_FORMATS.get(fmt)
    object_id = (
        DataRoomObject.objects.filter(receipt_id=receipt_id, kind=kind).values_list("pk", flat=True).first()
        if kind
        else None
    )
    if object_id is None:
        raise Http404("No such receipt")
    try:
        document = dataroom_object_read(viewer=request.user, object_id=object_id, request=request)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except DomainError as exc:  # missing key, altered or missing stored document
        return HttpResponse(f"{exc.detail}\n", status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(document.data, content_type=document.obj.content_type)
    response["Content-Disposition"] = content_disposition_header(True, document.obj.name.rsplit("/", 1)[-1])
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_GET
def portal_view(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    vendors = own_vendors(viewer)
    vendor_ids = [vendor.pk for vendor in vendors]
    contracts = list(
        contract_list(viewer=viewer)
        .filter(vendor_id__in=vendor_ids, status__in=[ContractStatus.EXECUTED, ContractStatus.CLOSED])
        .select_related("project")
        .order_by("status", "project__name", "number")
    )
    invoices = list(
        selectors.invoice_list(viewer=viewer)
        .filter(vendor_id__in=vendor_ids)
        .select_related("project")
        .order_by("-id")[:INVOICE_LIMIT]
    )
    payments = list(
        disbursement_list(viewer=viewer).filter(vendor_id__in=vendor_ids).select_related("invoice")[:PAYMENT_LIMIT]
    )
    paid_by_invoice: dict[uuid.UUID, list[Any]] = {}
    for payment in payments:
        paid_by_invoice.setdefault(payment.invoice_id, []).append(payment)
    receipts = receipts_by(
        receipt_links(viewer, project_ids={payment.project_id for payment in payments}), "disbursement_id"
    )
    context = {
        "vendors": vendors,
        "contracts": [
            {
                "contract": contract,
                "figures": contract_figures_of(contract=contract),
                "can_invoice": ContractStatus.can_change(contract.status),
            }
            for contract in contracts
        ],
        "invoices": [{"invoice": invoice, "payments": paid_by_invoice.get(invoice.pk, [])} for invoice in invoices],
        "payments": [{"payment": payment, "receipts": receipts.get(payment.pk, [])} for payment in payments],
        "open_count": sum(1 for invoice in invoices if invoice.status in InvoiceStatus.in_review()),
    }
    return render(request, "web/portal/home.html", context)


# --------------------------------------------------------------------------------------------------------------
# The invoice form
# --------------------------------------------------------------------------------------------------------------


@dataclass
class InvoiceForm:
    """The invoice form as posted (strings, for re-display) and, once parsed, the service's input."""

    values: dict[str, str]
    rows: list[dict[str, str]]
    coding: dict[str, str]
    #: Form row index of each parsed SOV line (``lines[i]`` in a domain error's field -> the row to mark).
    row_of_line: list[int] = field(default_factory=list)


def known_items(viewer: User, contract: Contract) -> list[dict[str, str]]:
    """The contract's SOV items billed so far (latest scheduled value first seen), to prefill the form's rows."""
    billed = selectors.invoice_list(viewer=viewer, contract_id=contract.pk).filter(status__in=InvoiceStatus.billed())
    items: dict[str, dict[str, str]] = {}
    for line in InvoiceLine.objects.filter(invoice__in=billed).order_by("invoice__submitted_at", "position"):
        items[line.item_code] = {
            "item_code": line.item_code,
            "description": line.description,
            "scheduled_value": line.scheduled_value.amount_str(),
            "this_period": "",
            "percent_complete": "",
        }
    return list(items.values())


def _blank_row() -> dict[str, str]:
    return dict.fromkeys(ROW_FIELDS, "")


def form_from_post(request: HttpRequest) -> InvoiceForm:
    post = request.POST
    try:
        count = min(max(int(post.get("rows", "0")), 0), MAX_ROWS)
    except ValueError:
        count = 0
    rows = [{name: post.get(f"line-{i}-{name}", "").strip()[:300] for name in ROW_FIELDS} for i in range(count)]
    coding = {key.removeprefix("coding-"): post.get(key, "").strip()[:40] for key in post if key.startswith("coding-")}
    return InvoiceForm(
        values={name: post.get(name, "").strip()[:4000] for name in TEXT_FIELDS},
        rows=rows,
        coding=coding,
    )


def _money(text: str, currency: str, *, field: str, label: str, blank_zero: bool = False) -> Money | None:
    cleaned = text.replace(",", "").replace(" ", "")
    if not cleaned:
        return Money.zero(currency) if blank_zero else None
    try:
        money = Money.parse(cleaned, currency)
    except MoneyError:
        raise ValidationFailed(f"{label}: enter an amount like 1250.00", field=field) from None
    if abs(money.minor) > MONEY_INPUT_MAX_MINOR:
        raise ValidationFailed(f"{label}: the amount is too large", field=field)
    return money


def _date(text: str, *, field: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{label}: enter a date", field=field) from None


def form_input(form: InvoiceForm, contract: Contract, allocations: list[ContractAllocation]) -> InvoiceInput:
    """The service's input from the posted form; bad text is ``validation_error`` with the form field."""
    currency = contract.currency
    lines: list[SovLineIn] = []
    form.row_of_line = []
    for index, row in enumerate(form.rows):
        if not any(row.values()):
            continue
        where = f"line {len(lines) + 1}"
        scheduled = _money(
            row["scheduled_value"], currency, field=f"row-{index}", label=f"{where}, scheduled value", blank_zero=True
        )
        this_period = _money(row["this_period"], currency, field=f"row-{index}", label=f"{where}, this period")
        percent = row["percent_complete"].rstrip("%").strip() or None
        if this_period is None and percent is None:
            this_period = Money.zero(currency)
        lines.append(
            SovLineIn(
                item_code=row["item_code"],
                description=row["description"],
                scheduled_value=scheduled,  # type: ignore[arg-type]
                this_period=this_period,
                percent_complete=percent if this_period is None else None,
            )
        )
        form.row_of_line.append(index)
    coding: list[CodingIn] = []
    for allocation in allocations:
        line = allocation.budget_line
        amount = _money(
            form.coding.get(str(line.pk), ""), currency, field=f"coding-{line.pk}", label=f"coding, {line.wbs_code}"
        )
        if amount is not None and not amount.is_zero:
            coding.append(CodingIn(line.pk, amount))
    values = form.values
    return InvoiceInput(
        period_start=_date(values["period_start"], field="period_start", label="Period start"),
        period_end=_date(values["period_end"], field="period_end", label="Period end"),
        lines=lines,
        coding=coding,
        taxes=_money(values["taxes"], currency, field="taxes", label="Taxes", blank_zero=True),
        withholds=_money(values["withholds"], currency, field="withholds", label="Withholding", blank_zero=True),
        vendor_reference=values["vendor_reference"],
        description=values["description"],
    )


def _error_field(form: InvoiceForm, exc: DomainError, allocations: list[ContractAllocation]) -> str:
    """The form field a domain error names (``lines[2]`` -> that row, ``coding[0]`` -> that line's input)."""
    name = str(exc.extra.get("field") or "")
    if name.startswith("lines[") and "]" in name:
        index = name[len("lines[") : name.index("]")]
        if index.isdigit() and int(index) < len(form.row_of_line):
            return f"row-{form.row_of_line[int(index)]}"
    if name.startswith("coding[") and "]" in name:
        coded = [a for a in allocations if (form.coding.get(str(a.budget_line.pk)) or "").strip("0., ")]
        index = name[len("coding[") : name.index("]")]
        if index.isdigit() and int(index) < len(coded):
            return f"coding-{coded[int(index)].budget_line.pk}"
    budget_line = exc.extra.get("budget_line_id")
    if budget_line:
        return f"coding-{budget_line}"
    return name


def _form_context(
    viewer: User, contract: Contract, form: InvoiceForm | None, *, more: int = 0, error_field: str = ""
) -> tuple[dict[str, Any], InvoiceForm]:
    allocations = contract_allocations(contract=contract)
    if form is None:
        rows = known_items(viewer, contract)
        form = InvoiceForm(
            values=dict.fromkeys(TEXT_FIELDS, ""),
            rows=rows + [_blank_row() for _ in range(BLANK_ROWS if rows else BLANK_ROWS + 1)],
            coding={},
        )
        today = timezone.localdate()
        first = today.replace(day=1)
        form.values["period_start"] = (first - dt.timedelta(days=1)).replace(day=1).isoformat()
        form.values["period_end"] = (first - dt.timedelta(days=1)).isoformat()
    form.rows = form.rows + [_blank_row() for _ in range(more)]
    form.rows = form.rows[:MAX_ROWS]
    context = {
        "contract": contract,
        "figures": contract_figures_of(contract=contract),
        "allocations": [
            {
                "allocation": allocation,
                "value": form.coding.get(str(allocation.budget_line.pk), ""),
                "invalid": error_field == f"coding-{allocation.budget_line.pk}",
            }
            for allocation in allocations
        ],
        "form": form,
        "rows": [
            {"values": values, "invalid": error_field == f"row-{index}"} for index, values in enumerate(form.rows)
        ],
        "row_count": len(form.rows),
        "error": None,
        "error_field": error_field,
        "preview": None,
    }
    return context, form


def _price(
    viewer: User, contract: Contract, form: InvoiceForm
) -> tuple[InvoiceFigures | None, dict[str, Any] | None, str]:
    allocations = contract_allocations(contract=contract)
    try:
        data = form_input(form, contract, allocations)
        if not data.lines:
            return None, None, ""
        if not data.coding and allocations:
            return _price_uncoded(contract, data, allocations[0].budget_line.pk), None, ""
        return services.invoice_price(contract=contract, data=data), None, ""
    except DomainError as exc:
        return None, error_context(exc), _error_field(form, exc, allocations)


def _price_uncoded(contract: Contract, data: InvoiceInput, line_id: uuid.UUID) -> InvoiceFigures:
    """The totals of an invoice whose coding is still blank (the live preview only): priced with the whole subtotal
    on one of the contract's lines, which the page then asks the vendor to spread. The subtotal comes from the same
    pricing (the coding-mismatch refusal names it), so the figures are the service's, never the page's."""
    probe = dataclasses.replace(data, coding=[CodingIn(line_id, Money.of_minor(1, contract.currency))])
    try:
        return services.invoice_price(contract=contract, data=probe)
    except DomainError as exc:
        subtotal = exc.extra.get("subtotal")
        if exc.code != "invoice_coding_mismatch" or not subtotal:
            raise
    coded = dataclasses.replace(data, coding=[CodingIn(line_id, Money.parse(str(subtotal), contract.currency))])
    return services.invoice_price(contract=contract, data=coded)


def _preview_context(
    figures: InvoiceFigures | None, error: dict[str, Any] | None, contract: Contract, form: InvoiceForm
) -> dict[str, Any]:
    uncoded = not any((value or "").strip("0., ") for value in form.coding.values())
    return {"preview": figures, "preview_error": error, "contract": contract, "uncoded": uncoded}


@login_required
@require_POST
def invoice_preview_view(request: HttpRequest, contract_id: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    contract = own_contract(viewer, contract_id)
    form = form_from_post(request)
    figures, error, _ = _price(viewer, contract, form)
    return render(request, "web/portal/_preview.html", _preview_context(figures, error, contract, form))


def _files(request: HttpRequest) -> list[UploadedFile]:
    files = request.FILES.getlist("attachments")
    if len(files) > MAX_FILES:
        raise ValidationFailed(f"Attach at most {MAX_FILES} files at a time", field="attachments")
    return files


def invoice_enter(
    *,
    viewer: User,
    contract: Contract,
    data: InvoiceInput,
    files: list[UploadedFile],
    submit: bool,
    request: HttpRequest,
    draft: Invoice | None = None,
) -> Invoice:
    """Enter the invoice as a draft (or replace ``draft``'s content), attach its files, then submit it if asked:
    one transaction, so a refusal at any step (a file of a refused type, a submission check) leaves nothing
    behind (stored files included)."""
    added: list[InvoiceAttachment] = []
    try:
        with transaction.atomic():
            if draft is None:
                invoice = services.invoice_create(
                    actor=viewer, contract=contract, data=data, submit=False, request=request
                )
            else:
                invoice = services.invoice_update(actor=viewer, invoice=draft, data=data, request=request)
            for upload in files:
                added.append(
                    services.invoice_attachment_add(
                        actor=viewer, invoice=invoice, file=upload, filename=upload.name, request=request
                    )
                )
            if submit:
                invoice = services.invoice_submit(actor=viewer, invoice=invoice, request=request)
    except BaseException:
        for attachment in added:
            attachment.file.storage.delete(str(attachment.file.name))
        raise
    return invoice


def _form_view(request: HttpRequest, contract: Contract, draft: Invoice | None) -> HttpResponse:
    """The invoice form, new (``draft`` None) or a draft being revised: GET shows it, POST enters it."""
    viewer = _viewer(request)
    extra = {"draft": draft}
    if request.method == "GET":
        if draft is None:
            context, form = _form_context(viewer, contract, None)
        else:
            context, form = _form_context(viewer, contract, form_of(draft), more=1)
        if draft is not None:
            figures, error, _ = _price(viewer, contract, form)
            context.update(_preview_context(figures, error, contract, form))
        return render(request, "web/portal/invoice_form.html", {**context, **extra})
    form = form_from_post(request)
    if "more" in request.POST:
        context, form = _form_context(viewer, contract, form, more=3)
        figures, error, _ = _price(viewer, contract, form)
        context.update(_preview_context(figures, error, contract, form))
        return render(request, "web/portal/invoice_form.html", {**context, **extra})
    allocations = contract_allocations(contract=contract)
    submit = request.POST.get("intent") != "draft"
    try:
        if not ContractStatus.can_change(contract.status):
            raise ValidationFailed(
                f"{contract.number} is {contract.get_status_display().lower()}: it takes no invoices"
            )
        data = form_input(form, contract, allocations)
        invoice = invoice_enter(
            viewer=viewer,
            contract=contract,
            data=data,
            files=_files(request),
            submit=submit,
            request=request,
            draft=draft,
        )
    except DomainError as exc:
        context, form = _form_context(viewer, contract, form, error_field=_error_field(form, exc, allocations))
        context["error"] = error_context(exc)
        figures, preview_error, _ = _price(viewer, contract, form)
        context.update(_preview_context(figures, preview_error, contract, form))
        return render(request, "web/portal/invoice_form.html", {**context, **extra}, status=exc.status)
    if invoice.status == InvoiceStatus.DRAFT:
        messages.success(request, f"{invoice.number} saved as a draft. Submit it when it is ready.")
    else:
        messages.success(request, f"{invoice.number} submitted: {invoice.total.format()} is now reserved for it.")
    return redirect("web:invoice", invoice_id=invoice.pk)


@login_required
@require_http_methods(["GET", "POST"])
def invoice_new_view(request: HttpRequest, contract_id: uuid.UUID) -> HttpResponse:
    return _form_view(request, own_contract(_viewer(request), contract_id), None)


def form_of(invoice: Invoice) -> InvoiceForm:
    """A draft's content as the form shows it (amounts as entered: this period, coding, taxes, withholding)."""
    return InvoiceForm(
        values={
            "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(),
            "vendor_reference": invoice.vendor_reference,
            "description": invoice.description,
            "taxes": "" if invoice.taxes.is_zero else invoice.taxes.amount_str(),
            "withholds": "" if invoice.withholds.is_zero else invoice.withholds.amount_str(),
        },
        rows=[
            {
                "item_code": line.item_code,
                "description": line.description,
                "scheduled_value": line.scheduled_value.amount_str(),
                "this_period": line.this_period.amount_str(),
                "percent_complete": "",
            }
            for line in invoice.lines.order_by("position")
        ],
        coding={str(part.budget_line_id): part.amount.amount_str() for part in invoice.coding.all()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def invoice_edit_view(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    """Revise a draft (new, withdrawn or returned for revision) of the viewer's vendor; 404 for anyone else."""
    viewer = _viewer(request)
    try:
        invoice = selectors.invoice_get_visible(viewer=viewer, invoice_id=invoice_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    contract = own_contract(viewer, invoice.contract_id)
    if invoice.status != InvoiceStatus.DRAFT:
        messages.info(request, f"{invoice.number} is {invoice.get_status_display().lower()}: only a draft is edited.")
        return redirect("web:invoice", invoice_id=invoice.pk)
    return _form_view(request, contract, invoice)
