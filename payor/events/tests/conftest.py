from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    """Every outbox test is database-facing (triggers, sequences, commit-time behaviour): CI runs them on the
    embedded PostgreSQL too."""
    for item in items:
        if "payor/events/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)
