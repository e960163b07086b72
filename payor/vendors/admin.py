"""Vendors in the Django admin: read-only.

Every vendor write is a service (``payor.vendors.services``) that checks permissions and segregation of duties and
records an audit event; an admin form would do neither, so the admin shows vendors, links and documents but does
not add, change or delete them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from payor.vendors.models import Vendor, VendorDocument, VendorUser


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VendorUserInline(_ReadOnly, admin.TabularInline):
    model = VendorUser
    fk_name = "vendor"
    extra = 0
    fields = ("user", "created_by", "created_at")
    readonly_fields = fields


class VendorDocumentInline(_ReadOnly, admin.TabularInline):
    model = VendorDocument
    fk_name = "vendor"
    extra = 0
    fields = ("kind", "original_filename", "content_type", "size", "status", "valid_until", "superseded_by")
    readonly_fields = fields
    show_change_link = True


@admin.register(Vendor)
class VendorAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("name", "organization", "kind", "country", "tax_status", "bank_method", "kyc_status", "coi_expiry")
    list_filter = ("kyc_status", "tax_status", "bank_method", "kind", "organization")
    search_fields = ("name", "legal_name", "email", "vat_id")
    inlines = (VendorUserInline, VendorDocumentInline)


@admin.register(VendorDocument)
class VendorDocumentAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("vendor", "kind", "original_filename", "status", "valid_until", "uploaded_by", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("vendor__name", "original_filename", "sha256")
