from django.contrib import admin

from payor.events.models import OutboxCursor, OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Read-only: events are append-only (a trigger refuses edits)."""

    list_display = ("position", "topic", "aggregate_type", "aggregate_id", "project_id", "occurred_at")
    list_filter = ("topic",)
    search_fields = ("aggregate_id", "topic")
    ordering = ("-position",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxCursor)
class OutboxCursorAdmin(admin.ModelAdmin):
    list_display = ("consumer", "position", "updated_at")

    def has_change_permission(self, request, obj=None):
        return False
