"""Base model shared by every domain model."""

from __future__ import annotations

from django.db import models

from payor.core.ids import new_id


class BaseModel(models.Model):
    """Time-ordered UUID primary key plus created/updated timestamps."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ("id",)
