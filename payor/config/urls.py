from django.contrib import admin
from django.urls import include, path

from payor.api.api import api
from payor.api.webhooks import stripe_webhook
from payor.web.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("webhooks/stripe", stripe_webhook, name="webhooks-stripe"),
    path("accounts/", include("payor.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("payor.web.urls")),
]
