"""Receipt jobs: thin, take ids, safe to run twice (rendering a rendered receipt is a no-op)."""

from __future__ import annotations

from procrastinate.contrib.django import app

from payor.receipts.services import receipt_render


@app.task(name="receipts.receipt.render", queue="receipts", retry=5)
def receipt_render_job(receipt_id: str) -> str:
    """Render, validate and store one numbered receipt (deferred by the payment's transaction)."""
    return receipt_render(receipt_id=receipt_id).status
