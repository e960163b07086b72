from django.contrib import admin

from payor.projects.models import BudgetLine, FundingBucket, FundingEvent, Project


class FundingBucketInline(admin.TabularInline):
    model = FundingBucket
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "status", "phase", "currency", "start_date", "end_date")
    list_filter = ("status", "phase", "currency", "organization")
    search_fields = ("name", "description")
    inlines = (FundingBucketInline,)


class FundingEventInline(admin.TabularInline):
    model = FundingEvent
    extra = 0
    fields = ("source", "currency", "amount", "received_on", "reference", "tx_hash")
    # Funding is recorded through the service (which locks the bucket); the admin shows it.
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FundingBucket)
class FundingBucketAdmin(admin.ModelAdmin):
    list_display = ("project", "kind", "currency")
    list_filter = ("kind", "currency")
    inlines = (FundingEventInline,)


@admin.register(BudgetLine)
class BudgetLineAdmin(admin.ModelAdmin):
    """Read-only: lines change through the services (cap rules, locks, audit)."""

    list_display = ("project", "wbs_code", "description", "cap", "currency", "archived_at")
    list_filter = ("currency",)
    search_fields = ("wbs_code", "description", "project__name")
    ordering = ("project", "wbs_code")
    readonly_fields = (
        "project",
        "parent",
        "wbs_code",
        "description",
        "currency",
        "cap",
        "position",
        "archived_at",
        "archived_by",
        "created_by",
    )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
