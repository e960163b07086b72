from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payor.accounts.models import Organization
from payor.accounts.services import membership_ensure, user_create
from payor.core.errors import DomainError


class Command(BaseCommand):
    help = "Create a user who signs in with email + password (password from --password, $PAYOR_PASSWORD or a prompt)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="", help="Full name")
        parser.add_argument(
            "--password", help="Prefer $PAYOR_PASSWORD or the prompt: arguments end up in shell history"
        )
        parser.add_argument("--superuser", action="store_true", help="Platform administrator (Django admin access)")
        parser.add_argument("--organization", help="Slug of an organization to add the user to")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or os.environ.get("PAYOR_PASSWORD")
        if not password:
            if not sys.stdin.isatty():
                raise CommandError("no password: pass --password, set PAYOR_PASSWORD, or run interactively")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("passwords do not match")
        organization = None
        if options["organization"]:
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None:
                raise CommandError(f"no organization with slug {options['organization']!r}")
        try:
            user = user_create(
                email=options["email"], password=password, full_name=options["name"], is_superuser=options["superuser"]
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        if organization is not None:
            membership_ensure(organization=organization, user=user)
        self.stdout.write(self.style.SUCCESS(f"created {user.email} ({user.pk})"))
