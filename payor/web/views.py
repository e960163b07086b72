"""HTMX views: parse input, call one selector/service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from payor.core.errors import NotFound
from payor.projects import selectors
from payor.projects.models import ProjectPhase, ProjectStatus
from payor.rbac.permissions import Perm, permissions_of, roles_of
from payor.rbac.roles import ProjectRole

LIST_LIMIT = 200
EVENT_LIMIT = 50


@login_required
def project_list_view(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(viewer=request.user)  # type: ignore[arg-type]
    query = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    phase = request.GET.get("phase", "")
    if query:
        projects = projects.filter(Q(name__icontains=query) | Q(description__icontains=query))
    if status in ProjectStatus.values:
        projects = projects.filter(status=status)
    if phase in ProjectPhase.values:
        projects = projects.filter(phase=phase)
    rows = [
        {
            "project": project,
            "buckets": [(b, selectors.bucket_funded_total(bucket=b)) for b in project.buckets.all()]
            if project.totals_visible  # type: ignore[attr-defined]
            else None,
        }
        for project in projects.prefetch_related("buckets")[:LIST_LIMIT]
    ]
    context = {
        "rows": rows,
        "total": projects.count() if len(rows) == LIST_LIMIT else len(rows),
        "limit": LIST_LIMIT,
        "query": query,
        "status": status,
        "phase": phase,
        "statuses": ProjectStatus.choices,
        "phases": ProjectPhase.choices,
    }
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    template = "web/projects/list.html#project-rows" if partial else "web/projects/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])  # the same URL answers a page or a fragment
    return response


@login_required
def project_detail_view(request: HttpRequest, project_id: str) -> HttpResponse:
    try:
        project = selectors.project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    granted = permissions_of(request.user, project=project)
    show_totals = Perm.PROJECT_VIEW_TOTALS in granted
    show_ledger = Perm.LEDGER_VIEW in granted
    figures = dict(zip(project.buckets.all(), selectors.project_figures(project=project), strict=True))
    buckets = [
        {
            "bucket": bucket,
            "figures": figures[bucket] if show_totals else None,
            "breakdown": [
                ("Committed", figures[bucket].committed),
                ("Encumbered", figures[bucket].encumbered),
                ("Retention", figures[bucket].retention),
                ("Withheld", figures[bucket].withheld),
                ("Pending", figures[bucket].pending),
                ("Disbursed", figures[bucket].disbursed),
            ]
            if show_totals
            else [],
            "events": list(bucket.funding_events.select_related("recorded_by")[:EVENT_LIMIT]) if show_ledger else [],
            "event_count": bucket.funding_events.count() if show_ledger else 0,
        }
        for bucket in project.buckets.all()
    ]
    context = {
        "project": project,
        "buckets": buckets,
        "show_totals": show_totals,
        "show_ledger": show_ledger,
        "show_finance": show_totals or Perm.BUDGET_VIEW in granted,
        "my_roles": sorted(roles_of(request.user, project), key=list(ProjectRole).index),
    }
    return render(request, "web/projects/detail.html", context)
