from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from payor.audit.selectors import audit_log_available


def payor(request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {"PAYOR_VERSION": settings.VERSION, "PAYOR_ENV": settings.PAYOR_ENV}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # Lazy: one query, and only when a template asks (the sidebar does; error pages and fragments do not).
        context["show_audit_log"] = SimpleLazyObject(lambda: audit_log_available(viewer=user))
    return context
