"""The Vendors screens (seed 004 screen 6): the vendor master with its compliance status, and a vendor's detail
(checklist, documents, contracts, payment history), with the onboarding, document review and KYC forms.

Thin views over :mod:`payor.vendors` (selectors, services, the compliance checklist) and the contracts and
payments selectors. The vendor master is for whoever holds ``vendor.view`` for a vendor's organization; a vendor's
own users work in the vendor portal, never here: the list is 403 for them and another vendor's page 404 (their
own vendor's page too is 403). Document downloads go through the audited ``vendor_document_download``
(``dataroom.read``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from payor.accounts.models import Organization
from payor.contracts.selectors import contract_list
from payor.core.errors import DomainError, NotFound, PermissionDenied
from payor.core.money import Money
from payor.payments.models import DisbursementStatus
from payor.payments.selectors import disbursement_list
from payor.rbac.permissions import Perm, projects_with_permission
from payor.vendors.access import vendor_permission_check, vendors_with_permission
from payor.vendors.compliance import vendor_compliance_status
from payor.vendors.models import (
    BankMethod,
    DocumentStatus,
    KycStatus,
    TaxStatus,
    Vendor,
    VendorDocument,
    VendorKind,
)
from payor.vendors.selectors import vendor_document_get, vendor_documents, vendor_get, vendor_list
from payor.vendors.services import vendor_create, vendor_document_download, vendor_document_verify, vendor_kyc_set
from payor.web.finance_views import add_domain_error, forbidden, invoice_url

LIST_LIMIT: Final = 200
PAYMENT_LIMIT: Final = 100
COMPLIANCE_FILTERS: Final = {"ok": "Compliant", "attention": "Needs attention"}

_VENDOR_FIELDS: Final[dict[str, str | None]] = {
    "vendor_name_taken": "name",
    "vendor_tax_status_kind_mismatch": "tax_status",
}
_REVIEW_FIELDS: Final[dict[str, str | None]] = {
    "vendor_document_note_required": "note",
    "vendor_document_valid_until_required": "valid_until",
    "vendor_document_valid_until_invalid": "valid_until",
}
_KYC_FIELDS: Final[dict[str, str | None]] = {"vendor_kyc_note_required": "note"}


def _master_denied() -> PermissionDenied:
    return PermissionDenied(
        "The vendor master needs the vendor.view permission on a project of the vendor's organization",
        permission=Perm.VENDOR_VIEW.value,
    )


def _vendor(request: HttpRequest, vendor_id: uuid.UUID) -> Vendor:
    """A vendor of the master the viewer may read: 404 if they cannot see it, 403 for its own linked users."""
    try:
        vendor = vendor_get(viewer=request.user, vendor_id=vendor_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if not vendor_permission_check(request.user, Perm.VENDOR_VIEW, organization=vendor.organization_id):
        raise _master_denied()
    return vendor


# --------------------------------------------------------------------------------------------------------------
# The list
# --------------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def vendor_list_view(request: HttpRequest) -> HttpResponse:
    master = vendors_with_permission(request.user, Perm.VENDOR_VIEW)
    if not master.exists():
        return forbidden(request, _master_denied(), title="Vendors")
    query = request.GET.get("q", "").strip()[:100]
    kyc = request.GET.get("kyc", "")
    compliance = request.GET.get("compliance", "")
    vendors = vendor_list(
        viewer=request.user,
        kyc_status=kyc if kyc in KycStatus.values else None,
        q=query or None,
    ).filter(pk__in=master.values("pk"))
    today = timezone.localdate()
    rows = []
    for vendor in vendors.order_by("name", "pk")[:LIST_LIMIT]:
        status = vendor_compliance_status(vendor=vendor, on=today)
        if (compliance == "ok" and not status.ok) or (compliance == "attention" and status.ok):
            continue
        rows.append({"vendor": vendor, "status": status})
    context = {
        "rows": rows,
        "query": query,
        "kyc": kyc,
        "compliance": compliance,
        "kyc_choices": KycStatus.choices,
        "compliance_choices": list(COMPLIANCE_FILTERS.items()),
        "can_onboard": projects_with_permission(request.user, Perm.VENDOR_MANAGE).exists(),
        "today": today,
    }
    template = "web/vendors/list.html"
    htmx = request.htmx  # type: ignore[attr-defined]
    if htmx and not htmx.history_restore_request:
        template = "web/vendors/list.html#vendor-rows"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])  # the same URL answers a page or a fragment
    return response


# --------------------------------------------------------------------------------------------------------------
# Onboarding
# --------------------------------------------------------------------------------------------------------------


class VendorForm(forms.Form):
    organization = forms.ChoiceField(label="Organization")
    name = forms.CharField(label="Display name", max_length=200)
    legal_name = forms.CharField(label="Legal name", max_length=200, help_text="As on the tax form")
    kind = forms.ChoiceField(label="Kind", choices=VendorKind.choices)
    tax_status = forms.ChoiceField(label="Tax status", choices=TaxStatus.choices, initial=TaxStatus.W9)
    country = forms.CharField(label="Country", max_length=2, initial="US", help_text="Two letters (ISO 3166), e.g. US")
    bank_method = forms.ChoiceField(label="Payment method", choices=BankMethod.choices)
    email = forms.EmailField(label="Remittance email", required=False)

    def __init__(self, *args: Any, organizations: list[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organizations = {str(org.pk): org for org in organizations}
        cast(forms.ChoiceField, self.fields["organization"]).choices = [
            (key, org.name) for key, org in self.organizations.items()
        ]


def _organizations(request: HttpRequest) -> list[Organization]:
    ids = projects_with_permission(request.user, Perm.VENDOR_MANAGE).values("organization_id")
    return list(Organization.objects.filter(pk__in=ids).order_by("name"))


@login_required
def vendor_create_view(request: HttpRequest) -> HttpResponse:
    organizations = _organizations(request)
    if not organizations:
        return forbidden(
            request,
            PermissionDenied(
                "Onboarding vendors needs the vendor.manage permission", permission=Perm.VENDOR_MANAGE.value
            ),
            title="Onboard a vendor",
        )
    form = VendorForm(request.POST or None, organizations=organizations)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                vendor = vendor_create(
                    actor=request.user,  # type: ignore[arg-type]
                    organization=form.organizations[data["organization"]],
                    name=data["name"],
                    legal_name=data["legal_name"],
                    kind=data["kind"],
                    country=data["country"].upper(),
                    bank_method=data["bank_method"],
                    tax_status=data["tax_status"],
                    email=data["email"],
                    request=request,
                )
            except DomainError as exc:
                add_domain_error(form, exc, _VENDOR_FIELDS)
                status = exc.status
            else:
                messages.success(
                    request,
                    f"{vendor.name} onboarded. KYC is pending: the vendor uploads its tax form and certificate of "
                    "insurance, and a finance reviewer verifies them.",
                )
                return redirect("web:vendor", vendor_id=vendor.pk)
    return render(request, "web/vendors/new.html", {"form": form}, status=status)


# --------------------------------------------------------------------------------------------------------------
# The detail
# --------------------------------------------------------------------------------------------------------------


class KycForm(forms.Form):
    status = forms.ChoiceField(label="Decision", choices=KycStatus.choices)
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when the KYC fails",
    )


class DocumentReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision", choices=[(DocumentStatus.VERIFIED, "Verify"), (DocumentStatus.REJECTED, "Reject")]
    )
    valid_until = forms.DateField(
        label="Valid until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last day of cover (a certificate of insurance needs one)",
    )
    note = forms.CharField(label="Note", required=False, max_length=2000, help_text="Required to reject")

    def __init__(self, *args: Any, document: VendorDocument, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"valid_until": document.valid_until})
        kwargs["prefix"] = f"doc-{document.pk}"
        super().__init__(*args, **kwargs)


def _vendor_page(
    request: HttpRequest,
    vendor: Vendor,
    *,
    kyc_form: KycForm | None = None,
    review: tuple[uuid.UUID, DocumentReviewForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    viewer = request.user
    organization = vendor.organization_id
    can_review = vendor_permission_check(viewer, Perm.VENDOR_COMPLIANCE_REVIEW, organization=organization)
    can_download = vendor_permission_check(viewer, Perm.DATAROOM_READ, organization=organization)
    documents = list(vendor_documents(viewer=viewer, vendor=vendor))
    review_forms: dict[uuid.UUID, DocumentReviewForm] = {}
    if can_review:
        review_forms = {
            document.pk: DocumentReviewForm(document=document)
            for document in documents
            if document.status == DocumentStatus.PENDING and document.superseded_by_id is None
        }
        if review is not None:
            review_forms[review[0]] = review[1]
    payments = [
        (payment, invoice_url(payment.invoice_id))
        for payment in disbursement_list(viewer=viewer).filter(vendor=vendor)[:PAYMENT_LIMIT]
    ]
    paid_total: dict[str, Money] = {}
    for payment, _url in payments:
        if payment.status == DisbursementStatus.EXECUTED:
            paid_total[payment.currency] = (
                paid_total.get(payment.currency, Money.zero(payment.currency)) + payment.amount
            )
    context = {
        "vendor": vendor,
        "checklist": vendor_compliance_status(vendor=vendor, on=timezone.localdate()),
        "documents": [(document, review_forms.get(document.pk)) for document in documents],
        "can_download": can_download,
        "can_review": can_review,
        "kyc_form": kyc_form
        if kyc_form is not None
        else (KycForm(initial={"status": vendor.kyc_status}) if can_review else None),
        "open_review": review[0] if review is not None else None,
        "contracts": list(contract_list(viewer=viewer, vendor_id=vendor.pk).select_related("project")),
        "payments": payments,
        "paid_total": list(paid_total.values()),
        "today": timezone.localdate(),
        "soon": timezone.localdate() + dt.timedelta(days=30),
    }
    return render(request, "web/vendors/detail.html", context, status=status)


@login_required
@require_GET
def vendor_detail_view(request: HttpRequest, vendor_id: uuid.UUID) -> HttpResponse:
    try:
        vendor = _vendor(request, vendor_id)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Vendor")
    return _vendor_page(request, vendor)


@login_required
@require_POST
def vendor_kyc_view(request: HttpRequest, vendor_id: uuid.UUID) -> HttpResponse:
    try:
        vendor = _vendor(request, vendor_id)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Vendor")
    form = KycForm(request.POST)
    if not form.is_valid():
        return _vendor_page(request, vendor, kyc_form=form, status=422)
    try:
        vendor = vendor_kyc_set(
            actor=request.user,  # type: ignore[arg-type]
            vendor=vendor,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Vendor")
    except DomainError as exc:
        add_domain_error(form, exc, _KYC_FIELDS)
        return _vendor_page(request, vendor, kyc_form=form, status=exc.status)
    messages.success(request, f"KYC of {vendor.name}: {vendor.get_kyc_status_display().lower()}.")
    return redirect("web:vendor", vendor_id=vendor.pk)


@login_required
@require_POST
def vendor_document_review_view(request: HttpRequest, vendor_id: uuid.UUID, document_id: uuid.UUID) -> HttpResponse:
    try:
        vendor = _vendor(request, vendor_id)
        document = vendor_document_get(viewer=request.user, vendor=vendor, document_id=document_id)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Vendor")
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    form = DocumentReviewForm(request.POST, document=document)
    if not form.is_valid():
        return _vendor_page(request, vendor, review=(document.pk, form), status=422)
    try:
        document = vendor_document_verify(
            actor=request.user,  # type: ignore[arg-type]
            document=document,
            decision=form.cleaned_data["decision"],
            valid_until=form.cleaned_data["valid_until"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Vendor")
    except DomainError as exc:
        add_domain_error(form, exc, _REVIEW_FIELDS)
        return _vendor_page(request, vendor, review=(document.pk, form), status=exc.status)
    messages.success(
        request, f"{document.get_kind_display()} {document.original_filename}: {document.get_status_display().lower()}."
    )
    return redirect("web:vendor", vendor_id=vendor.pk)


@login_required
@require_GET
def vendor_document_download_view(
    request: HttpRequest, vendor_id: uuid.UUID, document_id: uuid.UUID
) -> HttpResponseBase:
    try:
        vendor = _vendor(request, vendor_id)
        document = vendor_document_get(viewer=request.user, vendor=vendor, document_id=document_id)
        handle = vendor_document_download(actor=request.user, document=document, request=request)  # type: ignore[arg-type]
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Vendor document")
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except DomainError as exc:  # the stored file is missing or altered (logged by the service)
        return HttpResponse(f"{exc.detail}\n", status=exc.status, content_type="text/plain; charset=utf-8")
    response = FileResponse(
        handle, as_attachment=True, filename=document.original_filename, content_type=document.content_type
    )
    response["Cache-Control"] = "no-store"
    return response
