"""Cursor pagination over time-ordered ids (newest first).

A cursor is opaque to clients; a tampered one is a 422 ``validation_error``,
never a 500.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja.errors import ValidationError
from ninja.pagination import CursorPagination


class Cursor(CursorPagination):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("ordering", ("-id",))
        kwargs.setdefault("page_size", settings.API_PAGE_SIZE)
        kwargs.setdefault("max_page_size", settings.API_MAX_PAGE_SIZE)
        super().__init__(**kwargs)

    def paginate_queryset(self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest, **params: Any) -> Any:
        if pagination.page_size is not None and pagination.page_size < 1:
            raise ValidationError([{"loc": ["query", "page_size"], "msg": "page_size must be at least 1"}])
        try:
            return super().paginate_queryset(queryset, pagination, request, **params)
        except (DjangoValidationError, ValueError) as exc:
            raise ValidationError([{"loc": ["query", "cursor"], "msg": "Invalid cursor"}]) from exc
