"""The contracts tests' funded world and milestone flow (``payor.testing.milestones``)."""

from __future__ import annotations

from payor.contracts.tests.conftest import fast_password_hashing, flow, media, world

__all__ = ["fast_password_hashing", "flow", "media", "world"]
