"""A project's whole money story with exact figures at every step (design §5 flows)."""

from __future__ import annotations

import uuid

import pytest

from payor.core.money import Money
from payor.ledger import services as ledger
from payor.ledger.errors import CommitmentExceeded, InsufficientFunds
from payor.ledger.selectors import budget_line_figures, contract_figures, project_summary, vendor_paid
from payor.ledger.verify import ledger_verify
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def figures(project, **expected: str) -> None:
    summary = project_summary(project_id=project.pk)["USD"]
    actual = {name: getattr(summary, name).amount_str() for name in expected}
    assert actual == expected
    assert summary.balanced


def test_restoration_project_from_funding_to_closed_contract():
    project = ProjectFactory(name="Klamath riparian")
    bucket = project.buckets.get()
    site_prep, planting = uuid.uuid4(), uuid.uuid4()  # WBS lines 1.1 and 1.2
    riverworks = ledger.Party(bucket=bucket, contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())
    nursery = ledger.Party(bucket=bucket, contract_id=uuid.uuid4(), vendor_id=uuid.uuid4())

    # Funded by a Lift Bond and a treasury allocation.
    ledger.fund(bucket=bucket, amount=usd("750000.00"), key="funding:lift-bond")
    ledger.fund(bucket=bucket, amount=usd("250000.00"), key="funding:treasury")
    figures(project, funded="1000000.00", available="1000000.00", committed="0.00")

    # Two contracts committed against the WBS.
    ledger.commit(
        party=riverworks,
        lines=[ledger.Line(usd("300000.00"), site_prep), ledger.Line(usd("180000.00"), planting)],
        key=f"contract:{riverworks.contract_id}",
    )
    ledger.commit(party=nursery, lines=[ledger.Line(usd("95000.00"), planting)], key=f"contract:{nursery.contract_id}")
    figures(project, available="425000.00", committed="575000.00")

    # A third commitment larger than what is left is refused, and changes nothing.
    with pytest.raises(InsufficientFunds) as refused:
        ledger.commit(
            party=ledger.Party(bucket=bucket, contract_id=uuid.uuid4(), vendor_id=uuid.uuid4()),
            lines=[ledger.Line(usd("425000.01"), site_prep)],
            key="contract:too-big",
        )
    assert refused.value.title == "Insufficient Lift Forward funds: add funds, reduce scope, or split invoice."
    figures(project, available="425000.00", committed="575000.00")

    # Riverworks invoices 120,000 gross: 10% retention, 2,400 backup withholding.
    invoice = uuid.uuid4()
    key = f"invoice:{invoice}:submission:1"
    ledger.encumber(
        party=riverworks,
        lines=[ledger.Line(usd("80000.00"), site_prep), ledger.Line(usd("40000.00"), planting)],
        key=key,
        invoice_id=invoice,
    )
    figures(project, committed="455000.00", encumbered="120000.00")
    ledger.retain(
        party=riverworks,
        lines=[ledger.Line(usd("8000.00"), site_prep), ledger.Line(usd("4000.00"), planting)],
        key=key,
        invoice_id=invoice,
    )
    ledger.withhold(party=riverworks, lines=[ledger.Line(usd("2400.00"), site_prep)], key=key, invoice_id=invoice)
    figures(project, encumbered="105600.00", retention="12000.00", withheld="2400.00")

    # Invoicing more than remains committed needs a change order.
    with pytest.raises(CommitmentExceeded):
        ledger.encumber(
            party=riverworks,
            lines=[ledger.Line(usd("220000.01"), site_prep)],
            key="invoice:x:submission:1",
            invoice_id=uuid.uuid4(),
        )

    # Payment run: net 105,600 scheduled (pending), then executed.
    payment = uuid.uuid4()
    ledger.disbursement_schedule(
        party=riverworks,
        lines=[ledger.Line(usd("69600.00"), site_prep), ledger.Line(usd("36000.00"), planting)],
        disbursement_id=payment,
        year=2026,
        invoice_id=invoice,
    )
    figures(project, encumbered="0.00", pending="105600.00", disbursed="0.00")
    ledger.disbursement_execute(disbursement_id=payment)
    figures(project, pending="0.00", disbursed="105600.00")
    assert vendor_paid(vendor_id=riverworks.vendor_id, year=2026) == {"USD": usd("105600.00")}
    assert vendor_paid(vendor_id=riverworks.vendor_id, year=2025) == {}

    # The nursery's first invoice is scheduled, but the payment fails: voided, encumbered again.
    nursery_invoice, failed = uuid.uuid4(), uuid.uuid4()
    ledger.encumber(
        party=nursery,
        lines=[ledger.Line(usd("30000.00"), planting)],
        key=f"invoice:{nursery_invoice}:submission:1",
        invoice_id=nursery_invoice,
    )
    ledger.disbursement_schedule(
        party=nursery, lines=[ledger.Line(usd("30000.00"), planting)], disbursement_id=failed, year=2026
    )
    figures(project, encumbered="0.00", pending="30000.00")
    ledger.disbursement_fail(disbursement_id=failed)
    figures(project, encumbered="30000.00", pending="0.00", disbursed="105600.00")

    # Verification gate passed: Riverworks' retention is released and paid.
    ledger.retention_release(
        party=riverworks,
        lines=[ledger.Line(usd("8000.00"), site_prep), ledger.Line(usd("4000.00"), planting)],
        key=f"gate:survival-12m:{riverworks.contract_id}",
    )
    figures(project, retention="0.00", encumbered="42000.00")
    release_payment = uuid.uuid4()
    ledger.disbursement_schedule(
        party=riverworks,
        lines=[ledger.Line(usd("8000.00"), site_prep), ledger.Line(usd("4000.00"), planting)],
        disbursement_id=release_payment,
        year=2026,
    )
    ledger.disbursement_execute(disbursement_id=release_payment)
    figures(project, disbursed="117600.00", encumbered="30000.00")

    # Riverworks' contract closes: the unused 360,000 goes back to available.
    assert contract_figures(contract_id=riverworks.contract_id)["USD"].committed == usd("360000.00")
    ledger.contract_close(party=riverworks, key=f"contract:{riverworks.contract_id}")
    assert contract_figures(contract_id=riverworks.contract_id)["USD"].committed == usd("0.00")
    figures(
        project,
        funded="1000000.00",
        available="785000.00",
        committed="65000.00",
        encumbered="30000.00",
        retention="0.00",
        withheld="2400.00",
        disbursed="117600.00",
        pending="0.00",
    )
    lines = budget_line_figures(project_id=project.pk)
    assert lines[(site_prep, "USD")].disbursed == usd("77600.00")
    assert lines[(planting, "USD")].disbursed == usd("40000.00")
    assert lines[(planting, "USD")].committed == usd("65000.00")

    # Closing again is a no-op; the whole ledger verifies.
    assert ledger.contract_close(party=riverworks, key=f"contract:{riverworks.contract_id}") == []
    report = ledger_verify()
    assert report.ok, report.problems
