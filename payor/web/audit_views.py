"""The "Audit log" page and its export: parse the filters, call the audit selectors, render.

Who may read what is :mod:`payor.audit.selectors`' rule (``audit.read``);
without it anywhere the page is a 403. The filters are the API's, under short
names (``project``, ``action``, ``actor``, ``subject_type``, ``subject_id``,
``since``, ``until``); ``before``/``after`` page by seq. The export link carries
the same filters, so it downloads exactly the events the filters show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from payor.audit.diff import audit_diff, diff_counts
from payor.audit.errors import AuditFilterInvalid
from payor.audit.export import MEDIA_TYPES, export_chunks, export_filename, export_format
from payor.audit.models import AuditEvent
from payor.audit.selectors import (
    AuditFilter,
    AuditScope,
    audit_chain_head,
    audit_filter_parse,
    audit_page,
    audit_scope,
)
from payor.core.errors import NotFound, PermissionDenied
from payor.projects.models import Project

#: Query parameter -> what the errors call it (the form's labels).
FIELDS: Final[dict[str, str]] = {
    "project": "Project",
    "action": "Action",
    "actor": "Actor",
    "subject_type": "Subject type",
    "subject_id": "Subject id",
    "since": "From",
    "until": "To",
}
_NAMES: Final = {"project_id": "Project", **{key: label for key, label in FIELDS.items() if key != "project"}}
_PAGE_PARAMS: Final = {"before": "Older than", "after": "Newer than"}
PROJECT_OPTIONS = 500


def _form(params: Mapping[str, str]) -> dict[str, str]:
    return {key: params.get(key, "").strip()[:300] for key in (*FIELDS, *_PAGE_PARAMS)}


def _filters(form: Mapping[str, str]) -> AuditFilter:
    return audit_filter_parse(
        project_id=form["project"],
        action=form["action"],
        actor=form["actor"],
        subject_type=form["subject_type"],
        subject_id=form["subject_id"],
        since=form["since"],
        until=form["until"],
        names=_NAMES,
    )


def _page_seq(form: Mapping[str, str], key: str) -> int | None:
    # The same rule as the API's afterSeq: digits only.
    return audit_filter_parse(after_seq=form[key], names={"after_seq": _PAGE_PARAMS[key]}).after_seq


def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return render(request, "web/audit/forbidden.html", {"reason": exc.detail}, status=403)


def action_label(action: str) -> str:
    """``approval_matrix.updated`` -> ``Approval matrix updated``; ``role.limit_changed`` -> ``Role limit changed``."""
    return " ".join(part.replace("_", " ") for part in action.split(".")).capitalize()


def subject_label(subject_type: str) -> str:
    """``rbac.projectroleassignment`` -> ``project role assignment`` (the model's name; the type itself if unknown)."""
    try:
        return str(apps.get_model(subject_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return subject_type


def _rows(events: list[AuditEvent]) -> list[dict[str, Any]]:
    ids = {event.project_id for event in events if event.project_id is not None}
    names = dict(Project.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
    rows = []
    for event in events:
        lines = audit_diff(event.before, event.after)
        rows.append(
            {
                "event": event,
                "action_label": action_label(event.action),
                "subject_label": subject_label(event.subject_type),
                "project_name": names.get(event.project_id) if event.project_id else None,
                "diff": lines,
                "counts": diff_counts(lines),
            }
        )
    return rows


def _project_options(scope: AuditScope) -> list[Project]:
    return list(scope.projects.order_by("name", "pk").only("pk", "name")[:PROJECT_OPTIONS])


@login_required
@require_GET
def audit_log_view(request: HttpRequest) -> HttpResponse:
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    try:
        scope = audit_scope(viewer=request.user)
    except PermissionDenied as exc:
        return _forbidden(request, exc)
    form = _form(request.GET)
    context: dict[str, Any] = {"form": form, "error": None, "page": None, "rows": []}
    try:
        filters = _filters(form)
        page = audit_page(scope.events(filters), before=_page_seq(form, "before"), after=_page_seq(form, "after"))
    except AuditFilterInvalid as exc:
        context["error"] = exc
    except PermissionDenied as exc:  # a project they see without audit.read on it
        return _forbidden(request, exc)
    except NotFound as exc:  # a project they cannot see, or none
        raise Http404(str(exc)) from exc
    else:
        if filters.project_id is not None:
            form["project"] = str(filters.project_id)  # as the select's options spell it
        context["page"] = page
        context["rows"] = _rows(page.events)
        context["filtered"] = not filters.is_empty
    query = {key: form[key] for key in FIELDS if form[key]}
    context["filter_query"] = urlencode(query)
    if not partial:
        context["projects"] = _project_options(scope)
        context["head"] = audit_chain_head(scope=scope)
        context["everything"] = scope.everything
    template = "web/audit/list.html#audit-rows" if partial else "web/audit/list.html"
    status = 400 if context["error"] is not None and not partial else 200  # htmx swaps only 2xx answers
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # the same URL answers a page or a fragment
    return response


@login_required
@require_GET
def audit_export_view(request: HttpRequest) -> HttpResponseBase:
    try:
        scope = audit_scope(viewer=request.user)
    except PermissionDenied as exc:
        return _forbidden(request, exc)
    form = _form(request.GET)
    try:
        fmt = export_format(request.GET.get("format"))
        events = scope.events(_filters(form))  # every check runs now, before the first byte is streamed
    except AuditFilterInvalid as exc:
        return HttpResponse(f"{exc.detail}\n", status=400, content_type="text/plain; charset=utf-8")
    except PermissionDenied as exc:
        return _forbidden(request, exc)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    response = StreamingHttpResponse(export_chunks(events, fmt=fmt), content_type=MEDIA_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_filename(fmt)}"'
    response["Cache-Control"] = "no-store"
    return response
