"""The roles API for the tests: the real ``/api/v1`` once the router is mounted there, a twin until then.

The twin is a NinjaAPI with the real API's authentication and exception handlers, serving only the roles
router under the same ``/api/v1/`` prefix, so the tests see exactly what clients will.
"""

from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI

from payor.api.api import api
from payor.api.auth import API_AUTH
from payor.api.routers.roles import router

if any(registration[1] is router for registration in api._router_registrations):
    from payor.config.urls import urlpatterns
else:
    twin = NinjaAPI(title="Payor API (roles)", auth=API_AUTH, urls_namespace="api-v1-roles-tests")
    for exc_class, handler in api._exception_handlers.items():
        twin.add_exception_handler(exc_class, handler)
    twin.add_router("/", router)
    urlpatterns = [path("api/v1/", twin.urls)]

__all__ = ["urlpatterns"]
