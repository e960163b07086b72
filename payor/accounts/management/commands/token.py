from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from payor.accounts.models import ApiToken
from payor.accounts.services import api_token_create, api_token_revoke
from payor.core.errors import DomainError


class Command(BaseCommand):
    help = "Manage personal API tokens: create, list, revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token; the secret is printed once")
        create.add_argument("--user", required=True, metavar="EMAIL")
        create.add_argument("--name", default="cli")
        create.add_argument("--expires-in-days", type=int, default=None)
        listing = sub.add_parser("list", help="List a user's tokens")
        listing.add_argument("--user", required=True, metavar="EMAIL")
        revoke = sub.add_parser("revoke", help="Revoke a token by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            days = options["expires_in_days"]
            if days is not None and days < 1:
                raise CommandError("--expires-in-days must be at least 1")
            expires_at = timezone.now() + timedelta(days=days) if days else None
            try:
                issued = api_token_create(email=options["user"], name=options["name"], expires_at=expires_at)
            except DomainError as exc:
                raise CommandError(f"{exc.code}: {exc.detail}") from exc
            self.stdout.write(issued.secret)
            self.stderr.write(
                f"token {issued.token.prefix} for {issued.token.user.email}; store it now, it is not shown again"
            )
        elif action == "list":
            for token in ApiToken.objects.filter(user__email__iexact=options["user"]):
                state = "revoked" if token.revoked_at else "active"
                self.stdout.write(f"{token.prefix}\t{token.name}\t{state}\tcreated {token.created_at:%Y-%m-%d}")
        else:
            found = ApiToken.objects.filter(prefix=options["prefix"]).first()
            if found is None:
                raise CommandError(f"no token with prefix {options['prefix']!r}")
            api_token_revoke(token=found)
            self.stdout.write(f"revoked {found.prefix}")
