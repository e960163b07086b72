"""``payor audit verify`` and ``payor audit export``: operator commands, run with database access.

``export`` takes no viewer: it is for operators and auditors with shell access,
not a user-facing read (those go through ``payor.audit.selectors.audit_events``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payor.audit.export import audit_export
from payor.audit.selectors import audit_events_unscoped
from payor.audit.verify import audit_verify

_ANCHOR = re.compile(r"([0-9]+):([0-9a-f]{64})")


def _anchor(text: str) -> tuple[int, str]:
    match = _ANCHOR.fullmatch(text)
    if not match:
        raise CommandError(f"--anchor must be SEQ:HASH (64 lowercase hex characters), got {text!r}")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = (
        "Audit log: verify (recompute the hash chain, exit 1 naming the first broken event), "
        "export (every event with its hashes, as JSONL or CSV)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Recompute the chain; exit 1 naming the first broken event")
        verify.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="A hash recorded earlier (e.g. the last hash an earlier verify printed): detects a removed tail",
        )
        export = sub.add_parser("export", help="Write events with their hashes as JSONL or CSV")
        export.add_argument("--format", choices=["jsonl", "csv"], required=True, dest="fmt")
        export.add_argument("--project", metavar="UUID", help="Only this project's events")
        export.add_argument("--since", metavar="YYYY-MM-DD", help="Only events from this date on (UTC)")
        export.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options)
            return
        anchors = dict(_anchor(text) for text in options["anchor"])
        report = audit_verify(anchors=anchors)
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"audit ok: {report.events} events, chain intact, last hash {report.last_hash}"
                    + (f" (#{report.last_seq})" if report.last_seq else "")
                )
            )
            return
        self.stderr.write(
            f"audit verification FAILED at event #{report.broken_seq}: {report.problem} "
            f"(events verified before it: {report.events})"
        )
        sys.exit(1)

    def _export(self, options: dict[str, Any]) -> None:
        try:
            project_id = uuid.UUID(options["project"]) if options["project"] else None
        except ValueError as exc:
            raise CommandError(f"--project must be a UUID, got {options['project']!r}") from exc
        try:
            since = dt.date.fromisoformat(options["since"]) if options["since"] else None
        except ValueError as exc:
            raise CommandError(f"--since must be a date YYYY-MM-DD, got {options['since']!r}") from exc
        events = audit_events_unscoped(project_id=project_id, since=since)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                count = audit_export(events, out, fmt=options["fmt"])
            self.stderr.write(f"exported {count} audit events to {options['output']}")
            return
        try:
            audit_export(events, self.stdout, fmt=options["fmt"])
            self.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (`payor audit export ... | head`): not an error. Point the stream at
            # /dev/null so the interpreter's last flush does not raise again (Python's "Note on SIGPIPE").
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stdout.fileno())  # OutputWrapper passes fileno() to its stream
            os.close(devnull)
