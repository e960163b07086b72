"""RFC 9457 problem details: the one error format of the API.

Every error response is ``application/problem+json`` with a stable ``code``
(listed in ``docs/errors.md``); ``type`` is ``urn:payor:problem:<code>``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse

from payor.core.errors import DomainError

CONTENT_TYPE = "application/problem+json"


def problem_body(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    title: str | None = None,
    detail: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:payor:problem:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.path
        request_id = getattr(request, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def problem_response(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    title: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    body = problem_body(request, status=status, code=code, title=title, detail=detail, **extra)
    response = HttpResponse(json.dumps(body, default=str), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def domain_error_response(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return problem_response(request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra)
