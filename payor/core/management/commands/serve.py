from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from payor.core.processes import (
    add_web_arguments,
    free_port_or,
    gunicorn_argv,
    stripe_local_argv,
    supervise,
    worker_argv,
)


class Command(BaseCommand):
    help = "Run web and worker together (local use). Ctrl-C stops both, then the embedded database."

    def add_arguments(self, parser: CommandParser) -> None:
        add_web_arguments(parser)
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("PAYOR_WORKER_CONCURRENCY", "4")))

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Payor on http://{options['host']}:{options['port']}  (Ctrl-C to stop)")
        sys.stdout.flush()
        commands = [
            gunicorn_argv(host=options["host"], port=options["port"], workers=options["workers"]),
            worker_argv(concurrency=options["concurrency"]),
        ]
        if not settings.STRIPE_REAL and f"http://127.0.0.1:{settings.STRIPE_LOCAL_PORT}" == settings.STRIPE_API_BASE:
            # No real Stripe key: payments go to the local Stripe server, which sends its webhooks back here.
            host = "127.0.0.1" if options["host"] in ("0.0.0.0", "::") else options["host"]  # noqa: S104
            webhook_url = f"http://{host}:{options['port']}/webhooks/stripe"
            port = free_port_or(settings.STRIPE_LOCAL_PORT)  # another Payor may hold the default: the children follow
            os.environ["PAYOR_STRIPE_LOCAL_PORT"] = str(port)
            os.environ["PAYOR_STRIPE_API_BASE"] = f"http://127.0.0.1:{port}"
            commands.append(
                stripe_local_argv(port=port, webhook_url=webhook_url, state_file=settings.STRIPE_LOCAL_STATE_FILE)
            )
            self.stdout.write(f"Local Stripe on http://127.0.0.1:{port} (no PAYOR_STRIPE_SECRET_KEY set)")
        code = supervise(commands)
        sys.exit(code)
