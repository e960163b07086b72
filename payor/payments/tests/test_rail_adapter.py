"""The Stripe adapter against the rail interface, at the wire (the local server): status mapping, fetch_status,
webhook parsing, the SDK confined to its rail, the jobs registered."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from payor.payments.rails.base import (
    PaymentOrder,
    RailRetryableError,
    RailSignatureError,
    RailStatus,
    RailTerminalError,
)
from payor.payments.rails.stripe.client import StripeConnectRail, map_status
from payor.payments.rails.stripe.local_server import fixture, sign, start

SECRET = "whsec_adapter"


@pytest.fixture
def server():
    running = start(webhook_secret=SECRET)
    yield running
    running.stop()


@pytest.fixture
def rail(server) -> StripeConnectRail:
    return StripeConnectRail(api_key="sk_test_adapter", api_base=server.url, webhook_secret=SECRET, timeout=1)


def order(destination: str, key: str = "disb-adapter-1", amount: int = 12345) -> PaymentOrder:
    return PaymentOrder(
        idempotency_key=key,
        amount_minor=amount,
        currency="USD",
        destination=destination,
        group="project-x",
        description="Payor INV-1",
        metadata={"disbursement_id": "d1"},
    )


def onboarded_account(rail, server) -> str:
    account = rail.account_create(vendor_id="v1", country="US", email="v@example.test", idempotency_key="acct-1")
    server.server.state.accounts[account["id"]]["capabilities"] = {"transfers": "active"}
    return account["id"]


@pytest.mark.parametrize(
    ("obj", "status"),
    [
        ({"object": "transfer", "amount": 100, "amount_reversed": 0, "reversed": False}, RailStatus.SUCCEEDED),
        ({"object": "transfer", "amount": 100, "amount_reversed": 40, "reversed": False}, RailStatus.SUCCEEDED),
        ({"object": "transfer", "amount": 100, "amount_reversed": 100, "reversed": True}, RailStatus.REVERSED),
        ({"object": "payout", "status": "paid"}, RailStatus.SUCCEEDED),
        ({"object": "payout", "status": "in_transit"}, RailStatus.PENDING),
        ({"object": "payout", "status": "pending"}, RailStatus.PENDING),
        ({"object": "payout", "status": "failed"}, RailStatus.FAILED),
        ({"object": "payout", "status": "canceled"}, RailStatus.FAILED),
    ],
)
def test_provider_statuses_map_in_one_place(obj, status):
    assert map_status(obj) == status


def test_map_status_refuses_what_it_does_not_know():
    with pytest.raises(ValueError, match="charge"):
        map_status({"object": "charge"})


def test_submit_then_fetch_status_and_replay(rail, server):
    destination = onboarded_account(rail, server)
    made = rail.submit(order(destination))
    assert (made.status, made.replayed, made.summary["amount"], made.summary["currency"]) == (
        RailStatus.SUCCEEDED,
        False,
        12345,
        "usd",
    )
    assert re.fullmatch(r"tr_[0-9a-f]{24}", made.reference)
    again = rail.submit(order(destination))
    assert (again.reference, again.replayed) == (made.reference, True)
    assert rail.fetch_status(made.reference).status == RailStatus.SUCCEEDED
    assert len(server.state.transfers) == 1


def test_errors_are_retryable_or_terminal(rail, server):
    destination = onboarded_account(rail, server)
    with pytest.raises(RailTerminalError) as missing:
        rail.submit(order("acct_nobody", key="k-missing"))
    assert (missing.value.code, missing.value.http_status) == ("resource_missing", 404)
    with pytest.raises(RailTerminalError) as unknown:
        rail.fetch_status("tr_nope")
    assert unknown.value.code == "resource_missing"
    rail.submit(order(destination, key="k-same"))
    with pytest.raises(RailRetryableError) as conflict:  # same key, other body: never paid under a new key
        rail.submit(order(destination, key="k-same", amount=1))
    assert conflict.value.code == "idempotency_error"
    server.state.faults.next = ["500"]
    with pytest.raises(RailRetryableError) as unavailable:
        rail.submit(order(destination, key="k-500"))
    assert (unavailable.value.code, unavailable.value.http_status) == ("rail_unavailable", 500)
    nowhere = StripeConnectRail(
        api_key="sk_test_adapter", api_base="http://127.0.0.1:9", webhook_secret=SECRET, timeout=1
    )
    with pytest.raises(RailRetryableError) as unreachable:
        nowhere.submit(order(destination, key="k-down"))
    assert unreachable.value.code == "rail_unreachable"


def test_parse_webhook_verifies_with_the_sdk(rail):
    event = fixture("event")
    body = json.dumps(event)
    parsed = rail.parse_webhook(body.encode(), {"Stripe-Signature": sign(body, SECRET)})
    assert (parsed.external_id, parsed.type, parsed.object["id"]) == (
        event["id"],
        "plan.created",
        event["data"]["object"]["id"],
    )
    with pytest.raises(RailSignatureError) as bad:
        rail.parse_webhook(body.encode(), {"Stripe-Signature": sign(body, "whsec_other")})
    assert bad.value.code == "webhook_signature_invalid"
    not_json = "not json"
    with pytest.raises(RailSignatureError) as garbage:
        rail.parse_webhook(not_json.encode(), {"Stripe-Signature": sign(not_json, SECRET)})
    assert garbage.value.code == "webhook_payload_invalid"
    not_event = json.dumps({"hello": "world"})
    with pytest.raises(RailSignatureError) as shape:
        rail.parse_webhook(not_event.encode(), {"Stripe-Signature": sign(not_event, SECRET)})
    assert shape.value.code == "webhook_payload_invalid"


def test_the_stripe_sdk_is_imported_only_in_its_rail():
    root = Path(__file__).resolve().parents[2]
    allowed = root / "payments" / "rails" / "stripe" / "client.py"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path != allowed
        and "tests" not in path.parts
        and re.search(r"^\s*(import stripe\b|from stripe\b)", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_payment_jobs_are_registered_with_dotted_names():
    from procrastinate.contrib.django import app

    import payor.payments.tasks  # noqa: F401

    names = set(app.tasks)
    assert {
        "payments.invoice.autoschedule",
        "payments.disbursement.submit",
        "payments.disbursement.pay_due",
        "payments.webhook.process",
        "payments.webhook.sweep",
    } <= names
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["payments.disbursement.pay_due"].cron == "* * * * *"
    assert periodic["payments.webhook.sweep"].cron == "*/10 * * * *"


@pytest.mark.django_db
def test_a_webhook_body_over_a_megabyte_is_refused(client):
    response = client.post("/webhooks/stripe", data="x" * 1_000_001, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (413, "webhook_too_large")


def test_either_of_two_webhook_secrets_verifies(server):
    rail = StripeConnectRail(
        api_key="sk_test_adapter", api_base=server.url, webhook_secret=f"whsec_account, {SECRET}", timeout=1
    )
    body = json.dumps(fixture("event"))
    for secret in ("whsec_account", SECRET):
        assert rail.parse_webhook(body.encode(), {"Stripe-Signature": sign(body, secret)}).type == "plan.created"
    with pytest.raises(RailSignatureError):
        rail.parse_webhook(body.encode(), {"Stripe-Signature": sign(body, "whsec_third")})


def test_serve_moves_the_local_stripe_server_off_a_taken_port():
    import socket

    from payor.core.processes import free_port_or, stripe_local_argv

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = free_port_or(port)
        assert other != port
    assert free_port_or(other) == other
    assert stripe_local_argv(port=other, webhook_url="http://127.0.0.1:8000/webhooks/stripe")[-4:] == [
        "--port",
        str(other),
        "--webhook-url",
        "http://127.0.0.1:8000/webhooks/stripe",
    ]
