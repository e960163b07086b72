"""Fixtures: the invoices' ``billing`` world (a funded project, a compliant vendor with a linked VENDOR user and an
executed 45,000.00 contract: 1.1 30,000.00 / 1.2 15,000.00, retention 10 %, 2/10 net 30) and helpers that take an
invoice through its approvals, plus the state a refused payment operation must leave untouched."""

from __future__ import annotations

import pytest

from payor.audit.models import AuditEvent
from payor.events.models import OutboxEvent
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_create, invoice_decide
from payor.invoices.tests.conftest import (
    CHAIN,
    DAO,
    FIN,
    PM,
    TREAS,
    Billing,
    billing,
    contract_figures,
    contract_for,
    fast_password_hashing,
    figures,
    usd,
    vendor_user_for,
    world,
)
from payor.ledger.models import Transfer
from payor.ledger.verify import ledger_verify
from payor.payments.models import Disbursement
from payor.testing.stripe import WEBHOOK_SECRET, StripeServer, deliver, queued, run_jobs, stripe_server

__all__ = [
    "CHAIN",
    "DAO",
    "FIN",
    "PM",
    "TREAS",
    "WEBHOOK_SECRET",
    "Billing",
    "StripeServer",
    "billing",
    "contract_figures",
    "contract_for",
    "deliver",
    "fast_password_hashing",
    "figures",
    "queued",
    "run_jobs",
    "stripe_server",
    "usd",
    "vendor_user_for",
    "world",
]


def approved(billing: Billing, data, *, contract=None, vendor_user=None) -> Invoice:
    """Enter and submit an invoice, then approve it stage by stage (PM, Finance, then the Treasurer in band 2)."""
    people = billing.people
    invoice = invoice_create(actor=vendor_user or billing.vendor_user, contract=contract or billing.contract, data=data)
    for name, role in (("pm", PM), ("fin", FIN), ("tre", TREAS)):
        invoice = invoice_decide(actor=people[name], invoice=invoice, role=role, decision="approved")
        if invoice.status == InvoiceStatus.APPROVED:
            return invoice
    raise AssertionError(f"{invoice.number} is still {invoice.status}")


def balanced() -> None:
    """The ledger recomputes from its transfers and every bucket keeps funded = the sum of its parts."""
    report = ledger_verify()
    assert report.ok, report.problems


def state(billing: Billing) -> tuple[object, ...]:
    """Everything a refused payment operation must leave untouched."""
    f = figures(billing)
    return (
        f.available,
        f.committed,
        f.encumbered,
        f.retention,
        f.withheld,
        f.disbursed,
        f.pending,
        Transfer.objects.count(),
        list(Invoice.objects.order_by("id").values_list("id", "status")),
        list(
            Disbursement.objects.order_by("id").values_list(
                "id", "status", "amount", "executed_on", "rail_reference", "failure_reason"
            )
        ),
        OutboxEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def pytest_collection_modifyitems(config, items):
    """Every payments test but the pure arithmetic touches the database: CI runs them on the embedded PostgreSQL
    too."""
    for item in items:
        path = str(item.fspath)
        if "payor/payments/tests" in path and not path.endswith("test_math.py"):
            item.add_marker(pytest.mark.database_facing)


# --------------------------------------------------------------------------------------------------------
# Stripe Connect: the local Stripe-speaking server, a vendor paid through it, the job queue
# --------------------------------------------------------------------------------------------------------


def onboarded(billing: Billing, server: StripeServer, client=None, *, complete: bool = True):
    """Pay ``billing``'s vendor through Stripe Connect: its bank method, a connected account made through the API
    of the local server, onboarding completed there (capabilities follow ``account.updated``)."""
    from payor.payments.models import ConnectedAccount, WebhookEvent
    from payor.payments.rail_services import connected_account_create, webhook_process
    from payor.vendors.models import Vendor

    Vendor.objects.filter(pk=billing.vendor.pk).update(bank_method="stripe_connect")
    billing.vendor.refresh_from_db()
    connected_account_create(
        actor=billing.vendor_user,
        vendor=billing.vendor,
        return_url="http://testserver/done",
        refresh_url="http://testserver/again",
    )
    account = ConnectedAccount.objects.get(vendor=billing.vendor)
    if complete:
        server.control(f"/_control/accounts/{account.account_id}/complete")
        if client is not None:
            event = server.events("account.updated")[-1]
            assert deliver(client, event).status_code == 200
            for row in WebhookEvent.objects.filter(processed_at__isnull=True):
                webhook_process(event_id=row.pk)
            account.refresh_from_db()
    return account
