"""The ``payor`` console script: a friendly front door over Django management commands.

Before Django starts, the database is resolved once (``DATABASE_URL`` or the
embedded PostgreSQL, started here and stopped when this process exits), so
child processes such as the web server and the worker share it.
"""

from __future__ import annotations

import os
import sys

from payor import __version__

COMMANDS = {
    "serve": "web + worker together, for local use (Ctrl-C stops everything)",
    "web": "the web app and API (gunicorn)",
    "worker": "the job worker (procrastinate), with periodic tasks and a heartbeat",
    "migrate": "apply database migrations",
    "createuser": "create a user (email + password)",
    "token": "personal API tokens: create --user EMAIL | list --user EMAIL | revoke PREFIX",
    "ledger": "the ledger: payor ledger verify (recompute balances, check the identities)",
    "audit": "the audit log: payor audit verify (recompute the hash chain) | export --format jsonl|csv",
    "receipts": "self-billed e-invoice receipts: export --out DIR [--project ID] | verify | render",
    "dataroom": "the receipts data room: rotate-keys | generate-key KID",
    "bench": "benchmarks: payor bench ledger (against pgbench TPC-B on the same server)",
    "demo": "migrate, seed demo data, print the logins, then serve (--no-serve to only seed)",
    "stripe-local": "the local Stripe-speaking server (tests and the demo; serve starts it without a real key)",
    "manage": "any Django management command: payor manage <command> [args]",
}
DEVELOPMENT_COMMANDS = {"demo", "serve", "bench"}

USAGE = """usage: payor [--help] [--version] <command> [args]

Payor runs the money side of funded projects.

commands:
{commands}

Run `payor <command> --help` for a command's options. Configuration comes from
environment variables (docs/configuration.md); with DATABASE_URL unset Payor
starts an embedded PostgreSQL in $PAYOR_DATA_DIR (default ./var).
"""


def usage() -> str:
    width = max(map(len, COMMANDS))
    return USAGE.format(commands="\n".join(f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items()))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] in {"-V", "--version"}:
        print(f"payor {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"payor: unknown command {command!r}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    if command == "manage":
        if not rest:
            print("usage: payor manage <django command> [args]", file=sys.stderr)
            return 2
        command, rest = rest[0], rest[1:]
    command = command.replace("stripe-local", "stripe_local")
    if command in DEVELOPMENT_COMMANDS:
        # Local use: a generated secret key kept in the data directory.
        os.environ.setdefault("PAYOR_ENV", "development")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payor.config.settings")

    from django.core.management import execute_from_command_line

    execute_from_command_line(["payor", command, *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main())
