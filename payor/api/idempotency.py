"""``Idempotency-Key`` support for API writes (POST, PUT, PATCH, DELETE).

* First request with a key: runs inside one transaction together with the
  insertion of the key; a successful (< 400) response is stored with it.
* Same key, same method/path/body: the stored response is replayed with
  ``Idempotent-Replayed: true``, nothing runs again.
* Same key, different request: ``409 idempotency_key_reused``.
* Concurrent requests with one key: the second waits on the key's unique index
  until the first commits, then replays its response (or runs, if the first
  failed and rolled back).
* Error responses (>= 400) are not stored and their transaction is rolled
  back, so a client can fix its request and retry with the same key.

Keys are scoped to the authenticated user and kept for
``IDEMPOTENCY_KEY_TTL_HOURS`` (a periodic job purges older ones).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from payor.api.auth import principal
from payor.api.models import IdempotencyRecord
from payor.api.problems import problem_response
from payor.core.ids import new_id

HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255


def _key_valid(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(33 <= ord(ch) <= 126 for ch in key)


def request_digest(request: HttpRequest) -> str:
    body = request.body
    if request.content_type == "application/json" and body:
        with contextlib.suppress(ValueError):  # not JSON after all: compare the raw bytes
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""), status=record.status_code, content_type=record.content_type or None
    )
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method not in WRITE_METHODS or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not _key_valid(key):
            return problem_response(
                request,
                status=400,
                code="idempotency_key_invalid",
                detail=f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters",
            )
        user = principal(request)
        if user is None:
            return self.get_response(request)  # the API answers 401 itself
        digest = request_digest(request)
        cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)

        with transaction.atomic():
            IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=cutoff).delete()
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO api_idempotencyrecord
                        (id, created_at, updated_at, user_id, key, method, path, request_digest, content_type)
                    VALUES (%s, now(), now(), %s, %s, %s, %s, %s, '')
                    ON CONFLICT (user_id, key) DO NOTHING
                    RETURNING id
                    """,
                    [new_id(), user.pk, key, request.method, request.path[:500], digest],
                )
                inserted = cursor.fetchone()
            if inserted is None:
                record = IdempotencyRecord.objects.select_for_update().get(user=user, key=key)
                if record.request_digest != digest:
                    return problem_response(
                        request,
                        status=409,
                        code="idempotency_key_reused",
                        detail=f"{HEADER} {key!r} was already used for a different request",
                    )
                return _replay(record)

            response = self.get_response(request)
            if response.status_code >= 400 or response.streaming:
                transaction.set_rollback(True)
                return response
            IdempotencyRecord.objects.filter(pk=inserted[0]).update(
                status_code=response.status_code,
                content_type=response.get("Content-Type", ""),
                response_body=response.content,
            )
            return response


def idempotency_purge() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
