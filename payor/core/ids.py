"""Time-ordered identifiers (UUIDv7, RFC 9562).

UUIDv7 ids sort by creation time, so B-tree indexes stay append-mostly and
cursor pagination over ``id`` follows creation order.
"""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid6.uuid7().bytes)
