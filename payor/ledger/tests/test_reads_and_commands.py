from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from procrastinate.contrib.django import app

from payor.ledger import services as ledger
from payor.ledger.models import AccountKind
from payor.ledger.selectors import account_history
from payor.ledger.tests.conftest import usd

pytestmark = pytest.mark.django_db


def test_account_history_pages_with_running_balance(party):
    key = "contract:history"
    for i in range(5):
        ledger.commit(party=party, lines=[ledger.Line(usd(f"{i + 1}.00"))], key=f"{key}:{i}")
    committed = ledger.account_ensure(
        bucket=party.bucket, kind=AccountKind.COMMITTED, contract_id=party.contract_id, vendor_id=party.vendor_id
    )
    ledger.change_order(party=party, lines=[ledger.Line(usd("-2.50"))], key="co:1")

    first = account_history(account=committed, limit=3)
    assert [(line.delta, line.balance_after) for line in first.lines] == [(-250, 1250), (500, 1500), (400, 1000)]
    second = account_history(account=committed, limit=3, before_seq=first.next_before_seq, balance=first.next_balance)
    assert [(line.delta, line.balance_after) for line in second.lines] == [(300, 600), (200, 300), (100, 100)]
    assert second.next_before_seq is None


def test_history_of_a_pending_then_posted_transfer(party):
    ledger.commit(party=party, lines=[ledger.Line(usd("100.00"))], key="c")
    invoice = uuid.uuid4()
    ledger.encumber(party=party, lines=[ledger.Line(usd("100.00"))], key="i", invoice_id=invoice)
    payment = uuid.uuid4()
    ledger.disbursement_schedule(party=party, lines=[ledger.Line(usd("60.00"))], disbursement_id=payment, year=2026)
    ledger.disbursement_execute(disbursement_id=payment)
    disbursed = ledger.account_ensure(
        bucket=party.bucket,
        kind=AccountKind.DISBURSED,
        contract_id=party.contract_id,
        vendor_id=party.vendor_id,
        year=2026,
    )
    lines = account_history(account=disbursed).lines
    assert [(line.transfer.phase, line.delta, line.pending_delta, line.balance_after) for line in lines] == [
        ("post", 6000, -6000, 6000),
        ("pending", 0, 6000, 0),
    ]


def test_verify_command_passes_then_names_the_first_mismatch(funded):
    out = StringIO()
    call_command("ledger", "verify", stdout=out)
    assert out.getvalue().startswith("ledger ok: 2 accounts, 1 transfers, 1 buckets")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE ledger_account SET debits_posted = debits_posted + 1 WHERE kind = 'funding'")
        cursor.execute("SET LOCAL session_replication_role = origin")
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("ledger", "verify", stdout=StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert "ledger verification FAILED" in err.getvalue()
    assert "(funding): stored balances" in err.getvalue()


def test_expire_command_and_its_periodic_job():
    out = StringIO()
    call_command("ledger", "expire", stdout=out)
    assert out.getvalue().strip() == "voided 0 expired pending transfers"
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["ledger.pending.expire"].cron == "* * * * *"
