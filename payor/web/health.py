from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from payor.core.selectors import system_health


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers (503 otherwise), with the worker's liveness."""
    health = system_health()
    body = {
        "status": "ok" if health.ok else "error",
        "database": health.database,
        "worker": health.worker,
        "version": health.version,
        "last_worker_heartbeat": health.last_worker_heartbeat,
    }
    return JsonResponse(body, status=200 if health.ok else 503)
