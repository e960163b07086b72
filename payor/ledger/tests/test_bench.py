"""`payor bench ledger` end to end at toy size: one JSON line with every figure, a verified ledger, no leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from payor.ledger.bench import TARGETS, Server

pytestmark = pytest.mark.database_facing

FIGURES = (
    "tpcb_tps",
    "spread_tps",
    "spread_ratio",
    "hot_tps",
    "hot_ratio",
    "batch_seconds",
    "summary_p50_ms",
    "summary_p99_ms",
)


def test_bench_ledger_runs_end_to_end_at_toy_size():
    server = Server.from_url(os.environ["DATABASE_URL"])  # the server the tests use (set by the settings)
    # Scratch databases are named after the URL's database; a name of our own keeps parallel runs apart.
    base = f"benchtest{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": server.url_for(base), "PAYOR_ENV": "test"}
    argv = [sys.executable, "-m", "payor.cli", "manage", "bench", "ledger"]
    argv += ["--seconds", "1", "--clients", "2", "--projects", "20", "--fill", "2000"]
    argv += ["--batch", "200", "--reads", "50", "--scale", "1"]

    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)

    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    figures = json.loads(lines[0])
    for key in FIGURES:
        assert isinstance(figures[key], float | int), key
        assert figures[key] > 0, (key, figures[key])
    assert figures["summary_p50_ms"] <= figures["summary_p99_ms"]
    assert figures["batch_transfers"] == 200
    assert figures["fill_transfers"] >= 2000
    assert figures["transfers_in_ledger"] >= figures["fill_transfers"] + 200 + figures["spread_ok"] + figures["hot_ok"]
    assert figures["projects"] == 20
    assert figures["clients"] == 2
    assert figures["seconds"] == 1
    assert figures["server_version"]
    assert figures["spread_errors"] == {}
    assert figures["hot_errors"] == {}
    assert figures["summary_unbalanced"] == 0
    assert figures["targets"] == TARGETS
    assert set(figures["met"]) == set(TARGETS)
    assert all(isinstance(value, bool) for value in figures["met"].values())
    assert figures["met"]["summary_p99_ms"] is False  # 1M transfers are part of that target
    assert "ledger ok" in result.stdout + result.stderr  # `payor ledger verify` ran and passed

    with server.connect("postgres") as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"{base}_bench%"]).fetchall()
    assert left == []  # the scratch databases are dropped
