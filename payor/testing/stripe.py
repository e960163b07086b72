"""Test helpers for Stripe Connect at the wire, shared by the payments tests and the end-to-end tests: the local
Stripe-speaking server on a free port with the SDK pointed at it (``stripe_server``), signed webhook delivery to
``/webhooks/stripe``, and running queued procrastinate jobs in-process.

Use the fixture from a conftest: ``from payor.testing.stripe import stripe_server  # noqa: F401``.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from payor.payments.rails.stripe import local_server

WEBHOOK_SECRET = "whsec_test_payor"


class StripeServer:
    """The in-process local Stripe server plus helpers to drive it over HTTP (its control endpoints)."""

    def __init__(self, running) -> None:
        self.running = running
        self.url = running.url

    def control(self, path: str, data: dict | None = None, method: str = "POST") -> dict:
        body = None if data is None and method == "GET" else json.dumps(data or {}).encode()
        request = urllib.request.Request(self.url + path, data=body, method=method)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def state(self) -> dict:
        return self.control("/_state", method="GET")

    def faults(self, **faults) -> None:
        self.control("/_faults", faults)

    def transfers(self) -> list[dict]:
        return self.state()["transfers"]

    def events(self, kind: str | None = None) -> list[dict]:
        return [e for e in self.running.state.events if kind is None or e["type"] == kind]


@pytest.fixture
def stripe_server(settings):
    """The local Stripe server on a free 127.0.0.1 port, the SDK pointed at it (1 s timeout, no SDK retries)."""
    running = local_server.start(webhook_secret=WEBHOOK_SECRET)
    settings.STRIPE_API_BASE = running.url
    settings.STRIPE_SECRET_KEY = "sk_test_payor_suite"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_TIMEOUT_SECONDS = 1
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    yield StripeServer(running)
    running.stop()


def deliver(client, event: dict, *, secret: str = WEBHOOK_SECRET, signature: str | None = None):
    """POST a Stripe event to ``/webhooks/stripe`` the way Stripe does (signed)."""
    body = json.dumps(event)
    return client.post(
        "/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature if signature is not None else local_server.sign(body, secret),
    )


def run_jobs(*names: str) -> list[tuple[str, object]]:
    """Run the queued jobs named ``names`` (todo, oldest first) in this process, as a worker would, until none is
    left. Returns (task name, result) per job."""
    from django.db import connection
    from procrastinate.contrib.django import app

    ran: list[tuple[str, object]] = []
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, task_name, args FROM procrastinate_jobs WHERE status = 'todo' AND task_name = ANY(%s) "
                "ORDER BY id LIMIT 1",
                [list(names)],
            )
            row = cursor.fetchone()
            if row is None:
                return ran
            cursor.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [row[0]])
        task = app.tasks[row[1]]
        args = json.loads(row[2]) if isinstance(row[2], str) else row[2]
        ran.append((row[1], task(**args)))


def queued(*names: str) -> list[tuple[str, dict]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, args FROM procrastinate_jobs WHERE status = 'todo' AND task_name = ANY(%s) ORDER BY id",
            [list(names)],
        )
        return [(name, json.loads(args) if isinstance(args, str) else args) for name, args in cursor.fetchall()]
