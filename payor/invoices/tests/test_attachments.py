"""Invoice attachments at service level: accepted types with their hash and a sanitized name; every refusal
(size, type, state, permission) stores no file and writes nothing."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from payor.core.errors import DomainError
from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceStatus
from payor.invoices.services import invoice_attachment_add, invoice_create
from payor.invoices.tests.conftest import FIN, PM, audit_actions, audit_mark, decide, full_state, grant
from payor.rbac.roles import ProjectRole
from payor.vendors.tests.conftest import pdf_bytes, png_bytes, stored_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

CSV_BYTES = b"item,description,hours\n1,Site preparation,12.5\n2,Live-stake planting,30\n"


@pytest.fixture
def invoice(billing) -> Invoice:
    return invoice_create(actor=billing.vendor_user, contract=billing.contract, data=billing.data())


def add(billing, invoice, content: bytes, filename: str, *, actor=None, description: str = ""):
    return invoice_attachment_add(
        actor=actor or billing.vendor_user,
        invoice=invoice,
        file=io.BytesIO(content),
        filename=filename,
        description=description,
    )


def refused(billing, media: Path, code: str, action) -> DomainError:
    before = (full_state(billing), stored_files(media))
    with pytest.raises(DomainError) as caught:
        action()
    assert caught.value.code == code, caught.value
    assert (full_state(billing), stored_files(media)) == before
    return caught.value


@pytest.mark.parametrize(
    ("content", "filename", "stored_name", "content_type", "extension"),
    [
        (pdf_bytes("October SOV"), "October SOV.pdf", "October SOV.pdf", "application/pdf", ".pdf"),
        (png_bytes(), "../../site photo.PNG", "site photo.png", "image/png", ".png"),
        (CSV_BYTES, "C:\\Users\\ap\\timesheet\u202e.csv", "timesheet.csv", "text/csv", ".csv"),
        # The bytes decide the type: a PDF named .exe is stored as a PDF, the misleading name kept visible.
        (pdf_bytes(), "invoice.exe", "invoice.exe.pdf", "application/pdf", ".pdf"),
    ],
    ids=["pdf", "png", "csv", "pdf named exe"],
)
def test_accepted_files_are_hashed_and_named_safely(
    billing, invoice, media, content, filename, stored_name, content_type, extension
):
    audit = audit_mark()
    attachment = add(billing, invoice, content, filename, description="  Supporting file ")
    assert attachment.original_filename == stored_name
    assert attachment.content_type == content_type
    assert attachment.size == len(content)
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.description == "Supporting file"
    assert attachment.uploaded_by == billing.vendor_user
    # Stored under the invoice, named after the attachment id and the detected type, never the client's name.
    assert attachment.file.name == f"invoices/{invoice.pk}/{attachment.pk}{extension}"
    assert (media / attachment.file.name).read_bytes() == content
    assert InvoiceAttachment.objects.get(pk=attachment.pk).sha256 == attachment.sha256
    assert audit_actions(audit) == ["invoice.attachment_added"]


def test_reviewers_who_code_invoices_add_files_at_every_open_stage(billing, invoice, media):
    people = billing.people
    draft = invoice_create(
        actor=billing.vendor_user, contract=billing.contract, data=billing.data(vendor_reference="D-1"), submit=False
    )
    add(billing, draft, pdf_bytes("draft"), "draft.pdf")
    add(billing, invoice, pdf_bytes("submitted"), "pm.pdf", actor=people["pm"])
    invoice = decide(billing, invoice, "pm", PM)
    assert invoice.status == InvoiceStatus.UNDER_REVIEW
    add(billing, invoice, CSV_BYTES, "fin.csv", actor=people["fin"])
    assert sorted(InvoiceAttachment.objects.values_list("original_filename", flat=True)) == [
        "draft.pdf",
        "fin.csv",
        "pm.pdf",
    ]
    assert len(stored_files(media / "invoices")) == 3


@pytest.mark.parametrize(
    ("content", "filename", "code"),
    [
        (b"", "empty.pdf", "file_empty"),
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64,
            "setup.exe",
            "file_type_not_allowed",
        ),
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64,
            "invoice.pdf",
            "file_type_not_allowed",
        ),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff", "photo.pdf", "file_type_not_allowed"),
        (b"Invoice total\x01\x02 1000.00\n", "notes.pdf", "file_type_not_allowed"),
        (b"\xff\xfe\x00\x00not utf-8", "notes.pdf", "file_type_not_allowed"),
    ],
    ids=["empty", "exe", "exe named pdf", "gif named pdf", "binary text named pdf", "not utf-8 named pdf"],
)
def test_bad_files_are_refused_and_nothing_is_stored(billing, invoice, media, content, filename, code):
    error = refused(billing, media, code, lambda: add(billing, invoice, content, filename))
    assert error.status == (422 if code == "file_empty" else 415)


def test_a_text_file_named_pdf_is_never_stored_as_a_pdf(billing, invoice, media):
    """Clean UTF-8 text is a CSV by content (the attachment types include CSV), so it is accepted — as text/csv
    with a .csv extension, the misleading name kept visible — never served as a PDF."""
    attachment = add(billing, invoice, b"Invoice total: 1000.00\n", "notes.pdf")
    assert (attachment.content_type, attachment.original_filename) == ("text/csv", "notes.pdf.csv")
    assert attachment.file.name.endswith(".csv")


def test_a_file_over_the_limit_is_refused(billing, invoice, media, settings):
    content = pdf_bytes("x" * 200)
    settings.PAYOR_UPLOAD_MAX_BYTES = len(content) - 1
    error = refused(billing, media, "file_too_large", lambda: add(billing, invoice, content, "big.pdf"))
    assert error.status == 413
    settings.PAYOR_UPLOAD_MAX_BYTES = len(content)  # exactly at the limit is fine
    assert add(billing, invoice, content, "big.pdf").size == len(content)


def test_attachments_are_refused_once_the_invoice_is_decided(billing, invoice, media):
    approved = decide(billing, decide(billing, invoice, "pm", PM), "fin", FIN)
    assert approved.status == InvoiceStatus.APPROVED
    for actor in (billing.vendor_user, billing.people["fin"]):
        refused(
            billing,
            media,
            "invoice_state_invalid",
            lambda actor=actor: add(billing, approved, pdf_bytes("late"), "late.pdf", actor=actor),
        )
    rejected = invoice_create(
        actor=billing.vendor_user, contract=billing.contract, data=billing.data(vendor_reference="R-1")
    )
    rejected = decide(billing, rejected, "pm", PM, "rejected", note="Out of scope")
    refused(billing, media, "invoice_state_invalid", lambda: add(billing, rejected, pdf_bytes("late"), "late.pdf"))


def test_only_the_vendor_and_reviewers_who_code_invoices_add_files(billing, invoice, media):
    world, people = billing.world, billing.people
    other_vendor_user = grant(world, "billing@other.test", ProjectRole.VENDOR)  # acts for a new vendor
    auditor = grant(world, "aud@example.test", ProjectRole.AUDITOR, limit=None)
    outsider = grant(world, "ben@example.test", ProjectRole.BENEFICIARY, limit=None)
    for actor in (people["tre"], people["dao1"], other_vendor_user, auditor, outsider):
        refused(
            billing,
            media,
            "permission_denied",
            lambda actor=actor: add(billing, invoice, pdf_bytes(), "sov.pdf", actor=actor),
        )
    # Permission is checked before the file is even read: an empty file from a stranger is a 403, not a 422.
    refused(billing, media, "permission_denied", lambda: add(billing, invoice, b"", "x.pdf", actor=outsider))
