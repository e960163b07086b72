"""Loaded with ``-p payor.testing.pytest_plugin`` before pytest-django reads settings.

With ``DATABASE_URL`` set, tests run against that server (pytest-django makes
``test_<name>``). Without it, an embedded PostgreSQL is started in
``$PAYOR_DATA_DIR`` (``./var/test`` by default, apart from the demo's data).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PAYOR_ENV", "test")
os.environ.setdefault("PAYOR_DATA_DIR", str(Path.cwd() / "var" / "test"))
