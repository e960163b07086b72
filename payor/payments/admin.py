"""Read-only admin views of payments: every change goes through the services (ledger, audit, events)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from payor.payments.models import ConnectedAccount, Disbursement, PaymentAttempt, Payout, WebhookEvent


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Disbursement)
class DisbursementAdmin(ReadOnly):
    list_display = ("id", "invoice", "vendor", "method", "status", "scheduled_on", "executed_on", "rail_reference")
    list_filter = ("status", "method")
    search_fields = ("rail_reference", "id")


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnly):
    list_display = ("idempotency_key", "rail", "status", "tries", "provider_reference", "error_code", "started_at")
    list_filter = ("status", "rail")
    search_fields = ("idempotency_key", "provider_reference")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnly):
    list_display = ("external_id", "rail", "type", "received_at", "processed_at", "attempts", "last_error")
    list_filter = ("rail", "type")
    search_fields = ("external_id",)


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnly):
    list_display = ("account_id", "vendor", "transfers_capability", "details_submitted", "payouts_enabled")
    search_fields = ("account_id",)


@admin.register(Payout)
class PayoutAdmin(ReadOnly):
    list_display = ("payout_id", "account", "status", "failure_code", "event_created_at")
    list_filter = ("status",)
    search_fields = ("payout_id",)
