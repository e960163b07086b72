"""A real ``payor worker`` killed (SIGKILL) while Stripe is making the transfer, then a new worker: exactly one
transfer, the ledger exact. The local Stripe server holds its answer (fault ``timeout``) so the kill lands between
the rail call and the recorded outcome — the worst moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from payor.invoices.models import InvoiceStatus
from payor.payments.models import AttemptStatus, Disbursement, DisbursementStatus, PaymentAttempt
from payor.payments.services import disbursement_schedule
from payor.payments.tasks import disbursement_submit_job
from payor.payments.tests.conftest import WEBHOOK_SECRET, approved, balanced, contract_figures, onboarded

pytestmark = pytest.mark.django_db(transaction=True)


def worker(server_url: str, *, timeout: int) -> subprocess.Popen[bytes]:
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
        "PAYOR_STRIPE_API_BASE": server_url,
        "PAYOR_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYOR_STRIPE_TIMEOUT": str(timeout),
        "PAYOR_LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "payor.cli", "worker", "--queue", "payments"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def jobs() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, task_name, status, args, attempts FROM procrastinate_jobs ORDER BY id")
        return cursor.fetchall()


def money(billing) -> tuple[str, str, str]:
    f = contract_figures(billing)
    return (f.pending.amount_str(), f.encumbered.amount_str(), f.disbursed.amount_str())


@pytest.fixture
def no_jobs():
    """procrastinate's tables are not flushed between transactional tests: start and end empty."""

    def clear() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")

    clear()
    yield
    clear()


def test_worker_killed_mid_payment_then_restarted_pays_exactly_once(billing, stripe_server, no_jobs):
    onboarded(billing, stripe_server)
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    stripe_server.faults(next="timeout", path="/v1/transfers", timeout_seconds=300)
    disbursement_submit_job.defer(disbursement_id=str(disbursement.pk))

    first = worker(stripe_server.url, timeout=600)
    try:
        assert wait_for(lambda: len(stripe_server.transfers()) == 1, 120), "the worker never reached Stripe"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    # Killed after Stripe made the transfer: the committed attempt is the only trace on our side.
    attempt = PaymentAttempt.objects.get(disbursement=disbursement)
    assert (attempt.status, attempt.tries, attempt.idempotency_key) == (
        AttemptStatus.PENDING,
        1,
        f"disb-{disbursement.pk}-1",
    )
    assert Disbursement.objects.get(pk=disbursement.pk).status == DisbursementStatus.SCHEDULED
    assert money(billing) == ("882.00", "18.00", "0.00")

    disbursement_submit_job.defer(disbursement_id=str(disbursement.pk))
    second = worker(stripe_server.url, timeout=5)
    try:
        finished = wait_for(
            lambda: Disbursement.objects.get(pk=disbursement.pk).status == DisbursementStatus.EXECUTED, 120
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    log = second.stderr.read().decode()
    assert finished, (jobs(), PaymentAttempt.objects.values().get(), log[-3000:])

    transfers = stripe_server.transfers()
    assert len(transfers) == 1
    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    assert (disbursement.rail_reference, invoice.status) == (transfers[0]["id"], InvoiceStatus.PAID)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries, attempt.response_summary["replayed"]) == (AttemptStatus.SUCCEEDED, 2, True)
    assert money(billing) == ("0.00", "0.00", "882.00")
    balanced()
