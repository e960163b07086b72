"""Reading the outbox in order, for consumers (webhook delivery, exports). System-level: no viewer.

``outbox_read(after=N)`` returns the committed events with position > N in position order. Positions are
assigned at commit under a lock held until the transaction is visible (``sql/outbox.sql``), so any
snapshot sees every position up to its highest one, except positions whose commit failed (which nobody
will ever see): reading on from the last position handed out never skips an event that commits later.
"""

from __future__ import annotations

from dataclasses import dataclass

from payor.events.errors import OutboxCursorInvalid
from payor.events.models import OutboxCursor, OutboxEvent

LIMIT_MAX = 1000


@dataclass(frozen=True)
class OutboxPage:
    events: list[OutboxEvent]
    next_after: int  # pass back as ``after`` to read on (unchanged when the page is empty)


def outbox_read(*, after: int, limit: int = 100) -> OutboxPage:
    """Up to ``limit`` committed events with position > ``after``, in position order (one index range scan)."""
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise OutboxCursorInvalid("after is a position: a whole number, 0 or more")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= LIMIT_MAX:
        raise OutboxCursorInvalid(f"limit is 1-{LIMIT_MAX}")
    events = list(OutboxEvent.objects.filter(position__gt=after).order_by("position")[:limit])
    next_after = events[-1].position if events else after
    assert next_after is not None  # noqa: S101 - committed events always have a position
    return OutboxPage(events=events, next_after=next_after)


def outbox_cursor_get(*, consumer: str) -> int:
    """Where ``consumer`` stands (0 before its first advance)."""
    position = OutboxCursor.objects.filter(consumer=consumer).values_list("position", flat=True).first()
    return position or 0
