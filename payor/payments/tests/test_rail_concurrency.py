"""Races over real parallel connections at the wire: three workers submitting one disbursement at the same
instant, and a webhook racing the API answer — one transfer at Stripe, one execution, the ledger exact."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.utils import timezone

from payor.payments.models import AttemptStatus, Disbursement, DisbursementStatus, PaymentAttempt, WebhookEvent
from payor.payments.rail_services import disbursement_submit, webhook_process, webhook_receive
from payor.payments.rails.stripe.local_server import sign
from payor.payments.services import disbursement_schedule
from payor.payments.tests.conftest import WEBHOOK_SECRET, approved, balanced, contract_figures, onboarded
from payor.testing.concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_jobs():
    """procrastinate's tables are not flushed between transactional tests: start and end empty."""

    def clear() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")

    clear()
    yield
    clear()


def due_today(billing, server) -> Disbursement:
    onboarded(billing, server)
    invoice = approved(billing, billing.data())
    return disbursement_schedule(actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate())


def paid_once(billing, server, disbursement) -> None:
    [transfer] = server.transfers()
    disbursement.refresh_from_db()
    assert (disbursement.status, disbursement.rail_reference) == (DisbursementStatus.EXECUTED, transfer["id"])
    f = contract_figures(billing)
    assert (f.pending.amount_str(), f.encumbered.amount_str(), f.disbursed.amount_str()) == ("0.00", "0.00", "882.00")
    balanced()


def test_three_workers_submitting_at_once_make_one_transfer(billing, stripe_server):
    disbursement = due_today(billing, stripe_server)
    results = race([lambda: disbursement_submit(disbursement_id=disbursement.pk) for _ in range(3)])
    assert sorted(str(r) for r in results).count("executed") >= 1, results
    assert all(r in ("executed", "busy", DisbursementStatus.EXECUTED) for r in results), results
    assert PaymentAttempt.objects.get().status == AttemptStatus.SUCCEEDED
    paid_once(billing, stripe_server, disbursement)


def test_a_webhook_racing_the_api_answer_executes_once(billing, stripe_server):
    disbursement = due_today(billing, stripe_server)
    stripe_server.faults(next="timeout", path="/v1/transfers", timeout_seconds=0.5)
    # The server answers after 0.5 s (the SDK waits 1 s): the webhook lands first, then the answer.

    def webhook() -> str:

        deadline = time.monotonic() + 5
        while not stripe_server.events("transfer.created") and time.monotonic() < deadline:
            time.sleep(0.01)
        event = stripe_server.events("transfer.created")[0]

        body = json.dumps(event)
        row, _ = webhook_receive(
            rail="stripe_connect", payload=body.encode(), headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
        )
        return webhook_process(event_id=row.pk)

    results = race([lambda: disbursement_submit(disbursement_id=disbursement.pk), webhook])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert WebhookEvent.objects.get().processed_at is not None
    paid_once(billing, stripe_server, disbursement)
