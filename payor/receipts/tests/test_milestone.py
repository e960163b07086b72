"""A milestone's self-billed invoice, paid: its receipt carries the milestone title and description on the line,
and the data-room folder gets the approved submission's deliverables and the approvals timeline."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from payor.contracts.tests.conftest import flow, media
from payor.dataroom.models import DataRoomObject
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_decide
from payor.payments.services import disbursement_execute, disbursement_schedule
from payor.receipts.models import Receipt
from payor.receipts.services import receipt_documents, receipt_render
from payor.receipts.tests.conftest import FIN, PM, TREAS, set_buyer

__all__ = ["flow", "media"]

pytestmark = pytest.mark.django_db


def test_a_paid_milestone_gets_its_title_on_the_line_and_its_deliverables_in_the_folder(flow, dataroom):
    set_buyer(flow)
    work_request = flow.accepted(("Site preparation", "12345.67", "1.1"))
    milestone = flow.milestone(work_request)
    submission = flow.approve(flow.submit(milestone, files=1))
    milestone.refresh_from_db()
    invoice = Invoice.objects.get(pk=milestone.invoice_id)
    people = flow.world.people
    for name, role in (("pm2", PM), ("fin", FIN), ("tre", TREAS)):
        if invoice.status != InvoiceStatus.APPROVED:
            invoice = invoice_decide(actor=people[name], invoice=invoice, role=role, decision="approved")
    assert invoice.status == InvoiceStatus.APPROVED
    tre = people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate())
    disbursement = disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-MS-1")

    receipt = Receipt.objects.get(disbursement=disbursement)
    content = receipt.content
    assert content["milestone_title"] == "Site preparation"
    assert content["lines"] == [
        {"id": "1", "name": "Site preparation", "description": "Site preparation as specified", "net": 1234567}
    ]
    assert receipt_documents(content).errors == []

    receipt = receipt_render(receipt_id=receipt.pk)
    names = sorted(DataRoomObject.objects.filter(disbursement=disbursement).values_list("name", "kind"))
    [upload] = list(submission.files.all())
    assert names == [
        ("SB-000001.cii.xml", "receipt_cii"),
        ("SB-000001.pdf", "receipt_pdf"),
        ("SB-000001.ubl.xml", "receipt_ubl"),
        ("approval-record.json", "approval_record"),
        (f"deliverables/1-{upload.pk}-{upload.original_filename}", "deliverable"),
        ("payment-confirmation.json", "payment_confirmation"),
    ]
    stored = DataRoomObject.objects.get(kind="deliverable")
    assert stored.sha256 == upload.sha256
    record = json.loads(dataroom.get(DataRoomObject.objects.get(kind="approval_record").storage_key))
    assert record["milestone"]["title"] == "Site preparation"
    assert [(s["attempt"], s["approval_status"]) for s in record["milestone"]["submissions"]] == [(1, "approved")]
    assert record["milestone"]["submissions"][0]["files"][0]["sha256"] == upload.sha256
