"""Issuing: numbered inside the payment's transaction (gapless per organization), rendered once by the job into a
PDF/A-3b with the CII embedded, stored with its UBL, approval record and payment confirmation; a reversal is a new
document (261). One PDF is rendered per test that needs one (rendering takes a few seconds)."""

from __future__ import annotations

import hashlib
import io
import subprocess

import pytest
from django.db import transaction
from PIL import Image
from procrastinate.contrib.django.models import ProcrastinateJob
from pypdf import PdfReader

from payor.audit.models import AuditEvent
from payor.dataroom.models import DataRoomObject
from payor.ledger.models import Transfer, TransferPhase
from payor.payments.rail_services import disbursement_reverse
from payor.payments.services import disbursement_execute
from payor.receipts.models import Receipt, ReceiptSequence, ReceiptStatus
from payor.receipts.services import receipt_credit_note_issue, receipt_render
from payor.receipts.tests.conftest import one_line, paid, set_buyer, today

pytestmark = pytest.mark.django_db


def actions(subject_id) -> list[str]:
    return list(AuditEvent.objects.filter(subject_id=str(subject_id)).order_by("seq").values_list("action", flat=True))


def test_executing_a_payment_numbers_its_receipt_and_defers_the_render(billing, dataroom):
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing, withholds="50.00"))

    receipt = Receipt.objects.get(disbursement=disbursement)
    assert (receipt.number, receipt.sequence, receipt.type_code, receipt.kind) == ("SB-000001", 1, "389", "invoice")
    assert (receipt.status, receipt.transaction_id, receipt.issue_date) == ("numbered", "ACH-TRACE-000123", today())
    assert receipt.organization_id == billing.world.project.organization_id
    assert (receipt.pdf_sha256, receipt.cii_sha256, receipt.ubl_sha256) == ("", "", "")
    posted = list(
        Transfer.objects.filter(pending__disbursement_id=disbursement.pk, phase=TransferPhase.POST)
        .order_by("seq")
        .values_list("id", flat=True)
    )
    assert len(posted) == 1
    assert receipt.ledger_transfer_ids == posted
    assert ReceiptSequence.objects.get(organization_id=receipt.organization_id).last_number == 1
    job = ProcrastinateJob.objects.get(task_name="receipts.receipt.render", args__receipt_id=str(receipt.pk))
    assert (job.args, job.queue_name, job.status) == ({"receipt_id": str(receipt.pk)}, "receipts", "todo")
    assert actions(receipt.pk) == ["receipt.numbered"]
    # The frozen content: US contractor without VAT → "not subject to VAT"; paid 832.00 = 1,000.00 - 100.00
    # retention - 50.00 withheld - 18.00 early-pay discount.
    content = receipt.content
    assert content["notes"][0] == "Self-billing"
    assert content["vat"] == {
        "category": "O",
        "rate": "",
        "exemption_code": "VATEX-EU-O",
        "exemption_reason": "Not subject to VAT",
    }
    assert content["amounts"] == {
        "net": 100000,
        "charges": 0,
        "tax_basis": 100000,
        "taxes": 0,
        "total": 100000,
        "retention": 10000,
        "withholding": 5000,
        "discount": 1800,
        "paid": 83200,
    }
    assert (content["seller"]["name"], content["buyer"]["name"]) == (
        "Willow Creek Restoration LLC",
        "Riverbend Land Trust Inc.",
    )
    assert content["payment"]["reference"] == "ACH-TRACE-000123"
    assert content["payment"]["means_code"] == "42"

    # Executing again with the same reference is a no-op: same receipt, no new number.
    again = disbursement_execute(
        actor=billing.people["tre"], disbursement=disbursement, rail_reference="ACH-TRACE-000123"
    )
    assert again.pk == disbursement.pk
    assert Receipt.objects.count() == 1
    assert ReceiptSequence.objects.get(organization_id=receipt.organization_id).last_number == 1


def test_numbers_are_gapless_per_organization_and_roll_back_with_the_payment(billing, dataroom):
    set_buyer(billing)
    first = paid(billing, one_line(billing, "1000.00"))

    def pay_then_fail() -> None:
        with transaction.atomic():
            paid(billing, one_line(billing, "2000.00"), reference="ACH-ROLLED-BACK")
            assert Receipt.objects.get(transaction_id="ACH-ROLLED-BACK").number == "SB-000002"
            raise RuntimeError("the payment's transaction rolls back")

    with pytest.raises(RuntimeError):
        pay_then_fail()
    assert list(Receipt.objects.values_list("number", flat=True)) == ["SB-000001"]
    second = paid(billing, one_line(billing, "3000.00"), reference="ACH-TRACE-000999")
    numbers = dict(Receipt.objects.values_list("disbursement_id", "number"))
    assert numbers == {first.pk: "SB-000001", second.pk: "SB-000002"}
    assert ReceiptSequence.objects.get(organization_id=billing.world.project.organization_id).last_number == 2


def test_render_stores_a_pdfa3_with_the_cii_embedded_and_is_a_no_op_the_second_time(billing, dataroom, tmp_path):
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing, withholds="50.00"))
    receipt = receipt_render(receipt_id=Receipt.objects.get(disbursement=disbursement).pk)

    assert receipt.status == ReceiptStatus.RENDERED
    assert receipt.validation_errors == []
    objects = {o.name: o for o in DataRoomObject.objects.filter(disbursement=disbursement)}
    assert sorted(objects) == [
        "SB-000001.cii.xml",
        "SB-000001.pdf",
        "SB-000001.ubl.xml",
        "approval-record.json",
        "payment-confirmation.json",
    ]
    stored = {name: dataroom.get(o.storage_key) for name, o in objects.items()}
    for name, obj in objects.items():
        assert obj.sha256 == hashlib.sha256(stored[name]).hexdigest()
        assert obj.storage_key == f"{disbursement.project_id}/{disbursement.pk}/{name}"
        assert (obj.backend, obj.key_id, obj.size) == ("local", "k1", len(stored[name]))
    pdf, cii, ubl = stored["SB-000001.pdf"], stored["SB-000001.cii.xml"], stored["SB-000001.ubl.xml"]
    assert receipt.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    assert receipt.cii_sha256 == hashlib.sha256(cii).hexdigest()
    assert receipt.ubl_sha256 == hashlib.sha256(ubl).hexdigest()

    # PDF/A-3b, exactly one attachment: factur-x.xml, byte-identical to the stored CII.
    reader = PdfReader(io.BytesIO(pdf))
    assert {name: b"".join(data) for name, data in reader.attachments.items()} == {"factur-x.xml": cii}
    xmp = reader.xmp_metadata
    assert xmp is not None
    rdf = xmp.rdf_root.toxml()
    assert "<pdfaid:part>3</pdfaid:part>" in rdf
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in rdf
    assert "fx:ConformanceLevel>EN 16931<" in rdf
    text = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    for expected in (
        "Self-billed invoice",
        "SB-000001",
        "ACH-TRACE-000123",
        "Willow Creek Restoration LLC",
        "Riverbend Land Trust Inc.",
        "832.00",
        "Site preparation",
        receipt.cii_sha256,
    ):
        assert expected in text
    assert b"<ram:TypeCode>389</ram:TypeCode>" in cii
    assert b"<cbc:InvoiceTypeCode>389</cbc:InvoiceTypeCode>" in ubl

    # Opens in a PDF reader: poppler renders the first page, and it is not blank.
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", "-singlefile", "-", str(tmp_path / "page")],
        input=pdf,
        check=True,
        capture_output=True,
    )
    with Image.open(tmp_path / "page.png") as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert image.size[0] > 300
        assert dark > 1000  # text and rules, not a blank page

    audit = AuditEvent.objects.filter(subject_id=str(receipt.pk), action="receipt.rendered").get()
    assert audit.after["pdf_sha256"] == receipt.pdf_sha256
    assert audit.after["cii_sha256"] == receipt.cii_sha256
    assert audit.after["ledger_transfer_ids"] == receipt.ledger_transfer_ids
    confirmation = stored["payment-confirmation.json"].decode()
    assert '"rail_reference": "ACH-TRACE-000123"' in confirmation

    # Re-running the job is a no-op: nothing re-rendered, stored or audited.
    marks = (
        DataRoomObject.objects.count(),
        AuditEvent.objects.count(),
        sorted(p.name for p in dataroom.root.rglob("*")),
    )
    assert receipt_render(receipt_id=receipt.pk).pdf_sha256 == receipt.pdf_sha256
    assert (
        DataRoomObject.objects.count(),
        AuditEvent.objects.count(),
        sorted(p.name for p in dataroom.root.rglob("*")),
    ) == marks


def test_validation_errors_block_issuing_and_are_reported(billing, dataroom):
    set_buyer(billing, country="")  # the buyer's country (BT-55) is mandatory
    disbursement = paid(billing, one_line(billing))
    receipt = receipt_render(receipt_id=Receipt.objects.get(disbursement=disbursement).pk)

    assert receipt.status == ReceiptStatus.INVALID
    assert receipt.pdf_sha256 == ""
    # The Factur-X CII schematron flags nothing (an unflagged assert is an error); the CEN UBL one says "fatal".
    assert [(e["syntax"], e["rule"], e["flag"]) for e in receipt.validation_errors] == [
        ("cii", "BR-11", ""),
        ("ubl", "BR-11", "fatal"),
        ("ubl", "BR-CL-14", "fatal"),
    ]
    assert DataRoomObject.objects.count() == 0
    assert not dataroom.root.exists()
    assert actions(receipt.pk) == ["receipt.numbered", "receipt.invalid"]

    # Never issued, so the fix reaches it: the next render rebuilds the content (same number and date) and passes.
    set_buyer(billing, country="US")
    fixed = receipt_render(receipt_id=receipt.pk)
    assert (fixed.status, fixed.validation_errors, fixed.number) == ("rendered", [], "SB-000001")
    assert fixed.content["buyer"]["country"] == "US"
    assert fixed.content["issued_at"] == receipt.content["issued_at"]
    assert DataRoomObject.objects.filter(receipt=fixed).count() == 3
    assert actions(receipt.pk) == ["receipt.numbered", "receipt.invalid", "receipt.rendered"]


def test_a_reversal_issues_a_self_billed_credit_note_and_never_touches_the_invoice(billing, dataroom):
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing))
    invoice_receipt = Receipt.objects.get(disbursement=disbursement)
    before = Receipt.objects.filter(pk=invoice_receipt.pk).values().get()

    with transaction.atomic():
        note = receipt_credit_note_issue(disbursement=disbursement, reason="Stripe reversed transfer tr_123")
    assert note is not None
    assert (note.number, note.type_code, note.kind, note.corrects_id) == (
        "SB-000002",
        "261",
        "credit_note",
        invoice_receipt.pk,
    )
    assert note.content["corrects"] == {"number": "SB-000001", "issue_date": invoice_receipt.issue_date.isoformat()}
    assert note.content["notes"][:2] == [
        "Self-billing",
        "Self-billed credit note cancelling SB-000001: Stripe reversed transfer tr_123",
    ]
    with transaction.atomic():
        assert receipt_credit_note_issue(disbursement=disbursement, reason="again").pk == note.pk

    rendered = receipt_render(receipt_id=note.pk)
    assert (rendered.status, rendered.validation_errors) == ("rendered", [])
    names = sorted(DataRoomObject.objects.filter(receipt=note).values_list("name", flat=True))
    assert names == ["SB-000002.cii.xml", "SB-000002.pdf", "SB-000002.ubl.xml"]
    ubl = dataroom.get(DataRoomObject.objects.get(receipt=note, name="SB-000002.ubl.xml").storage_key)
    assert b"<cbc:CreditNoteTypeCode>261</cbc:CreditNoteTypeCode>" in ubl
    assert b"<cbc:ID>SB-000001</cbc:ID>" in ubl
    assert Receipt.objects.filter(pk=invoice_receipt.pk).values().get() == before


def test_a_rail_reversal_numbers_the_credit_note_in_its_transaction(billing, dataroom):
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing), reference="tr_1Reversed")
    reason = "transfer_reversed: Stripe reversed transfer tr_1Reversed"

    disbursement_reverse(disbursement=disbursement, reason=reason, key=f"disbursement:{disbursement.pk}:reverse:tr")
    disbursement_reverse(disbursement=disbursement, reason=reason, key=f"disbursement:{disbursement.pk}:reverse:tr")

    rows = list(Receipt.objects.order_by("sequence").values_list("number", "type_code", "transaction_id", "reason"))
    assert rows == [("SB-000001", "389", "tr_1Reversed", ""), ("SB-000002", "261", "tr_1Reversed", reason)]
    note = Receipt.objects.get(type_code="261")
    reversals = list(
        Transfer.objects.filter(disbursement_id=disbursement.pk, code="REVERSE").values_list("id", flat=True)
    )
    assert reversals
    assert set(reversals) <= set(note.ledger_transfer_ids)
    ids = [str(pk) for pk in Receipt.objects.order_by("sequence").values_list("pk", flat=True)]
    jobs = ProcrastinateJob.objects.filter(task_name="receipts.receipt.render", args__receipt_id__in=ids)
    assert [job.args["receipt_id"] for job in jobs.order_by("id")] == ids
