from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from payor.accounts.models import ApiToken, Membership, Organization, User, Wallet, WalletNonce


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_active", "is_staff", "last_login")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login",)}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "slug", "country")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (MembershipInline,)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "digest", "last_used_at")
    search_fields = ("name", "prefix", "user__email")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services (verified signatures, audited): viewable, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("address", "user", "label", "chain_id", "linked_at", "last_sign_in_at")
    list_select_related = ("user",)
    search_fields = ("address", "user__email", "label")
    ordering = ("-linked_at",)


@admin.register(WalletNonce)
class WalletNonceAdmin(ReadOnlyAdmin):
    list_display = ("nonce", "purpose", "address", "chain_id", "user", "issued_at", "expires_at", "used_at")
    list_filter = ("purpose",)
    list_select_related = ("user",)
    search_fields = ("nonce", "address", "user__email")
    ordering = ("-issued_at",)
