"""Presentation helpers for Payor's server-rendered UI (``{% load payor_web %}``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

from payor.core.money import Money, MoneyError

register = template.Library()

_STATUS_COLORS = {"active": "green", "on_hold": "yellow", "closed": "secondary"}
_PHASE_COLORS = {"origination": "azure", "implementation": "indigo", "verification": "purple", "issuance": "teal"}


@register.filter
def money(value: Money | None, locale: str = "en_US") -> str:
    """``{{ amount|money }}`` -> ``$1,234.56``; an em dash for a missing amount."""
    if value is None or value == "":
        return "—"
    if not isinstance(value, Money):
        return str(value)
    try:
        return value.format(locale)
    except MoneyError:
        return str(value)


@register.filter
def short_hash(value: str | None, keep: int = 6) -> str:
    """``0x1a2b3c4d…`` -> ``0x1a2b3c…9f8e7d``: enough to recognise, not to copy (use the title)."""
    if not value:
        return ""
    value = str(value)
    prefix = "0x" if value.lower().startswith("0x") else ""
    body = value[len(prefix) :]
    if len(body) <= keep * 2 + 1:
        return value
    return f"{prefix}{body[:keep]}…{body[-keep:]}"


@register.filter
def status_color(status: str) -> str:
    """Tabler colour name for a project status (``active`` -> ``green``)."""
    return _STATUS_COLORS.get(str(status), "secondary")


@register.filter
def phase_color(phase: str) -> str:
    """Tabler colour name for a project phase."""
    return _PHASE_COLORS.get(str(phase), "secondary")


@register.filter
def initials(user: Any) -> str:
    """One or two letters for an avatar: from the full name, else the email."""
    name = (getattr(user, "full_name", "") or "").strip()
    if name:
        parts = name.split()
        letters = parts[0][:1] + (parts[-1][:1] if len(parts) > 1 else "")
        return letters.upper()
    email = getattr(user, "email", "") or ""
    return email[:1].upper() or "?"


def _widget_class(field: BoundField) -> str:
    widget_type = field.widget_type
    if widget_type in {"checkbox", "radio", "checkboxselectmultiple", "radioselect"}:
        return "form-check-input"
    if widget_type in {"select", "selectmultiple", "nullbooleanselect"}:
        return "form-select"
    return "form-control"


@register.simple_tag
def form_widget(field: BoundField, extra_class: str = "", **attrs: Any) -> SafeString:
    """Render a form field's widget with Tabler/Bootstrap classes.

    ``{% form_widget form.email "form-control-lg" placeholder="you@example.org" %}``
    adds ``is-invalid`` when the field has errors. Django itself sets
    ``aria-invalid`` and ``aria-describedby`` (``<id>_helptext``, ``<id>_error``).
    """
    classes = [_widget_class(field)]
    existing = field.field.widget.attrs.get("class")
    if existing:
        classes.append(existing)
    if extra_class:
        classes.append(extra_class)
    if field.errors:
        classes.append("is-invalid")
    attrs["class"] = " ".join(classes)
    return field.as_widget(attrs=attrs)


@register.filter
def has_tag(attrs: dict[str, Any] | None, tag: str) -> bool:
    """For allauth element templates: ``{% if attrs|has_tag:"danger" %}``."""
    if not attrs:
        return False
    return tag in (attrs.get("tags") or [])
