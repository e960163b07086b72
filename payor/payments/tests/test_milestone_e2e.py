"""Issue 6's acceptance, end to end over real HTTP: the company and the contractor drive the live server's API with
bearer tokens, a real ``payor worker`` process pays over the local Stripe server, and Stripe's signed webhook
reaches Payor's live ``/webhooks/stripe``.

create → send → (inbox) → accept → onboard Stripe → submit → revision → resubmit → approve → matrix approvals
(PM, finance, treasurer: 12,345.67 is band 2) → scheduled by the system on its terms ("on approval": today) →
paid by the worker over Stripe Connect → ``transfer.created`` confirms it. The project's ledger
(``GET /projects/{id}/finance/summary``) is asserted exactly after every step, with funded = the sum of its
parts; the seed-000 transaction record on the disbursement and the one transfer on the Stripe side at the end.
A second contractor of the same project is refused everything of the first's along the way.

The local Stripe server holds its answer to the transfer for a few seconds and sends ``transfer.created`` before
it (as Stripe may): that keeps the disbursement visibly ``scheduled`` (DISBURSE pending) for long enough to
assert it over HTTP, and it is the webhook, processed by the worker, that executes the payment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from payor.accounts.services import api_token_create
from payor.ledger import selectors as ledger_selectors
from payor.payments.models import PaymentAttempt, WebhookEvent
from payor.payments.tests.conftest import WEBHOOK_SECRET, balanced
from payor.testing.milestones import PDF, Flow, flow_for
from payor.vendors.models import BankMethod, Vendor

pytestmark = pytest.mark.django_db(transaction=True)

#: How long the local Stripe server holds its answer to POST /v1/transfers, and when (after making the transfer)
#: it sends ``transfer.created``: the window in which the payment is scheduled and in flight.
STRIPE_HOLDS_ANSWER = 4.0
WEBHOOK_AFTER = 1.5
DEADLINE = 30.0
FIGURES = ("funded", "available", "committed", "encumbered", "retention", "withheld", "disbursed", "pending")
PARTS = FIGURES[1:]


# --------------------------------------------------------------------------------------------------------------
# HTTP: one client per actor, bearer token, JSON or multipart
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class Client:
    """An API user over real HTTP (urllib) against the live server."""

    def __init__(self, base: str, who: str, token: str) -> None:
        self.base, self.who, self.token = base, who, token

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        fields: dict[str, str] | None = None,
        files: list[tuple[str, bytes]] | None = None,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        body: bytes | None = None
        if files is not None:
            boundary = uuid.uuid4().hex
            parts: list[bytes] = []
            for name, value in (fields or {}).items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                )
            for filename, content in files:
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n".encode()
                    + content
                    + b"\r\n"
                )
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - the live server
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return Answer(status, json.loads(raw) if raw else None)

    def ok(self, method: str, path: str, data: Any = None, *, status: int = 200, **multipart: Any) -> Any:
        answer = self.call(method, path, data, **multipart)
        assert answer.status == status, f"{self.who} {method} {path}: {answer.status} {answer.body}"
        return answer.body

    def get(self, path: str) -> Any:
        return self.ok("GET", path)

    def refused(self, method: str, path: str, data: Any = None, **multipart: Any) -> tuple[int, str | None]:
        answer = self.call(method, path, data, **multipart)
        assert answer.status >= 400, f"{self.who} {method} {path} was not refused: {answer.status} {answer.body}"
        return answer.status, answer.code


# --------------------------------------------------------------------------------------------------------------
# The worker process
# --------------------------------------------------------------------------------------------------------------


class Worker:
    """A real ``payor worker --queue payments`` on the test database, paying over the local Stripe server; its
    stderr goes to a file (a pipe nobody reads could fill and block it)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, stripe_url: str) -> None:
        db = connection.settings_dict  # the test database, over TCP or (embedded PostgreSQL) a Unix socket
        auth = quote(db["USER"], safe="") + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or ""
        if host.startswith("/"):
            url = f"postgresql://{auth}@{':' + port if port else ''}/{db['NAME']}?host={quote(host, safe='')}"
        else:
            url = f"postgresql://{auth}@{host}:{port or 5432}/{db['NAME']}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PAYOR_ENV": "test",
            "PAYOR_STRIPE_SECRET_KEY": "sk_test_payor_worker",
            "PAYOR_STRIPE_API_BASE": stripe_url,
            "PAYOR_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PAYOR_STRIPE_TIMEOUT": str(int(STRIPE_HOLDS_ANSWER) + 10),  # it waits for the held answer
            "PAYOR_LOG_LEVEL": "INFO",
        }
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "payor.cli", "worker", "--queue", "payments"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        code = None if self.process is None else self.process.poll()
        return f"\n--- worker (exit code {code}) stderr, last 3000 characters ---\n{text[-3000:]}"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = DEADLINE) -> Any:
        """Poll ``check`` (short sleeps) until it returns something truthy; fail with the worker's stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the worker exited while waiting for {what}{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{self.tail()}")


PERIODIC = ("payments.disbursement.pay_due", "payments.webhook.sweep")


def jobs() -> list[tuple[str, str]]:
    """The payments queue's jobs but the periodic ones (a worker defers those on its own clock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, status FROM procrastinate_jobs WHERE queue_name = 'payments' "
            "AND NOT task_name = ANY(%s) ORDER BY id",
            [list(PERIODIC)],
        )
        return [(name, str(status)) for name, status in cursor.fetchall()]


def failed_jobs() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, status FROM procrastinate_jobs WHERE status IN ('failed', 'aborted')")
        return [(name, str(status)) for name, status in cursor.fetchall()]


# --------------------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def no_jobs() -> Iterator[None]:
    """procrastinate's tables are not flushed between transactional tests: start and end empty."""

    def clear() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")

    clear()
    yield
    clear()


@pytest.fixture
def flow(settings, tmp_path, world) -> Flow:
    """The funded world (150,000.00 USD) and two compliant contractors paid through Stripe Connect."""
    from payor.vendors.tests.conftest import compliant

    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }

    def stripe_connect(vendor: Vendor) -> Vendor:
        Vendor.objects.filter(pk=vendor.pk).update(bank_method=BankMethod.STRIPE_CONNECT)
        vendor.refresh_from_db()
        return compliant(vendor, coi_until=dt.date(2099, 12, 31))

    return flow_for(world, stripe_connect)


@pytest.fixture
def worker(tmp_path) -> Iterator[Worker]:
    running = Worker(tmp_path / "worker.log")
    try:
        yield running
    finally:
        running.stop()


# --------------------------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------------------------


def test_milestone_flow_over_http_paid_by_the_worker_and_confirmed_by_stripe(
    flow, stripe_server, live_server, no_jobs, worker
):
    world = flow.world
    project_id, vendor_id = str(world.project.pk), str(flow.vendor.pk)
    base = f"{live_server.url}/api/v1"
    stripe_server.control("/_control/webhook", {"url": f"{live_server.url}/webhooks/stripe"})

    def client(who: str, email: str) -> Client:
        return Client(base, who, api_token_create(email=email, name=f"e2e {who}").secret)

    pm, fin, tre = (client(name, world.people[name].email) for name in ("pm", "fin", "tre"))
    crew = client("contractor", flow.contractor.email)
    other = client("other contractor", flow.other_contractor.email)

    # The ledger after each step: every figure exactly, and funded = the sum of the parts.
    book = dict.fromkeys(FIGURES, "0.00") | {"funded": "150000.00", "available": "150000.00"}

    def ledger(step: str, **changes: str) -> None:
        book.update(changes)
        [bucket] = fin.get(f"/projects/{project_id}/finance/summary")["buckets"]
        assert {name: bucket[name]["amount"] for name in FIGURES} == book, step
        assert bucket["funded"]["minor"] == sum(bucket[name]["minor"] for name in PARTS), step

    ledger("funded")

    # -- the PM drafts the work request (two milestones on two budget lines, 5 % retention, on approval) -------
    milestones = [
        ("Site preparation", "12345.67", "1.1", "2026-12-01"),
        ("Monitoring report", "7500.01", "1.2", "2027-01-15"),
    ]
    draft = pm.ok(
        "POST",
        f"/projects/{project_id}/work-requests",
        {
            "vendor_id": vendor_id,
            "title": "Riparian planting, plot A",
            "scope": "Prepare plot A and report on it",
            "retention_percent": "5.00",
            "payment_terms": {"kind": "on_approval"},
            "milestones": [
                {
                    "title": title,
                    "description": f"{title} as specified",
                    "acceptance_criteria": f"{title} signed off on site",
                    "amount": {"amount": amount, "currency": "USD"},
                    "due_date": due,
                    "budget_line_id": str(world.lines[code].pk),
                }
                for title, amount, code, due in milestones
            ],
        },
        status=201,
    )
    wr_id = draft["id"]
    assert (draft["status"], draft["total"]["amount"], draft["terms_sha256"]) == ("draft", "19845.68", None)
    ledger("drafted")

    sent = pm.ok("POST", f"/work-requests/{wr_id}/send")
    assert (sent["status"], sent["payment_terms"]["kind"], len(sent["terms_sha256"])) == ("sent", "on_approval", 64)
    ledger("sent")

    # -- the contractor finds it in their inbox, reads the frozen terms and accepts exactly those ---------------
    inbox = crew.get("/work-requests")
    assert [(row["id"], row["status"]) for row in inbox["results"]] == [(wr_id, "sent")]
    assert other.get("/work-requests")["results"] == []
    assert other.refused("GET", f"/work-requests/{wr_id}") == (404, "work_request_not_found")

    offer = crew.get(f"/work-requests/{wr_id}")
    terms_sha256 = offer["terms_sha256"]
    assert hashlib.sha256(offer["terms_canonical"].encode()).hexdigest() == terms_sha256
    assert (offer["terms"]["payment_terms"]["kind"], offer["terms"]["retention_percent"]) == ("on_approval", "5.00")
    assert [(m["title"], m["amount"]["amount"]) for m in offer["milestones"]] == [
        ("Site preparation", "12345.67"),
        ("Monitoring report", "7500.01"),
    ]
    assert (offer["created_by"], offer["sent_by"]) == (None, None)  # the contractor does not see who
    milestone_id = offer["milestones"][0]["id"]
    assert other.refused("GET", f"/milestones/{milestone_id}") == (404, "milestone_not_found")
    assert other.refused("POST", f"/work-requests/{wr_id}/accept", {"terms_sha256": terms_sha256}) == (
        404,
        "work_request_not_found",
    )
    ledger("refused accept by another contractor")

    accepted = crew.ok("POST", f"/work-requests/{wr_id}/accept", {"terms_sha256": terms_sha256})
    assert (accepted["status"], accepted["terms_sha256"], accepted["accepted_by"]["email"]) == (
        "accepted",
        terms_sha256,
        flow.contractor.email,
    )
    assert accepted["contract"]["status"] == "executed"
    ledger("accepted: COMMIT of the milestone sum", available="130154.32", committed="19845.68")

    # -- the contractor onboards with Stripe Connect; onboarding completes on the (local) Stripe side ----------
    onboarding = crew.ok(
        "POST",
        f"/vendors/{vendor_id}/stripe-account",
        {"return_url": "https://willow.example.test/stripe/done", "refresh_url": "https://willow.example.test/again"},
        status=201,
    )
    account_id = onboarding["account_id"]
    assert (onboarding["transfers_capability"], onboarding["details_submitted"]) == ("inactive", False)
    assert onboarding["onboarding_url"]
    # Stripe's event times are whole seconds: complete onboarding in a later second than the account's creation,
    # so whichever account.updated the worker applies first, the newer one decides.
    time.sleep(1.01 - time.time() % 1)
    stripe_server.control(f"/_control/accounts/{account_id}/complete")  # → account.updated to /webhooks/stripe
    assert other.refused("GET", f"/vendors/{vendor_id}/stripe-account") == (404, "vendor_not_found")

    # -- the contractor submits a deliverable (multipart, a PDF) ------------------------------------------------
    report = PDF.replace(b"endobj", b"endobj\n% plot A site preparation, attempt 1", 1)
    first = crew.ok(
        "POST",
        f"/milestones/{milestone_id}/submissions",
        fields={"note": "Site prepared, see the report"},
        files=[("site-preparation.pdf", report)],
        status=201,
    )
    assert first["status"] == "submitted"
    [attempt1] = first["submissions"]
    [upload] = attempt1["files"]
    assert (attempt1["attempt"], attempt1["approval_status"], upload["original_filename"], upload["sha256"]) == (
        1,
        "submitted",
        "site-preparation.pdf",
        hashlib.sha256(report).hexdigest(),
    )
    assert upload["content_type"] == "application/pdf"
    ledger("submitted")

    # The other contractor sees none of it; the contractor cannot review their own work.
    submission_id = attempt1["id"]
    assert other.refused("GET", f"/milestones/{milestone_id}") == (404, "milestone_not_found")
    assert other.refused("GET", f"/submissions/{submission_id}/files/{upload['id']}") == (
        404,
        "submission_not_found",
    )
    assert other.refused("POST", f"/submissions/{submission_id}/review", {"decision": "approved"}) == (
        404,
        "submission_not_found",
    )
    assert crew.refused("POST", f"/submissions/{submission_id}/review", {"decision": "approved"}) == (
        403,
        "permission_denied",
    )
    assert crew.get(f"/milestones/{milestone_id}")["submissions"][0]["approval_status"] == "submitted"
    ledger("refused reviews")

    # -- the PM asks for a revision; the contractor resubmits ---------------------------------------------------
    revised = pm.ok(
        "POST",
        f"/submissions/{submission_id}/review",
        {"decision": "revision_requested", "note": "Add the soil test results"},
    )
    assert revised["status"] == "revision_requested"
    assert [(s["attempt"], s["approval_status"], s["review_note"]) for s in revised["submissions"]] == [
        (1, "revision_requested", "Add the soil test results")
    ]
    assert revised["invoice"] is None
    ledger("revision requested")

    report2 = PDF.replace(b"endobj", b"endobj\n% plot A site preparation with soil tests, attempt 2", 1)
    second = crew.ok(
        "POST",
        f"/milestones/{milestone_id}/submissions",
        fields={"note": "Soil test results added"},
        files=[("site-preparation-v2.pdf", report2)],
        status=201,
    )
    assert second["status"] == "submitted"
    assert [(s["attempt"], s["approval_status"]) for s in second["submissions"]] == [
        (1, "revision_requested"),
        (2, "submitted"),
    ]
    assert second["submissions"][0]["approver"] is None  # the contractor does not see who reviewed
    submission2_id = second["submissions"][1]["id"]
    ledger("resubmitted")

    # -- the PM approves: the self-billed invoice is created and submitted (ENCUMBER) ---------------------------
    approved = pm.ok("POST", f"/submissions/{submission2_id}/review", {"decision": "approved"})
    assert approved["status"] == "approved"
    assert approved["submissions"][1]["approver_id"] == str(world.people["pm"].pk)
    assert approved["submissions"][1]["approved_at"] is not None
    invoice_ref = approved["invoice"]
    invoice_id = invoice_ref["id"]
    assert (
        invoice_ref["status"],
        invoice_ref["total"]["amount"],
        invoice_ref["retention"]["amount"],
        invoice_ref["net_payable"]["amount"],
    ) == ("submitted", "12345.67", "617.28", "11728.39")
    ledger("submission approved: ENCUMBER", committed="7500.01", encumbered="12345.67")

    # -- the approval matrix: band 2 (10,000 to 50,000) needs PM, finance, treasurer in that order -------------------
    invoice = pm.get(f"/invoices/{invoice_id}")
    assert (invoice["kind"], invoice["submitted_by"]["email"], invoice["approval"]["band"]) == (
        "self_billed",
        flow.contractor.email,
        2,
    )
    assert [stage["role"] for stage in invoice["approval"]["stages"]] == [
        "PROJECT_MANAGER",
        "FINANCE_REVIEWER",
        "TREASURER",
    ]
    # The submitter cannot approve the self-billed invoice of their own deliverable.
    assert crew.refused(
        "PATCH", f"/invoices/{invoice_id}/status", {"status": "approved", "role": "PROJECT_MANAGER"}
    ) == (
        403,
        "approval_submitter_cannot_approve",
    )
    # Nor can finance jump the PM's stage.
    assert fin.refused(
        "PATCH", f"/invoices/{invoice_id}/status", {"status": "approved", "role": "FINANCE_REVIEWER"}
    ) == (409, "approval_not_in_turn")
    assert pm.get(f"/invoices/{invoice_id}")["timeline"] == []
    ledger("refused approvals")

    review = pm.ok("PATCH", f"/invoices/{invoice_id}/status", {"status": "under_review", "role": "PROJECT_MANAGER"})
    assert review["status"] == "under_review"
    for actor, role, next_role in ((pm, "PROJECT_MANAGER", "FINANCE_REVIEWER"), (fin, "FINANCE_REVIEWER", "TREASURER")):
        step = actor.ok("PATCH", f"/invoices/{invoice_id}/status", {"status": "approved", "role": role})
        assert (step["status"], step["approval"]["next_role"]) == ("under_review", next_role), actor.who
        ledger(f"{role} approved")
    final = tre.ok("PATCH", f"/invoices/{invoice_id}/status", {"status": "approved", "role": "TREASURER"})
    today = timezone.localdate().isoformat()
    assert (final["status"], final["approval"]["complete"], final["due_on"]) == ("approved", True, today)
    assert [(d["role"], d["decision"], d["approver"]["email"]) for d in final["timeline"]] == [
        ("PROJECT_MANAGER", "approved", world.people["pm"].email),
        ("FINANCE_REVIEWER", "approved", world.people["fin"].email),
        ("TREASURER", "approved", world.people["tre"].email),
    ]
    approved_at = final["approved_at"]
    ledger("approved: RETAIN 5 %", encumbered="11728.39", retention="617.28")

    # -- from here the worker does everything: schedule on the terms, pay over Stripe, apply the webhooks ---------
    stripe_server.faults(
        next=["timeout"], path="/v1/transfers", timeout_seconds=STRIPE_HOLDS_ANSWER, webhook_delay=WEBHOOK_AFTER
    )
    worker.start(stripe_server.url)

    def in_flight() -> dict | None:
        rows = fin.get(f"/disbursements?invoice_id={invoice_id}")["results"]
        return rows[0] if rows else None

    scheduled = worker.wait_for("the system to schedule the invoice", in_flight)
    disbursement_id = scheduled["id"]
    # Stripe holds its answer for seconds after the transfer exists: the payment is in flight and pending.
    detail = worker.wait_for(
        "the worker's attempt at Stripe",
        lambda: (d := fin.get(f"/disbursements/{disbursement_id}"))["attempts"] and d,
    )
    assert (detail["status"], detail["scheduled_on"], detail["scheduled_by"], detail["method"]) == (
        "scheduled",
        today,
        "system",
        "stripe_connect",
    ), worker.tail()
    assert [(a["number"], a["status"], a["idempotency_key"]) for a in detail["attempts"]] == [
        (1, "pending", f"disb-{disbursement_id}-1")
    ], worker.tail()
    assert (detail["amount"]["amount"], detail["executed_on"], detail["rail_reference"]) == ("11728.39", None, "")
    ledger("scheduled: DISBURSE pending", encumbered="0.00", pending="11728.39")
    assert crew.get(f"/milestones/{milestone_id}")["payment"]["disbursement_status"] == "scheduled"

    def confirmed() -> bool:
        done = WebhookEvent.objects.filter(type="transfer.created", processed_at__isnull=False).exists()
        finished = all(status in ("succeeded", "failed", "aborted", "cancelled") for _, status in jobs())
        return done and finished and fin.get(f"/disbursements/{disbursement_id}")["status"] == "executed"

    worker.wait_for("the payment executed, transfer.created applied and every job done", confirmed)
    worker.stop()
    log = worker.tail()

    ledger("paid: DISBURSE posted", pending="0.00", disbursed="11728.39")

    # -- what the company sees: the disbursement and its seed-000 transaction record -------------------------
    [transfer] = stripe_server.transfers()
    paid = fin.get(f"/disbursements/{disbursement_id}")
    assert (paid["status"], paid["executed_on"], paid["rail_reference"], paid["failure_reason"]) == (
        "executed",
        today,
        transfer["id"],
        "",
    ), log
    assert (paid["scheduled_by"], paid["executed_by"], paid["invoice_id"], paid["vendor_id"]) == (
        "system",
        "system",
        invoice_id,
        vendor_id,
    )
    assert [
        (a["number"], a["status"], a["idempotency_key"], a["provider_reference"], a["error_code"])
        for a in paid["attempts"]
    ] == [(1, "succeeded", f"disb-{disbursement_id}-1", transfer["id"], "")], log
    organization = world.project.organization
    assert paid["transaction"] == {
        "amount": {"amount": "11728.39", "currency": "USD", "minor": 1172839},
        "contractor": {"id": vendor_id, "name": "Willow Creek Restoration"},
        "company": {"id": str(organization.pk), "name": organization.name},
        "project": {"id": project_id, "name": world.project.name},
        "milestone": {"id": milestone_id, "title": "Site preparation"},
        "approved_at": approved_at,
        "transaction_id": transfer["id"],
    }
    # The contractor reads their own payment, with the same record; the other contractor reads nothing of it.
    assert crew.get(f"/disbursements/{disbursement_id}")["transaction"] == paid["transaction"]
    assert other.get(f"/disbursements?invoice_id={invoice_id}")["results"] == []
    # Another contractor learns nothing of the payment, not even that it exists (like their work requests).
    denied = other.call("GET", f"/disbursements/{disbursement_id}")
    assert (denied.status, denied.code, "transaction" in denied.body) == (404, "disbursement_not_found", False)

    milestone = crew.get(f"/milestones/{milestone_id}")
    assert (milestone["status"], milestone["invoice"]["status"]) == ("approved", "paid")
    assert milestone["payment"] == {
        "invoice_status": "paid",
        "disbursement_status": "executed",
        "amount": {"amount": "11728.39", "currency": "USD", "minor": 1172839},
        "scheduled_on": today,
        "executed_on": today,
        "rail_reference": transfer["id"],
    }
    assert pm.get(f"/invoices/{invoice_id}")["status"] == "paid"
    assert crew.get(f"/vendors/{vendor_id}/stripe-account") | {"updated_from_event_at": None} == {
        "vendor_id": vendor_id,
        "account_id": account_id,
        "details_submitted": True,
        "transfers_capability": "active",
        "payouts_enabled": True,
        "updated_from_event_at": None,
        "onboarding_url": None,
        "onboarding_expires_at": None,
    }

    # -- the Stripe side: exactly one transfer, keyed by the attempt, its webhook delivered and applied once ----
    key = f"disb-{disbursement_id}-1"
    assert (transfer["amount"], transfer["currency"], transfer["destination"], transfer["transfer_group"]) == (
        1172839,
        "usd",
        account_id,
        f"project-{project_id}",
    )
    assert transfer["metadata"] == {
        "disbursement_id": disbursement_id,
        "attempt_key": key,
        "invoice_id": invoice_id,
        "project_id": project_id,
        "vendor_id": vendor_id,
    }
    state = stripe_server.running.state
    with state.lock:
        _, answer = state.idempotency[key]
        keyed = [k for k, (_, a) in state.idempotency.items() if a.body.get("object") == "transfer"]
        posts = [path for method, path in state.requests if method == "POST" and path == "/v1/transfers"]
    assert (answer.status, answer.body["id"], keyed, posts) == (200, transfer["id"], [key], ["/v1/transfers"]), log
    deliveries = stripe_server.state()["deliveries"]
    assert [d["status"] for d in deliveries if d["type"] == "transfer.created"] == [200]
    assert {d["status"] for d in deliveries} == {200}
    # The success was recorded from the webhook (its transfer object), not from the held API answer (which carries
    # Stripe's replay flag); the late answer found the payment executed and changed nothing.
    [attempt] = PaymentAttempt.objects.filter(disbursement_id=disbursement_id)
    assert attempt.response_summary == {
        "id": transfer["id"],
        "amount": 1172839,
        "currency": "usd",
        "destination": account_id,
        "transfer_group": f"project-{project_id}",
    }, log
    # The inbox: each event verified and applied once. The account's creation and its completed onboarding both
    # send account.updated; applied in either order, the older one may be skipped as older than the account.
    rows = list(WebhookEvent.objects.order_by("event_created_at", "received_at"))
    assert [(r.type, r.signature_verified, r.attempts, r.processed_at is not None) for r in rows] == [
        ("account.updated", True, 1, True),
        ("account.updated", True, 1, True),
        ("transfer.created", True, 1, True),
    ], log
    assert rows[0].last_error in ("", "ignored: older than the account's state")
    assert (rows[1].last_error, rows[2].last_error) == ("", ""), log
    assert sorted(jobs()) == sorted(
        [
            ("payments.webhook.process", "succeeded"),
            ("payments.webhook.process", "succeeded"),
            ("payments.invoice.autoschedule", "succeeded"),
            ("payments.disbursement.submit", "succeeded"),
            ("payments.webhook.process", "succeeded"),
        ]
    ), log
    # Per budget line (payor.ledger.selectors): 1.1 paid less its retention, 1.2 still committed.
    lines = ledger_selectors.budget_line_figures(project_id=world.project.pk)
    site, monitoring = lines[(world.lines["1.1"].pk, "USD")], lines[(world.lines["1.2"].pk, "USD")]
    assert [
        (f.committed.amount_str(), f.encumbered.amount_str(), f.retention.amount_str(), f.disbursed.amount_str())
        for f in (site, monitoring)
    ] == [("0.00", "0.00", "617.28", "11728.39"), ("7500.01", "0.00", "0.00", "0.00")]
    balanced()
