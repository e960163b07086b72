"""Presentation helpers of the milestone-flow pages (``{% load payor_milestones %}``)."""

from __future__ import annotations

from django import template

register = template.Library()

_WORK_REQUEST_COLORS = {
    "draft": "secondary",
    "sent": "blue",
    "accepted": "green",
    "declined": "red",
    "withdrawn": "dark",
    "expired": "orange",
}
_MILESTONE_COLORS = {"pending": "secondary", "submitted": "blue", "revision_requested": "yellow", "approved": "green"}


@register.filter
def work_request_color(status: str) -> str:
    """Tabler colour of a work request status (``accepted`` -> ``green``)."""
    return _WORK_REQUEST_COLORS.get(str(status), "secondary")


@register.filter
def milestone_color(status: str) -> str:
    """Tabler colour of a milestone or submission status (``revision_requested`` -> ``yellow``)."""
    return _MILESTONE_COLORS.get(str(status), "secondary")


@register.filter
def status_label(status: str) -> str:
    """``revision_requested`` -> ``Revision requested``."""
    return str(status or "").replace("_", " ").capitalize()
