"""The transactional outbox: ``from payor import events; events.emit("invoice.approved", aggregate=invoice, ...)``.

Nothing here imports Django models at import time (apps may not be ready yet): ``emit`` imports the
service when called. Topics are listed in :mod:`payor.events.topics`; ordering and delivery guarantees
are described in :mod:`payor.events.services` and ``docs/architecture.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db import models

    from payor.events.models import OutboxEvent


def emit(
    topic: str,
    *,
    aggregate: models.Model | tuple[str, object],
    payload: Mapping[str, object],
    project: models.Model | uuid.UUID | str | None = None,
) -> OutboxEvent:
    """Append ``topic`` about ``aggregate`` to the outbox, in the caller's transaction (refused outside one).

    See :func:`payor.events.services.event_emit`.
    """
    from payor.events.services import event_emit

    return event_emit(topic, aggregate=aggregate, payload=payload, project=project)
