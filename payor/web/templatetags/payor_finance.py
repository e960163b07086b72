"""Presentation helpers of the finance screens (``{% load payor_finance %}``)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from payor.core.money import Money

register = template.Library()

_KYC_COLORS = {"passed": "green", "pending": "yellow", "failed": "red"}
_CONTRACT_COLORS = {"draft": "secondary", "executed": "green", "closed": "azure", "canceled": "secondary"}
_CO_COLORS = {"pending": "yellow", "approved": "green", "rejected": "red"}
_DOC_COLORS = {"pending": "yellow", "verified": "green", "rejected": "red"}
_PAYMENT_COLORS = {"scheduled": "blue", "executed": "green", "failed": "red", "canceled": "secondary"}
_INVOICE_COLORS = {
    "draft": "secondary",
    "submitted": "blue",
    "under_review": "azure",
    "approved": "teal",
    "scheduled": "indigo",
    "paid": "green",
    "closed": "secondary",
    "rejected": "red",
}
_TABLES = {
    "kyc": _KYC_COLORS,
    "contract": _CONTRACT_COLORS,
    "change_order": _CO_COLORS,
    "document": _DOC_COLORS,
    "payment": _PAYMENT_COLORS,
    "invoice": _INVOICE_COLORS,
}


@register.filter
def share(part: Money | None, whole: Money | None) -> str:
    """``part`` as a percentage of ``whole`` for a CSS width (``"37.50"``), exact to 0.01, clamped to 0-100."""
    if not isinstance(part, Money) or not isinstance(whole, Money) or whole.minor <= 0 or part.minor <= 0:
        return "0"
    hundredths = min(part.minor * 10_000 // whole.minor, 10_000)
    return str((Decimal(hundredths) / 100).quantize(Decimal("0.01")))


@register.filter
def tone(status: str, kind: str) -> str:
    """Tabler colour of a status: ``{{ vendor.kyc_status|tone:"kyc" }}`` -> ``green``."""
    return _TABLES.get(kind, {}).get(str(status), "secondary")


@register.filter
def signed_money(value: Money | None) -> str:
    """``+$1,000.00`` / ``\u2212$250.00`` (a change order's delta, with a true minus sign)."""
    if not isinstance(value, Money):
        return "—"
    if value.is_negative:
        return f"\u2212{(-value).format()}"
    return f"+{value.format()}"


@register.filter
def negative(value: Money | None) -> bool:
    return isinstance(value, Money) and value.is_negative
