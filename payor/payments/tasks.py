"""Payment jobs: thin, take ids, safe to run twice (the services re-check state under locks)."""

from __future__ import annotations

import uuid

from procrastinate.contrib.django import app

from payor.payments import rail_services


@app.task(name="payments.invoice.autoschedule", queue="payments", retry=3)
def invoice_autoschedule_job(invoice_id: str) -> str:
    """Schedule an approved self-billed invoice on its terms (deferred by its approval)."""
    disbursement = rail_services.invoice_autoschedule(invoice_id=uuid.UUID(invoice_id))
    return "" if disbursement is None else str(disbursement.pk)


@app.task(name="payments.disbursement.submit", queue="payments", retry=0)
def disbursement_submit_job(disbursement_id: str) -> str:
    """Pay one disbursement on its rail now (deferred when one is scheduled for today)."""
    return rail_services.disbursement_submit(disbursement_id=disbursement_id)


@app.periodic(cron="* * * * *", periodic_id="payments.disbursement.pay_due")
@app.task(name="payments.disbursement.pay_due", queue="payments", queueing_lock="payments.disbursement.pay_due")
def disbursements_pay_due_job(timestamp: int) -> int:
    """Every minute: submit scheduled rail disbursements that are due, retry open attempts whose time came."""
    return len(rail_services.disbursements_pay_due())


@app.task(name="payments.webhook.process", queue="payments", retry=5)
def webhook_process_job(event_id: str) -> str:
    """Apply one webhook inbox event."""
    return rail_services.webhook_process(event_id=event_id)


@app.periodic(cron="*/10 * * * *", periodic_id="payments.webhook.sweep")
@app.task(name="payments.webhook.sweep", queue="payments", queueing_lock="payments.webhook.sweep")
def webhooks_sweep_job(timestamp: int) -> int:
    """Every 10 minutes: process inbox events left unprocessed (their job out of retries or lost)."""
    return len(rail_services.webhooks_sweep())
