"""``payor stripe-local``: the local Stripe-speaking server (docs/payments.md), for the demo and manual tests."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from payor.payments.rails.stripe import local_server


class Command(BaseCommand):
    help = "Run the local Stripe-speaking server (accounts, transfers, idempotency, faults, signed webhooks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.STRIPE_LOCAL_PORT)
        parser.add_argument(
            "--webhook-url",
            default="http://127.0.0.1:8000/webhooks/stripe",
            help="Where to send the signed Stripe events (Payor's /webhooks/stripe)",
        )
        parser.add_argument("--webhook-secret", default=settings.STRIPE_WEBHOOK_SECRET)
        parser.add_argument(
            "--state-file",
            default="",
            help="Keep the state (accounts, transfers, idempotent answers) in this JSON file across restarts",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        running = local_server.start(
            host=options["host"],
            port=options["port"],
            webhook_url=options["webhook_url"],
            webhook_secret=options["webhook_secret"],
            state_file=Path(options["state_file"]) if options["state_file"] else None,
        )
        self.stdout.write(f"Local Stripe on {running.url} → webhooks to {options['webhook_url']}")
        sys.stdout.flush()
        stopping = False

        def _stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop)
        try:
            while not stopping and running.thread.is_alive():
                running.thread.join(0.2)
        finally:
            running.stop()
