from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payor.core.processes import add_web_arguments, gunicorn_argv, supervise


class Command(BaseCommand):
    help = "Serve the web app and API with gunicorn (static files by WhiteNoise)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_web_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        code = supervise([gunicorn_argv(host=options["host"], port=options["port"], workers=options["workers"])])
        sys.exit(code)
