"""Presentation helpers of the invoice and vendor-portal pages (``{% load payor_invoices %}``)."""

from __future__ import annotations

import json
from typing import Any

from django import template

from payor.rbac.roles import ProjectRole

register = template.Library()

_STATUS_COLORS = {
    "draft": "secondary",
    "submitted": "blue",
    "under_review": "azure",
    "approved": "green",
    "scheduled": "indigo",
    "paid": "teal",
    "closed": "dark",
    "rejected": "red",
}
_PAYMENT_COLORS = {"scheduled": "indigo", "executed": "green", "failed": "red", "canceled": "secondary"}
_STAGE_COLORS = {"done": "green", "next": "orange", "waiting": "secondary"}
_DECISION_COLORS = {"approved": "green", "rejected": "red", "returned": "yellow"}


@register.filter
def invoice_status_color(status: str) -> str:
    """Tabler colour of an invoice status (``approved`` -> ``green``)."""
    return _STATUS_COLORS.get(str(status), "secondary")


@register.filter
def payment_status_color(status: str) -> str:
    """Tabler colour of a disbursement status."""
    return _PAYMENT_COLORS.get(str(status), "secondary")


@register.filter
def stage_color(status: str) -> str:
    """Tabler colour of an approval stage's status (done / next / waiting)."""
    return _STAGE_COLORS.get(str(status), "secondary")


@register.filter
def decision_color(decision: str) -> str:
    return _DECISION_COLORS.get(str(decision), "secondary")


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON for display in a ``<pre>`` (autoescaped by the template)."""
    return json.dumps(value, indent=2, sort_keys=False, default=str)


@register.filter
def role_label(role: Any) -> str:
    """``finance_reviewer`` -> ``Finance reviewer`` (a ProjectRole's label when it is one)."""
    try:
        return str(ProjectRole(str(role)).label)
    except ValueError:
        return str(role).replace("_", " ").capitalize()
