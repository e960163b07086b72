"""Webhooks end to end at the wire: the local Stripe server POSTs signed events to Payor's real HTTP endpoint (a
live server), before its API answer and twice — one inbox row, one transfer, the payment confirmed once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from payor.invoices.models import InvoiceStatus
from payor.payments.models import AttemptStatus, DisbursementStatus, PaymentAttempt, WebhookEvent
from payor.payments.rail_services import disbursement_submit
from payor.payments.services import disbursement_schedule
from payor.payments.tests.conftest import approved, balanced, contract_figures, onboarded, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_jobs():
    """procrastinate's tables are not flushed between transactional tests: start and end empty."""

    def clear() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")

    clear()
    yield
    clear()


def test_webhooks_before_the_answer_and_twice_confirm_once(billing, stripe_server, live_server, no_jobs, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 30  # the answer waits for both deliveries to Payor's live server
    onboarded(billing, stripe_server)
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    stripe_server.control("/_control/webhook", {"url": f"{live_server.url}/webhooks/stripe"})
    stripe_server.faults(webhook_before_response=True, duplicate_webhooks=True)

    assert disbursement_submit(disbursement_id=disbursement.pk) == "executed"

    deliveries = stripe_server.state()["deliveries"]
    assert [(d["type"], d["status"]) for d in deliveries] == [("transfer.created", 200), ("transfer.created", 200)]
    [row] = WebhookEvent.objects.all()
    assert (row.type, row.signature_verified, row.processed_at) == ("transfer.created", True, None)
    # The webhook job finds the payment already recorded by the API answer: nothing more to do.
    assert run_jobs("payments.webhook.process") == [("payments.webhook.process", DisbursementStatus.EXECUTED)]
    [transfer] = stripe_server.transfers()
    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    assert (disbursement.status, disbursement.rail_reference, invoice.status) == (
        DisbursementStatus.EXECUTED,
        transfer["id"],
        InvoiceStatus.PAID,
    )
    assert PaymentAttempt.objects.get().status == AttemptStatus.SUCCEEDED
    f = contract_figures(billing)
    assert (f.pending.amount_str(), f.encumbered.amount_str(), f.disbursed.amount_str()) == ("0.00", "0.00", "882.00")
    balanced()
