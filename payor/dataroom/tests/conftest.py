"""Fixtures: the receipts' world (payments' ``billing``: a funded project, a compliant US vendor, an executed
contract) and the encrypted local data room (``dataroom``)."""

from __future__ import annotations

import pytest

from payor.receipts.tests.conftest import billing, dataroom, fast_password_hashing, world

__all__ = ["billing", "dataroom", "fast_password_hashing", "world"]


def pytest_collection_modifyitems(config, items):
    """The data-room tests that touch the database run on the embedded PostgreSQL too (the storage ones do not)."""
    for item in items:
        path = str(item.fspath)
        if "payor/dataroom/tests" in path and not path.endswith("test_local_storage.py"):
            item.add_marker(pytest.mark.database_facing)
