"""Domain errors: every expected failure carries a stable code and an HTTP status.

Services raise these; the API renders them as RFC 9457 problem JSON and the web
views as messages. Codes are part of the public contract (``docs/errors.md``):
never rename one, add a new one instead.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request refused"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.extra = extra
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422
    title = "The request is not valid"


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    title = "Authentication required"


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    title = "You do not have permission to do this"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state"
