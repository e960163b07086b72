"""Paying through Stripe Connect at the wire: the SDK talks HTTP to the local Stripe server, which answers with
Stripe's shapes, replays idempotent requests and injects faults; webhooks come back signed. Exact ledger figures
at every step (pending → posted), exactly one transfer per disbursement whatever fails.

The invoice of every test: 1,000.00 billed on 1.1, retention 10 % (100.00), 2/10 net 30 so paying today takes the
2 % early-pay discount (18.00): 882.00 goes to the vendor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from payor.audit.models import AuditEvent
from payor.events.models import OutboxEvent
from payor.invoices.models import InvoiceStatus
from payor.ledger.models import Transfer, TransferCode
from payor.payments import rail_services
from payor.payments.models import (
    AttemptStatus,
    ConnectedAccount,
    Disbursement,
    DisbursementStatus,
    PaymentAttempt,
    Payout,
    WebhookEvent,
)
from payor.payments.rail_services import disbursement_submit, disbursements_pay_due, rail_for, webhook_process
from payor.payments.services import disbursement_schedule
from payor.payments.tests.conftest import (
    approved,
    balanced,
    contract_figures,
    deliver,
    onboarded,
    queued,
    run_jobs,
    state,
)

pytestmark = pytest.mark.django_db

SCHEDULED = ("882.00", "18.00", "0.00")  # (pending, encumbered, disbursed) of the contract
PAID = ("0.00", "0.00", "882.00")
APPROVED = ("0.00", "900.00", "0.00")


def scheduled_today(billing, server, client=None, *, complete: bool = True):
    onboarded(billing, server, client, complete=complete)
    invoice = approved(billing, billing.data())
    assert money(billing) == APPROVED
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    assert (disbursement.method, disbursement.amount.amount_str()) == ("stripe_connect", "882.00")
    assert money(billing) == SCHEDULED
    return invoice, disbursement


def money(billing) -> tuple[str, str, str]:
    f = contract_figures(billing)
    return (f.pending.amount_str(), f.encumbered.amount_str(), f.disbursed.amount_str())


def attempt_of(disbursement) -> PaymentAttempt:
    return PaymentAttempt.objects.get(disbursement_id=disbursement.pk)


def process_inbox() -> list[str]:
    return [webhook_process(event_id=row.pk) for row in WebhookEvent.objects.filter(processed_at__isnull=True)]


def assert_paid_once(billing, server, invoice, disbursement) -> dict:
    """Executed by the rail with the one transfer the server made; the invoice paid; the ledger posted."""
    transfers = server.transfers()
    assert len(transfers) == 1
    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    assert (disbursement.status, disbursement.rail_reference) == (DisbursementStatus.EXECUTED, transfers[0]["id"])
    assert (disbursement.executed_via_rail, disbursement.executed_by, disbursement.executed_on) == (
        True,
        None,
        timezone.localdate(),
    )
    assert invoice.status == InvoiceStatus.PAID
    assert money(billing) == PAID
    assert OutboxEvent.objects.filter(topic="payment.executed").count() == 1
    balanced()
    return transfers[0]


def test_happy_path_pending_then_posted_with_the_transfer_as_reference(billing, stripe_server):
    invoice, disbursement = scheduled_today(billing, stripe_server)

    assert disbursement_submit(disbursement_id=disbursement.pk) == "executed"

    transfer = assert_paid_once(billing, stripe_server, invoice, disbursement)
    account = ConnectedAccount.objects.get(vendor=billing.vendor)
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (88200, "usd", account.account_id)
    assert transfer["transfer_group"] == f"project-{billing.world.project.pk}"
    assert transfer["metadata"] == {
        "disbursement_id": str(disbursement.pk),
        "attempt_key": f"disb-{disbursement.pk}-1",
        "invoice_id": str(invoice.pk),
        "project_id": str(billing.world.project.pk),
        "vendor_id": str(billing.vendor.pk),
    }
    attempt = attempt_of(disbursement)
    assert (attempt.number, attempt.idempotency_key, attempt.status, attempt.tries, attempt.provider_reference) == (
        1,
        f"disb-{disbursement.pk}-1",
        AttemptStatus.SUCCEEDED,
        1,
        transfer["id"],
    )
    assert attempt.response_summary["replayed"] is False
    assert attempt.finished_at is not None
    # The system acted, and says so in the audit log.
    executed = AuditEvent.objects.get(action="disbursement.executed")
    assert (executed.actor_id, executed.actor_label) == (None, "system")
    # Running it again does nothing: no second call, no second transfer.
    requests = len(stripe_server.state()["requests"])
    assert disbursement_submit(disbursement_id=disbursement.pk) == DisbursementStatus.EXECUTED
    assert len(stripe_server.state()["requests"]) == requests


def test_scheduled_for_today_is_paid_at_once_by_the_submit_job(billing, stripe_server):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    submit = ("payments.disbursement.submit", {"disbursement_id": str(disbursement.pk)})
    assert queued("payments.disbursement.submit") == [submit]
    assert run_jobs("payments.disbursement.submit") == [(submit[0], "executed")]
    assert_paid_once(billing, stripe_server, invoice, disbursement)


def test_scheduled_later_waits_for_its_day(billing, stripe_server):
    onboarded(billing, stripe_server)
    invoice = approved(billing, billing.data())
    later = timezone.localdate() + dt.timedelta(days=3)
    disbursement = disbursement_schedule(actor=billing.people["tre"], invoice=invoice, scheduled_on=later)
    assert queued("payments.disbursement.submit") == []
    assert disbursements_pay_due() == {}
    assert disbursement_submit(disbursement_id=disbursement.pk) == "not_due"
    assert stripe_server.transfers() == []
    assert money(billing) == SCHEDULED


def test_pay_due_pays_only_what_is_due_on_a_rail(billing, stripe_server):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert disbursements_pay_due(today=tomorrow - dt.timedelta(days=2)) == {}
    assert disbursements_pay_due() == {str(disbursement.pk): "executed"}
    assert disbursements_pay_due() == {}
    assert_paid_once(billing, stripe_server, invoice, disbursement)


@pytest.mark.parametrize("fault", ["timeout", "500_after"])
def test_answer_lost_after_the_transfer_was_made_retried_with_the_same_key_replays(billing, stripe_server, fault):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next=[fault], path="/v1/transfers", timeout_seconds=2)

    assert disbursement_submit(disbursement_id=disbursement.pk) == "retry"

    attempt = attempt_of(disbursement)
    assert attempt.status == AttemptStatus.UNKNOWN
    assert attempt.error_code == ("rail_unreachable" if fault == "timeout" else "rail_unavailable")
    assert attempt.next_try_at is not None
    assert len(stripe_server.transfers()) == 1  # Stripe made it; we do not know yet
    assert money(billing) == SCHEDULED
    # Not yet due for a retry: the periodic job leaves it alone.
    assert disbursement_submit(disbursement_id=disbursement.pk) == "waiting"

    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == "executed"

    assert_paid_once(billing, stripe_server, invoice, disbursement)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries, attempt.idempotency_key) == (
        AttemptStatus.SUCCEEDED,
        2,
        f"disb-{disbursement.pk}-1",
    )
    assert attempt.response_summary["replayed"] is True
    assert PaymentAttempt.objects.filter(disbursement=disbursement).count() == 1


def test_5xx_before_anything_happened_is_retried_and_pays_once(billing, stripe_server):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next=["500", "500"], path="/v1/transfers")
    assert disbursement_submit(disbursement_id=disbursement.pk) == "retry"
    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == "retry"
    assert stripe_server.transfers() == []
    assert attempt_of(disbursement).tries == 2
    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == "executed"
    assert_paid_once(billing, stripe_server, invoice, disbursement)


@pytest.mark.parametrize("how", ["real", "injected"])
def test_balance_insufficient_fails_terminally_voided_with_the_reason(billing, stripe_server, how):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    if how == "real":
        stripe_server.control("/_control/balance", {"currency": "usd", "amount": 50000})
    else:
        stripe_server.faults(next="balance_insufficient", path="/v1/transfers")

    assert disbursement_submit(disbursement_id=disbursement.pk) == "failed"

    assert stripe_server.transfers() == []
    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    assert disbursement.status == DisbursementStatus.FAILED
    assert disbursement.failure_reason.startswith("balance_insufficient: You have insufficient available funds")
    assert invoice.status == InvoiceStatus.APPROVED
    assert money(billing) == APPROVED  # the pending DISBURSE voided: encumbered exactly as at approval
    attempt = attempt_of(disbursement)
    assert (attempt.status, attempt.error_code) == (AttemptStatus.FAILED_TERMINAL, "balance_insufficient")
    failed = OutboxEvent.objects.get(topic="payment.failed")
    assert failed.payload["reason"] == disbursement.failure_reason
    balanced()
    # Nothing more happens on a second run.
    assert disbursement_submit(disbursement_id=disbursement.pk) == DisbursementStatus.FAILED


def test_vendor_without_the_transfers_capability_fails_with_stripes_code(billing, stripe_server):
    _, disbursement = scheduled_today(billing, stripe_server, complete=False)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "failed"
    disbursement.refresh_from_db()
    assert disbursement.failure_reason.startswith("insufficient_capabilities_for_transfer: ")
    assert attempt_of(disbursement).error_code == "insufficient_capabilities_for_transfer"
    assert money(billing) == APPROVED
    balanced()


def test_vendor_without_a_connected_account_fails_without_calling_stripe(billing, stripe_server):
    from payor.vendors.models import Vendor

    Vendor.objects.filter(pk=billing.vendor.pk).update(bank_method="stripe_connect")
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate()
    )
    assert disbursement_submit(disbursement_id=disbursement.pk) == "failed"
    disbursement.refresh_from_db()
    assert (
        disbursement.failure_reason
        == "stripe_account_missing: Willow Creek Restoration has no Stripe connected account"
    )
    assert stripe_server.state()["requests"] == []
    assert money(billing) == APPROVED


def test_a_worker_killed_between_the_call_and_the_outcome_is_finished_by_the_next_run(billing, stripe_server):
    """The attempt row is committed before Stripe is called; the outcome is lost with the worker. The next run
    finds the attempt ``pending`` and retries it with its own key: Stripe replays, one transfer."""
    invoice, disbursement = scheduled_today(billing, stripe_server)
    prepared = rail_services._prepare(disbursement.pk, now=timezone.now(), force=False)
    rail_for("stripe_connect").submit(prepared.order)  # ... and the worker dies here
    attempt = attempt_of(disbursement)
    assert (attempt.status, attempt.tries) == (AttemptStatus.PENDING, 1)
    assert len(stripe_server.transfers()) == 1
    assert money(billing) == SCHEDULED

    assert disbursements_pay_due() == {str(disbursement.pk): "executed"}

    assert_paid_once(billing, stripe_server, invoice, disbursement)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries, attempt.response_summary["replayed"]) == (AttemptStatus.SUCCEEDED, 2, True)


# --------------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------------


def test_transfer_created_twice_is_stored_and_processed_once(billing, stripe_server, client):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "executed"
    event = stripe_server.events("transfer.created")[0]

    first = deliver(client, event)
    second = deliver(client, event)

    assert (first.status_code, first.json()["duplicate"]) == (200, False)
    assert (second.status_code, second.json()["duplicate"]) == (200, True)
    assert WebhookEvent.objects.filter(external_id=event["id"]).count() == 1
    assert queued("payments.webhook.process") == [
        ("payments.webhook.process", {"event_id": str(WebhookEvent.objects.get().pk)})
    ]
    audits = AuditEvent.objects.count()
    assert run_jobs("payments.webhook.process") == [("payments.webhook.process", DisbursementStatus.EXECUTED)]
    row = WebhookEvent.objects.get()
    assert (row.processed_at is not None, row.attempts, row.signature_verified) == (True, 1, True)
    assert webhook_process(event_id=row.pk) == "done"
    assert AuditEvent.objects.count() == audits
    assert_paid_once(billing, stripe_server, invoice, disbursement)


def test_webhook_before_the_api_answer_confirms_and_the_late_answer_is_harmless(billing, stripe_server, client):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next="timeout", path="/v1/transfers", timeout_seconds=2)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "retry"
    assert attempt_of(disbursement).status == AttemptStatus.UNKNOWN

    # Stripe's transfer.created arrives while we still do not know: it confirms the payment.
    assert deliver(client, stripe_server.events("transfer.created")[0]).status_code == 200
    assert run_jobs("payments.webhook.process") == [("payments.webhook.process", "executed")]
    transfer = assert_paid_once(billing, stripe_server, invoice, disbursement)
    attempt = attempt_of(disbursement)
    assert (attempt.status, attempt.provider_reference) == (AttemptStatus.SUCCEEDED, transfer["id"])

    # The retry job finds nothing left to do.
    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == DisbursementStatus.EXECUTED
    assert_paid_once(billing, stripe_server, invoice, disbursement)


def test_transfer_reversed_moves_the_money_back_and_reopens_the_invoice(billing, stripe_server, client):
    invoice, disbursement = scheduled_today(billing, stripe_server)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "executed"
    transfer_id = stripe_server.transfers()[0]["id"]
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the local server
        f"{stripe_server.url}/v1/transfers/{transfer_id}/reversals",
        data=b"",
        method="POST",
        headers={"Authorization": "Bearer sk_test_x"},
    )
    urllib.request.urlopen(request, timeout=5).read()  # noqa: S310
    event = stripe_server.events("transfer.reversed")[0]

    assert deliver(client, event).status_code == 200
    assert deliver(client, event).json()["duplicate"] is True
    assert run_jobs("payments.webhook.process") == [("payments.webhook.process", "reversed")]

    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    assert disbursement.status == DisbursementStatus.FAILED
    assert disbursement.failure_reason == f"transfer_reversed: Stripe reversed transfer {transfer_id}"
    assert disbursement.rail_reference == transfer_id
    assert invoice.status == InvoiceStatus.APPROVED
    # 882.00 back disbursed → encumbered by REVERSE transfers; the 18.00 discount stays in the commitment.
    assert money(billing) == ("0.00", "882.00", "0.00")
    reverse = Transfer.objects.filter(code=TransferCode.REVERSE, disbursement_id=disbursement.pk)
    assert [t.amount for t in reverse] == [88200]
    assert OutboxEvent.objects.filter(topic="payment.failed").get().payload["status"] == "reversed"
    balanced()


def test_account_updated_tracks_capabilities_and_ignores_older_events(billing, stripe_server, client):
    account = onboarded(billing, stripe_server, client)
    assert (account.transfers_capability, account.details_submitted, account.payouts_enabled) == ("active", True, True)
    newest = account.updated_from_event_at
    older = dict(stripe_server.events("account.updated")[0])  # the creation event: nothing active yet
    older["created"] = int(newest.timestamp()) - 60
    older["id"] = "evt_older"
    assert deliver(client, older).status_code == 200
    assert process_inbox() == ["ignored: older than the account's state"]
    account.refresh_from_db()
    assert (account.transfers_capability, account.updated_from_event_at) == ("active", newest)


def test_payouts_are_recorded_and_shown_on_the_account(billing, stripe_server, client):
    account = onboarded(billing, stripe_server, client)
    stripe_server.control("/_control/payouts", {"account": account.account_id, "amount": 88200, "status": "paid"})
    stripe_server.control(
        "/_control/payouts",
        {"account": account.account_id, "amount": 500, "status": "failed", "failure_code": "account_closed"},
    )
    for event in stripe_server.events()[-2:]:
        assert deliver(client, event).status_code == 200
    assert process_inbox() == ["payout paid", "payout failed"]
    rows = {p.status: p for p in Payout.objects.filter(account=account)}
    assert rows["paid"].amount.amount_str() == "882.00"
    assert (rows["failed"].failure_code, rows["failed"].amount.amount_str()) == ("account_closed", "5.00")


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        ("wrong-secret", "webhook_signature_invalid"),
        ("", "webhook_signature_missing"),
        ("t=1,v1=deadbeef", "webhook_signature_invalid"),
        ("garbage", "webhook_signature_invalid"),
    ],
)
def test_a_webhook_that_does_not_verify_is_refused_and_nothing_is_stored(
    billing, stripe_server, client, signature, code
):
    from payor.payments.rails.stripe.local_server import fixture, sign

    event = fixture("event")
    import json

    body = json.dumps(event)
    header = sign(body, "whsec_not_ours") if signature == "wrong-secret" else signature
    before = (WebhookEvent.objects.count(), len(queued("payments.webhook.process")))
    response = client.post("/webhooks/stripe", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response["Content-Type"] == "application/problem+json"
    assert (WebhookEvent.objects.count(), len(queued("payments.webhook.process"))) == before


def test_a_tampered_or_stale_webhook_is_refused(billing, stripe_server, client):
    import json
    import time

    from payor.payments.rails.stripe.local_server import fixture, sign
    from payor.payments.tests.conftest import WEBHOOK_SECRET

    body = json.dumps(fixture("event"))
    tampered = body.replace("plan.created", "transfer.created")
    response = client.post(
        "/webhooks/stripe",
        data=tampered,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, WEBHOOK_SECRET),
    )
    assert (response.status_code, response.json()["code"]) == (400, "webhook_signature_invalid")
    stale = sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)
    response = client.post("/webhooks/stripe", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stale)
    assert (response.status_code, response.json()["code"]) == (400, "webhook_signature_invalid")
    assert client.get("/webhooks/stripe").status_code == 405
    assert WebhookEvent.objects.count() == 0


def test_an_unhandled_event_type_is_stored_and_marked_ignored(billing, stripe_server, client):
    from payor.payments.rails.stripe.local_server import fixture

    assert deliver(client, fixture("event")).status_code == 200
    assert process_inbox() == ["ignored: type not handled"]
    row = WebhookEvent.objects.get()
    assert (row.type, row.last_error) == ("plan.created", "ignored: type not handled")


def test_refused_schedule_leaves_state_and_no_job(billing, stripe_server):
    """Guard: scheduling a manual-method payment never queues a rail job (pay_due ignores it)."""
    invoice = approved(billing, billing.data())
    disbursement = disbursement_schedule(
        actor=billing.people["tre"], invoice=invoice, scheduled_on=timezone.localdate(), method="manual"
    )
    before = state(billing)
    assert disbursements_pay_due() == {}
    assert disbursement_submit(disbursement_id=disbursement.pk) == "no_rail"
    assert state(billing) == before
    assert Disbursement.objects.get().status == DisbursementStatus.SCHEDULED


def test_a_partial_reversal_is_recorded_but_moves_no_money(billing, stripe_server, client):
    import urllib.request

    _, disbursement = scheduled_today(billing, stripe_server)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "executed"
    transfer_id = stripe_server.transfers()[0]["id"]
    request = urllib.request.Request(  # noqa: S310 - the local server
        f"{stripe_server.url}/v1/transfers/{transfer_id}/reversals",
        data=b"amount=100",
        method="POST",
        headers={"Authorization": "Bearer sk_test_x"},
    )
    urllib.request.urlopen(request, timeout=5).read()  # noqa: S310
    assert deliver(client, stripe_server.events("transfer.reversed")[0]).status_code == 200
    assert process_inbox() == [f"ignored: partial reversal of {transfer_id} (100 of 88200)"]
    disbursement.refresh_from_db()
    assert disbursement.status == DisbursementStatus.EXECUTED
    assert money(billing) == PAID


def test_a_person_cannot_cancel_or_fail_a_payment_in_flight(billing, stripe_server):
    from payor.payments.errors import DisbursementAttemptInFlight
    from payor.payments.services import disbursement_cancel, disbursement_fail

    _, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next="timeout", path="/v1/transfers", timeout_seconds=2)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "retry"  # Stripe made it; we do not know
    before = state(billing)
    with pytest.raises(DisbursementAttemptInFlight):
        disbursement_cancel(actor=billing.people["tre"], disbursement=disbursement, reason="changed my mind")
    with pytest.raises(DisbursementAttemptInFlight):
        disbursement_fail(actor=billing.people["tre"], disbursement=disbursement, reason="bank said no")
    assert state(billing) == before
    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == "executed"


def test_out_of_order_reversed_before_created_and_before_the_answer(billing, stripe_server, client):
    import urllib.request

    invoice, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next="timeout", path="/v1/transfers", timeout_seconds=2)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "retry"
    transfer_id = stripe_server.transfers()[0]["id"]
    request = urllib.request.Request(  # noqa: S310 - the local server
        f"{stripe_server.url}/v1/transfers/{transfer_id}/reversals",
        data=b"",
        method="POST",
        headers={"Authorization": "Bearer sk_test_x"},
    )
    urllib.request.urlopen(request, timeout=5).read()  # noqa: S310

    # transfer.reversed arrives first: the payment is recorded, then reversed.
    assert deliver(client, stripe_server.events("transfer.reversed")[0]).status_code == 200
    assert process_inbox() == ["reversed"]
    # Then transfer.created, then the retry's replayed answer: nothing moves.
    assert deliver(client, stripe_server.events("transfer.created")[0]).status_code == 200
    assert process_inbox() == [DisbursementStatus.FAILED]
    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == DisbursementStatus.FAILED

    disbursement.refresh_from_db()
    invoice.refresh_from_db()
    assert (disbursement.status, invoice.status) == (DisbursementStatus.FAILED, InvoiceStatus.APPROVED)
    assert money(billing) == ("0.00", "882.00", "0.00")
    assert len(stripe_server.transfers()) == 1
    balanced()


def test_out_of_retries_the_attempt_waits_for_a_person(billing, stripe_server):
    _, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next=["500"] * rail_services.MAX_TRIES, path="/v1/transfers")
    outcomes = [
        disbursement_submit(disbursement_id=disbursement.pk, force=True) for _ in range(rail_services.MAX_TRIES)
    ]
    assert outcomes == ["retry"] * (rail_services.MAX_TRIES - 1) + ["needs_attention"]
    attempt = attempt_of(disbursement)
    assert (attempt.status, attempt.tries, attempt.next_try_at, attempt.error_code) == (
        AttemptStatus.UNKNOWN,
        rail_services.MAX_TRIES,
        None,
        "rail_unavailable",
    )
    assert disbursement_submit(disbursement_id=disbursement.pk) == "needs_attention"  # the periodic job leaves it
    assert disbursements_pay_due() == {str(disbursement.pk): "needs_attention"}
    assert money(billing) == SCHEDULED
    assert disbursement_submit(disbursement_id=disbursement.pk, force=True) == "executed"  # a person retries
    assert len(stripe_server.transfers()) == 1


def test_the_sweep_processes_events_whose_job_was_lost(billing, stripe_server, client):
    from django.db import connection

    from payor.payments.rail_services import webhooks_sweep

    invoice, disbursement = scheduled_today(billing, stripe_server)
    stripe_server.faults(next="timeout", path="/v1/transfers", timeout_seconds=2)
    assert disbursement_submit(disbursement_id=disbursement.pk) == "retry"
    assert deliver(client, stripe_server.events("transfer.created")[0]).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'payments.webhook.process'")
    assert webhooks_sweep() == {}  # too recent: its job may still run
    WebhookEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=6))
    row = WebhookEvent.objects.get()
    assert webhooks_sweep() == {str(row.pk): "executed"}
    assert webhooks_sweep() == {}
    assert_paid_once(billing, stripe_server, invoice, disbursement)
