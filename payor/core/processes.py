"""Running the web server and the worker as child processes (``payor serve``).

The parent process owns the embedded PostgreSQL (if any): it resolved
``DATABASE_URL`` before starting the children, which inherit it. Ctrl-C (or
SIGTERM) stops the children gracefully, then the parent exits and the embedded
server stops with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from argparse import ArgumentParser
from collections.abc import Sequence
from pathlib import Path

GRACE_SECONDS = 15


def add_web_arguments(parser: ArgumentParser) -> None:
    """Options shared by ``payor web``, ``payor serve`` and ``payor demo``."""
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("PAYOR_WEB_WORKERS", "2")))


def gunicorn_argv(*, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "payor.config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "10",
        "--forwarded-allow-ips",
        os.environ.get("PAYOR_FORWARDED_ALLOW_IPS", "127.0.0.1"),
    ]


def worker_argv(*, concurrency: int) -> list[str]:
    return [sys.executable, "-m", "payor.cli", "worker", "--concurrency", str(concurrency)]


def free_port_or(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` if nothing listens there, else a free port the system picks."""
    with socket.socket() as sock:
        try:
            sock.bind((host, preferred))
            return preferred
        except OSError:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])


def stripe_local_argv(*, port: int, webhook_url: str, state_file: Path | None = None) -> list[str]:
    """The local Stripe-speaking server (``payor stripe-local``), webhooks to the web server, its state kept in
    ``state_file`` across restarts if given."""
    argv = [sys.executable, "-m", "payor.cli", "stripe-local", "--port", str(port), "--webhook-url", webhook_url]
    return argv + (["--state-file", str(state_file)] if state_file is not None else [])


def _stop(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def supervise(commands: Sequence[Sequence[str]]) -> int:
    """Start every command, wait until one exits or we are interrupted, then stop them all."""
    children = [subprocess.Popen(list(cmd)) for cmd in commands]
    stopping = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [child.returncode for child in children if child.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
    return 0 if stopping or not failed else failed[0]
