from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payor.core.processes import gunicorn_argv, supervise


class Command(BaseCommand):
    help = "Serve the web app and API with gunicorn (static files by WhiteNoise)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("PAYOR_WEB_WORKERS", "2")))

    def handle(self, *args: Any, **options: Any) -> None:
        code = supervise([gunicorn_argv(host=options["host"], port=options["port"], workers=options["workers"])])
        sys.exit(code)
