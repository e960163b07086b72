from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from payor.audit.selectors import audit_log_available
from payor.web.navigation import navigation_for


def payor(request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {"PAYOR_VERSION": settings.VERSION, "PAYOR_ENV": settings.PAYOR_ENV}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # Lazy: one query, and only when a template asks (the sidebar does; error pages and fragments do not).
        context["show_audit_log"] = SimpleLazyObject(lambda: audit_log_available(viewer=user))
        # The role-shaped menus (payor.web.navigation): also lazy, computed once per request when the sidebar asks.
        context["nav"] = SimpleLazyObject(lambda: navigation_for(request))
    return context
