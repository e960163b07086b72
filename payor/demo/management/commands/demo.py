from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from payor.core.processes import add_web_arguments
from payor.demo.seed import DEMO_PASSWORD, seed
from payor.receipts.services import receipts_render_pending


class Command(BaseCommand):
    help = "Migrate, seed demo data (idempotent), print the demo logins, then serve web + worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="Only migrate and seed")
        add_web_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        result = seed()
        # The paid demo invoices' self-billed receipts, now rather than by the worker (so `payor receipts export`
        # finds them even with --no-serve); a no-op for receipts already rendered.
        rendered = receipts_render_pending()
        base = f"http://{options['host']}:{options['port']}"
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {result.organization.name}"))
        self.stdout.write(f"  receipts rendered into the data room: {rendered}")
        for project in result.projects:
            self.stdout.write(f"  project  {project.name}  {base}/projects/{project.pk}/")
        self.stdout.write(f"\nSign in at {base}/accounts/login/ with any of (password: {DEMO_PASSWORD}):")
        width = max(len(spec.email) for spec, _ in result.users)
        for spec, _user in result.users:
            self.stdout.write(f"  {spec.email.ljust(width)}  {spec.role}")
        if result.wallets:
            self.stdout.write("\nDAO signers' linked wallets (Anvil/Hardhat test mnemonic keys, demo only):")
            for email, address in result.wallets.items():
                self.stdout.write(f"  {email.ljust(width)}  {address}")
        self.stdout.write("")
        if not options["no_serve"]:
            call_command("serve", host=options["host"], port=options["port"], workers=options["workers"])
