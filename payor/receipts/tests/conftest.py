"""Fixtures: the payments' ``billing`` world (a funded USD project, a compliant US vendor "Willow Creek
Restoration LLC" with no VAT id, an executed 45,000.00 contract with 10 % retention) whose organization has a
postal address, an encrypted local data room in a temporary folder, and helpers that take an invoice from
approval to an executed payment."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from payor.accounts.models import Organization
from payor.dataroom.storage import Keyring, LocalEncryptedStorage
from payor.invoices.math import SovLineIn
from payor.payments.models import Disbursement
from payor.payments.services import disbursement_execute, disbursement_schedule
from payor.payments.tests.conftest import (
    CHAIN,
    DAO,
    FIN,
    PM,
    TREAS,
    Billing,
    approved,
    billing,
    contract_for,
    fast_password_hashing,
    usd,
    vendor_user_for,
    world,
)

__all__ = [
    "CHAIN",
    "DAO",
    "FIN",
    "PM",
    "TREAS",
    "Billing",
    "approved",
    "billing",
    "contract_for",
    "fast_password_hashing",
    "usd",
    "vendor_user_for",
    "world",
]

#: Two fixed 32-byte master keys (test only).
KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(32, 64))).decode()


@pytest.fixture
def dataroom(settings, tmp_path) -> LocalEncryptedStorage:
    """The configured data room: an encrypted folder under ``tmp_path`` with master key ``k1``."""
    root = tmp_path / "dataroom"
    settings.DATAROOM_BACKEND = "local"
    settings.DATAROOM_DIR = root
    settings.DATAROOM_KEYS = f"k1:{KEY_1}"
    settings.DATAROOM_ACTIVE_KEY = "k1"
    return LocalEncryptedStorage(Path(root), Keyring.parse(f"k1:{KEY_1}", "k1"))


def set_buyer(billing: Billing, **fields: str) -> Organization:
    """The project's organization as the receipts' buyer: "Riverbend Land Trust Inc." in Portland, OR, US."""
    org = billing.world.project.organization
    values = {
        "legal_name": "Riverbend Land Trust Inc.",
        "address_line1": "500 SW Market St",
        "city": "Portland",
        "region": "OR",
        "postal_code": "97201",
        "country": "US",
        "tax_id": "93-1234567",
        **fields,
    }
    Organization.objects.filter(pk=org.pk).update(**values)
    org.refresh_from_db()
    return org


def one_line(billing: Billing, amount: str = "1000.00", **kw: str):
    return billing.data(SovLineIn("1", "Site preparation", usd("10000.00"), this_period=usd(amount)), **kw)


def paid(billing: Billing, data, *, reference: str = "ACH-TRACE-000123", method: str | None = None) -> Disbursement:
    """Approve ``data``, schedule its payment for today and execute it with ``reference``."""
    invoice = approved(billing, data)
    tre = billing.people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate(), method=method)
    return disbursement_execute(actor=tre, disbursement=disbursement, rail_reference=reference)


def today() -> dt.date:
    return timezone.localdate()


def pytest_collection_modifyitems(config, items):
    """Every receipts test touches the database: CI runs them on the embedded PostgreSQL too."""
    for item in items:
        if "payor/receipts/tests" in str(item.fspath):
            item.add_marker(pytest.mark.database_facing)
