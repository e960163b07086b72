"""The REST API: ``/api/v1``, OpenAPI 3 at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``.

Every error is RFC 9457 problem JSON with a stable code (``docs/errors.md``).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

from payor import __version__
from payor.api.auth import API_AUTH
from payor.api.problems import domain_error_response, problem_response
from payor.api.routers.approval_matrix import router as approval_matrix_router
from payor.api.routers.audit import router as audit_router
from payor.api.routers.budget import router as budget_router
from payor.api.routers.contracts import router as contracts_router
from payor.api.routers.invoices import router as invoices_router
from payor.api.routers.milestones import router as milestones_router
from payor.api.routers.notifications import router as notifications_router
from payor.api.routers.payments import router as payments_router
from payor.api.routers.projects import router as projects_router
from payor.api.routers.receipts import router as receipts_router
from payor.api.routers.roles import router as roles_router
from payor.api.routers.vendors import router as vendors_router
from payor.api.routers.wallets import router as wallets_router
from payor.core.errors import DomainError
from payor.core.money import MoneyError

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Payor API",
    version=__version__,
    description=(
        "The money side of funded projects. Authenticate with a personal token "
        "(`Authorization: Bearer payor_…`) or a browser session. POSTs accept an "
        "`Idempotency-Key` header. Errors are RFC 9457 problem JSON with a stable `code`."
    ),
    auth=API_AUTH,
    urls_namespace="api-v1",
)

_HTTP_ERROR_CODES = {
    "Cannot parse request body": "body_unparseable",
    "CSRF check Failed": "csrf_failed",
}


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return domain_error_response(request, exc)


@api.exception_handler(MoneyError)
def on_money_error(request: HttpRequest, exc: MoneyError) -> HttpResponse:
    return problem_response(request, status=422, code=exc.code, title="Invalid amount", detail=str(exc))


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"loc": list(err.get("loc", [])), "msg": str(err.get("msg", err)), "type": err.get("type", "invalid")}
        if isinstance(err, dict)
        else {"loc": [], "msg": str(err), "type": "invalid"}
        for err in exc.errors
    ]
    return problem_response(
        request,
        status=422,
        code="validation_error",
        title="The request is not valid",
        detail="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        errors=errors,
    )


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(
        request,
        status=401,
        code="not_authenticated",
        title="Authentication required",
        detail="Send `Authorization: Bearer <token>` or sign in.",
        headers={"WWW-Authenticate": 'Bearer realm="payor"'},
    )


@api.exception_handler(AuthorizationError)
def on_authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return problem_response(request, status=403, code="permission_denied", detail=str(exc))


@api.exception_handler(DjangoPermissionDenied)
def on_django_permission_denied(request: HttpRequest, exc: DjangoPermissionDenied) -> HttpResponse:
    return problem_response(request, status=403, code="permission_denied", detail=str(exc) or None)


@api.exception_handler(Throttled)
def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return problem_response(request, status=429, code="rate_limited", detail=str(exc))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    code = _HTTP_ERROR_CODES.get(message.split(" (")[0], f"http_{exc.status_code}")
    return problem_response(request, status=exc.status_code, code=code, detail=message)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, status=404, code="not_found", detail="No such resource")


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled API error", exc_info=exc)
    return problem_response(
        request, status=500, code="internal_error", detail="An unexpected error occurred; it has been logged."
    )


api.add_router("/", projects_router)
api.add_router("/", roles_router)
api.add_router("/", approval_matrix_router)
api.add_router("/", audit_router)
api.add_router("/", wallets_router)
api.add_router("/", budget_router)
api.add_router("/", vendors_router)
api.add_router("/", contracts_router)
api.add_router("/", invoices_router)
api.add_router("/", payments_router)
api.add_router("/", milestones_router)
api.add_router("/", notifications_router)
api.add_router("/", receipts_router)
