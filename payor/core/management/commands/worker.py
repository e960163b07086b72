from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the job worker (procrastinate): all queues, periodic tasks, a heartbeat every 10 s."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("PAYOR_WORKER_CONCURRENCY", "4")))
        parser.add_argument("--queue", action="append", dest="queues", help="Only these queues (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = ["worker", "--concurrency", str(options["concurrency"]), "--name", f"payor-{os.getpid()}"]
        if options["queues"]:
            argv += ["--queues", ",".join(options["queues"])]
        call_command("procrastinate", *argv)
