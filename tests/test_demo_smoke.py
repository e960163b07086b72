"""`payor demo` end to end, as a newcomer runs it: embedded PostgreSQL, web, worker, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.embedded, pytest.mark.database_facing]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_demo(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PAYOR_ENV", "PAYOR_SECRET_KEY"}}
    env.update(PAYOR_DATA_DIR=str(data_dir), PORT=str(port), PAYOR_WEB_WORKERS="1", PAYOR_WORKER_CONCURRENCY="1")
    return subprocess.Popen(
        [sys.executable, "-m", "payor.cli", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


def test_demo_serves_reports_health_signs_in_and_stops_cleanly(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_demo(tmp_path, port)
    try:
        healthy = wait_for(lambda: json.loads(get(f"{base}/healthz")[1])["worker"] == "ok", timeout=120)
        status, body = get(f"{base}/healthz")
        login_status, login_page = get(f"{base}/accounts/login/")
        spawned = children_of(process.pid)
    finally:
        output = stop(process)
    assert healthy, output
    assert status == 200
    health = json.loads(body)
    assert (health["status"], health["database"], health["worker"]) == ("ok", "ok", "ok")
    assert login_status == 200
    assert b'name="login"' in login_page
    assert "pm@orenna.test" in output
    assert "payor-demo-pass" in output
    assert process.returncode == 0, output
    # Ctrl-C stopped web, worker and the embedded PostgreSQL.
    assert spawned, "demo should run web and worker as child processes"
    assert wait_for(lambda: not any(alive(p) for p in spawned), 20)
    pgdata = str(tmp_path / "pgdata")
    assert not [
        p
        for p in psutil.process_iter(attrs=("name", "cmdline"))
        if p.info["name"] == "postgres" and pgdata in " ".join(p.info["cmdline"] or [])
    ]

    # A second run reuses the data: same project ids.
    first_ids = set(re.findall(r"/projects/([0-9a-f-]{36})/", output))
    process = start_demo(tmp_path, port)
    try:
        assert wait_for(lambda: get(f"{base}/healthz")[0] == 200, timeout=120)
    finally:
        second_output = stop(process)
    assert first_ids
    assert set(re.findall(r"/projects/([0-9a-f-]{36})/", second_output)) == first_ids
