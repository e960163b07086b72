from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payor.core.processes import add_web_arguments, gunicorn_argv, supervise, worker_argv


class Command(BaseCommand):
    help = "Run web and worker together (local use). Ctrl-C stops both, then the embedded database."

    def add_arguments(self, parser: CommandParser) -> None:
        add_web_arguments(parser)
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("PAYOR_WORKER_CONCURRENCY", "4")))

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Payor on http://{options['host']}:{options['port']}  (Ctrl-C to stop)")
        sys.stdout.flush()
        code = supervise(
            [
                gunicorn_argv(host=options["host"], port=options["port"], workers=options["workers"]),
                worker_argv(concurrency=options["concurrency"]),
            ]
        )
        sys.exit(code)
