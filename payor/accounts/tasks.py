"""Periodic housekeeping for identity."""

from __future__ import annotations

from procrastinate.contrib.django import app

from payor.accounts.wallets import wallet_nonce_purge


@app.periodic(cron="23 * * * *", periodic_id="accounts.wallet_nonce.purge")
@app.task(name="accounts.wallet_nonce.purge", queue="maintenance", queueing_lock="accounts.wallet_nonce.purge")
def purge_wallet_nonces(timestamp: int) -> int:
    """Delete Sign-In with Ethereum nonces that expired more than an hour ago (hourly)."""
    return wallet_nonce_purge()
