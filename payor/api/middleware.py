"""Make every error under /api/ a problem JSON, even those Django answers itself.

Ninja renders errors raised in endpoints; this catches the rest: unknown paths
(404), wrong methods (405), and other framework-level refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from payor.api.problems import CONTENT_TYPE, problem_response

_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


class ApiProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith(CONTENT_TYPE)
        ):
            status = response.status_code
            headers = {"Allow": response["Allow"]} if response.has_header("Allow") else None
            detail = f"{request.method} is not allowed here" if status == 405 else None
            return problem_response(
                request,
                status=status,
                code=_CODES.get(status, f"http_{status}"),
                title=HTTPStatus(status).phrase,
                detail=detail,
                headers=headers,
            )
        return response
