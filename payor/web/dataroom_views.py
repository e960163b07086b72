"""The data-room page: a project's transactions with their receipts and documents (hashes), finance only.

Listing needs ``dataroom.read`` (finance reviewer, treasurer, procurement, auditor, system auditors): anyone else
who sees the project gets the 403 page, who does not a 404. Downloads go through the same audited service as the
API (``dataroom.read`` audit event per read; a contractor may download their own receipt documents only).
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header

from payor.core.errors import DomainError, NotFound, PermissionDenied
from payor.dataroom.selectors import dataroom_folders
from payor.dataroom.services import dataroom_object_read
from payor.projects.selectors import project_get
from payor.web.finance_views import forbidden


@login_required
def dataroom_view(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    try:
        project = project_get(viewer=request.user, project_id=project_id)  # type: ignore[arg-type]
        folders = dataroom_folders(viewer=request.user, project=project)
    except PermissionDenied as exc:
        return forbidden(request, exc, title="Data room")
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    return render(request, "web/dataroom/list.html", {"project": project, "folders": folders})


@login_required
def dataroom_object_view(request: HttpRequest, object_id: uuid.UUID) -> HttpResponse:
    try:
        document = dataroom_object_read(viewer=request.user, object_id=object_id, request=request)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except DomainError as exc:  # missing key, altered or missing stored document
        return HttpResponse(f"{exc.detail}\n", status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(document.data, content_type=document.obj.content_type)
    response["Content-Disposition"] = content_disposition_header(True, document.obj.name.rsplit("/", 1)[-1])
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
