"""URLs for the API tests: the real API if it mounts the approval-matrix router, else a test API that does.

The test API has the real API's authentication and exception handlers, so
responses are what the mounted router will answer.
"""

from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI

from payor.api.api import api
from payor.api.auth import API_AUTH
from payor.api.routers.approval_matrix import router
from payor.config import urls as project_urls

if any(registration[1] is router for registration in api._router_registrations):
    urlpatterns = project_urls.urlpatterns
else:
    test_api = NinjaAPI(title="approvals tests", auth=API_AUTH, urls_namespace="api-v1-approvals-tests")
    for exc_class, handler in api._exception_handlers.items():
        test_api.add_exception_handler(exc_class, handler)
    test_api.add_router("/", router)
    urlpatterns = [path("api/v1/", test_api.urls)]
