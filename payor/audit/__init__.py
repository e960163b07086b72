"""The tamper-evident audit log: ``from payor import audit; audit.record(actor, action, subject, ...)``.

Nothing here imports Django models at import time (apps may not be ready yet):
``record`` imports the service when called. See :mod:`payor.audit.canonical`
for exactly what each event's hash covers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uuid

    from django.contrib.auth.models import AnonymousUser
    from django.db import models
    from django.http import HttpRequest

    from payor.accounts.models import User
    from payor.audit.models import AuditEvent


def record(
    actor: User | AnonymousUser | None,
    action: str,
    subject: models.Model | tuple[str, object],
    before: object = None,
    after: object = None,
    project: models.Model | uuid.UUID | str | None = None,
    request: HttpRequest | None = None,
    *,
    actor_label: str | None = None,
) -> AuditEvent:
    """Record ``actor`` doing ``action`` (dotted: ``invoice.approved``) to ``subject``, in the current transaction.

    See :func:`payor.audit.services.record` and :func:`payor.audit.services.audit_record`.
    """
    from payor.audit.services import record as service_record

    return service_record(actor, action, subject, before, after, project, request, actor_label=actor_label)
