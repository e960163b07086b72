"""Receipt refusals, each with a stable code (docs/errors.md)."""

from __future__ import annotations

from payor.core.errors import NotFound


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"
    title = "No such receipt"
