"""Fixtures: the payments' ``billing`` world (a funded 150,000.00 USD project, a compliant vendor with a linked
VENDOR user, an executed 45,000.00 contract: 1.1 30,000.00 / 1.2 15,000.00) and its helpers."""

from __future__ import annotations

from payor.payments.tests.conftest import (
    Billing,
    approved,
    billing,
    contract_for,
    fast_password_hashing,
    figures,
    usd,
    world,
)

__all__ = ["Billing", "approved", "billing", "contract_for", "fast_password_hashing", "figures", "usd", "world"]
