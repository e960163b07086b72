"""Seed 000 end to end with a real worker: a contractor's milestone approved → its self-billed invoice through the
approval matrix → scheduled on its terms by the system → paid over Stripe Connect (the local Stripe server) → the
signed ``transfer.created`` webhook, delivered to Payor's live HTTP endpoint, confirms it. Everything after the
last approval is done by a ``payor worker`` process."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.db import connection

from payor.contracts.services import Terms
from payor.core.errors import DomainError
from payor.invoices.models import InvoiceStatus
from payor.invoices.services import invoice_decide
from payor.payments.models import ConnectedAccount, Disbursement, DisbursementStatus, WebhookEvent
from payor.payments.rail_services import connected_account_create
from payor.payments.tests.conftest import FIN, PM, TREAS, WEBHOOK_SECRET, balanced
from payor.vendors.models import Vendor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_jobs():
    def clear() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")

    clear()
    yield
    clear()


@pytest.fixture
def flow(settings, tmp_path, world):
    from payor.testing.milestones import flow_for
    from payor.vendors.tests.conftest import compliant

    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return flow_for(world, lambda vendor: compliant(vendor, coi_until=dt.date(2099, 12, 31)))


def worker(server_url: str) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
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
        "PAYOR_STRIPE_TIMEOUT": "10",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "payor.cli", "worker", "--queue", "payments"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def approve_through_the_matrix(world, invoice):
    """Each stage by the first of its holders the rules allow (the reviewing PM may not approve what they created)."""
    for role, names in ((PM, ("pm2", "pm")), (FIN, ("fin",)), (TREAS, ("tre",))):
        for name in names:
            try:
                invoice = invoice_decide(actor=world.people[name], invoice=invoice, role=role, decision="approved")
                break
            except DomainError:
                continue
        if invoice.status == InvoiceStatus.APPROVED:
            return invoice
    raise AssertionError(f"{invoice.number} is {invoice.status}")


def test_milestone_to_paid_and_confirmed_by_webhook(flow, stripe_server, live_server):
    Vendor.objects.filter(pk=flow.vendor.pk).update(bank_method="stripe_connect")
    flow.vendor.refresh_from_db()
    connected_account_create(
        actor=flow.contractor, vendor=flow.vendor, return_url="https://x.test/ok", refresh_url="https://x.test/again"
    )
    account = ConnectedAccount.objects.get(vendor=flow.vendor)
    stripe_server.control(f"/_control/accounts/{account.account_id}/complete")
    stripe_server.control("/_control/webhook", {"url": f"{live_server.url}/webhooks/stripe"})

    work_request = flow.accepted(("Site preparation", "1000.00", "1.1"), terms=Terms(kind="on_approval", net_days=None))
    milestone = flow.milestone(work_request)
    flow.approve(flow.submit(milestone))
    milestone.refresh_from_db()
    invoice = milestone.invoice
    invoice = approve_through_the_matrix(flow.world, invoice)
    assert invoice.kind == "self_billed"

    process = worker(stripe_server.url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = WebhookEvent.objects.filter(type="transfer.created", processed_at__isnull=False).exists()
            if done and Disbursement.objects.filter(status=DisbursementStatus.EXECUTED).exists():
                break
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    log = process.stderr.read().decode()[-3000:] if process.stderr else ""

    disbursement = Disbursement.objects.get(invoice=invoice)
    [transfer] = stripe_server.transfers()
    invoice.refresh_from_db()
    assert (disbursement.status, disbursement.rail_reference, invoice.status) == (
        DisbursementStatus.EXECUTED,
        transfer["id"],
        InvoiceStatus.PAID,
    ), log
    assert (disbursement.scheduled_by_system, disbursement.executed_via_rail) == (True, True)
    assert (disbursement.milestone_id, disbursement.milestone_title) == (milestone.pk, "Site preparation")
    assert disbursement.approved_at == invoice.approved_at
    assert transfer["amount"] == disbursement.amount.minor == 95000  # 1,000.00 less 5 % retention
    assert transfer["transfer_group"] == f"project-{flow.world.project.pk}"
    row = WebhookEvent.objects.get(type="transfer.created")
    assert (row.signature_verified, row.attempts, row.last_error) == (True, 1, "")
    balanced()
