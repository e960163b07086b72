"""``payor bench ledger``: the ledger benchmark (see ``payor/ledger/bench.py`` and docs/benchmarks.md)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Benchmarks. `bench ledger`: pgbench TPC-B as the reference, then Payor's posting path (spread over "
        "many projects and on one hot project), a batch of pending disbursements and project-summary reads, "
        "in scratch databases on the same server; prints one JSON line, then runs `payor ledger verify`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", choices=["ledger"], help="what to benchmark")
        parser.add_argument("--seconds", type=float, default=20.0, help="length of each timed run (default 20)")
        parser.add_argument("--clients", type=int, default=8, help="client processes, and pgbench -c (default 8)")
        parser.add_argument("--threads", type=int, default=2, help="pgbench -j (default 2)")
        parser.add_argument("--projects", type=int, default=10_000, help="projects to spread over (default 10000)")
        parser.add_argument("--fill", type=int, default=1_000_000, help="transfers pre-filled (default 1000000)")
        parser.add_argument("--batch", type=int, default=10_000, help="pending transfers in the batch (default 10000)")
        parser.add_argument("--reads", type=int, default=2_000, help="project-summary reads (default 2000)")
        parser.add_argument("--scale", type=int, default=10, help="pgbench -i -s (default 10)")
        parser.add_argument("--keep", action="store_true", help="keep the scratch databases afterwards")
        parser.add_argument("--raw", action="store_true", help="also time SELECT ledger_post() without the service")
        parser.add_argument("--profile", metavar="PATH", help="cProfile each client's posting loops to PATH.<n>.<mode>")

    def handle(self, *args: Any, **options: Any) -> None:
        from payor.ledger.bench import BenchOptions, run_ledger_bench

        for name in ("seconds", "clients", "threads", "projects", "fill", "batch", "reads", "scale"):
            if options[name] <= 0:
                self.stderr.write(f"--{name} must be positive")
                sys.exit(2)
        bench_options = BenchOptions(
            seconds=options["seconds"],
            clients=options["clients"],
            threads=options["threads"],
            projects=options["projects"],
            fill=options["fill"],
            batch=options["batch"],
            reads=options["reads"],
            scale=options["scale"],
            keep=options["keep"],
            raw=options["raw"],
        )
        status = run_ledger_bench(bench_options, profile=options["profile"])
        if status:
            sys.exit(status)
