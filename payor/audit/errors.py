"""Audit refusals, each with a stable code (docs/errors.md).

They signal a bug in the calling service (an action that is not dotted, a float
in ``before``/``after``...), surfaced with its reason like the ledger's
``TransferInvalid``. Tampering is refused by the database itself (SQLSTATE
``PY002`` from the append-only trigger). ``AuditFilterInvalid`` is the reader's
mistake instead: a malformed filter of the audit API or page.
"""

from __future__ import annotations

from payor.core.errors import DomainError


class AuditError(DomainError):
    code = "audit_error"
    status = 422
    title = "The audit log refused the event"


class AuditEventInvalid(AuditError):
    """Codes: ``audit_action_invalid``, ``audit_subject_invalid``, ``audit_value_invalid``."""

    title = "The audit event is not valid"


class AuditFilterInvalid(AuditError):
    """A malformed filter when reading the log; ``field`` names the parameter.

    Codes: ``audit_filter_invalid``, ``audit_range_invalid`` (since after until), ``audit_export_format_invalid``.
    """

    code = "audit_filter_invalid"
    title = "The audit log filter is not valid"
