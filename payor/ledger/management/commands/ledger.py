from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payor.ledger.services import pending_expire
from payor.ledger.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Ledger maintenance: verify (recompute every balance and check the identities), "
        "expire (void timed-out pending transfers)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="Recompute balances from transfers; exit 1 naming the first mismatch")
        sub.add_parser("expire", help="Void pending transfers whose timeout has passed")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "expire":
            self.stdout.write(f"voided {pending_expire()} expired pending transfers")
            return
        report = ledger_verify()
        summary = f"{report.accounts} accounts, {report.transfers} transfers, {report.buckets} buckets"
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"ledger ok: {summary}; balances match transfers, funding conserved"))
            return
        self.stderr.write(f"ledger verification FAILED ({summary}); first problem:\n  {report.problems[0]}")
        for problem in report.problems[1:]:
            self.stderr.write(f"  {problem}")
        sys.exit(1)
