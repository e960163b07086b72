"""Provider webhooks: ``POST /webhooks/stripe`` (outside ``/api/v1``: Stripe signs, no session, no CSRF token).

A thin edge over :func:`payor.payments.rail_services.webhook_receive`: the signature is verified with the official
SDK, the event stored once in the inbox, its processing deferred to the ``payments.webhook.process`` job. Answers:
200 ``{"received": true, "duplicate": false}`` (a repeated event: ``duplicate: true``, nothing new);
400 ``webhook_signature_invalid`` / ``webhook_signature_missing`` / ``webhook_payload_invalid``, nothing stored;
413 ``webhook_too_large``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payor.api.problems import domain_error_response, problem_response
from payor.core.errors import DomainError
from payor.payments.models import Rail
from payor.payments.rail_services import webhook_receive

MAX_BODY = 1_000_000


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    if int(request.headers.get("Content-Length") or 0) > MAX_BODY:
        return problem_response(request, status=413, code="webhook_too_large", detail="At most 1 MB")
    try:
        row, created = webhook_receive(rail=Rail.STRIPE_CONNECT, payload=request.body, headers=request.headers)
    except DomainError as exc:
        return domain_error_response(request, exc)
    return JsonResponse({"received": True, "duplicate": not created, "id": row.external_id})
