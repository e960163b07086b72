from __future__ import annotations

from django.conf import settings
from django.db import models

from payor.core.models import BaseModel


class IdempotencyRecord(BaseModel):
    """The stored outcome of a POST made with an ``Idempotency-Key``.

    Keys are scoped to the authenticated user. The row is inserted in the same
    transaction as the request's own writes, so a key is "used" exactly when
    its effects committed.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_digest = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    response_body = models.BinaryField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="api_idempotency_user_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="api_idempotency_created")]
