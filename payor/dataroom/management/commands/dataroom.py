"""``payor dataroom rotate-keys|generate-key``: master keys of the encrypted local data room.

Rotation: add a new key to ``PAYOR_DATAROOM_KEYS`` (``payor dataroom generate-key KID`` prints one), make it
``PAYOR_DATAROOM_ACTIVE_KEY``, run ``payor dataroom rotate-keys`` (re-wraps every object's data key under it; the
encrypted content is untouched), then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payor.dataroom.errors import DataRoomConfigInvalid
from payor.dataroom.services import dataroom_keys_rotate
from payor.dataroom.storage import generate_key_spec


class Command(BaseCommand):
    help = "Data-room keys: rotate-keys (re-wrap data keys under the active master key), generate-key KID."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rotate-keys", help="Re-wrap every stored object's data key under the active master key")
        generate = sub.add_parser("generate-key", help="Print a new kid:base64key entry for PAYOR_DATAROOM_KEYS")
        generate.add_argument("kid")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "generate-key":
            try:
                self.stdout.write(generate_key_spec(options["kid"]))
            except DataRoomConfigInvalid as exc:
                raise CommandError(exc.detail) from exc
            return
        changed = dataroom_keys_rotate()
        self.stdout.write(f"{changed} objects re-wrapped")
