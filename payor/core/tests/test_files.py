"""Upload validation: the type from the bytes, the size limit, the hash, the file name; storing a checked upload."""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import types
import zipfile
import zlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.db.models.fields.files import FieldFile
from hypothesis import given
from hypothesis import strategies as st

from payor.core.errors import DomainError
from payor.core.files import (
    ATTACHMENT_TYPES,
    CSV,
    DEFAULT_MAX_BYTES,
    DOCUMENT_TYPES,
    JPEG,
    PDF,
    PNG,
    XLSX,
    FileEmpty,
    FileTooLarge,
    FileTypeNotAllowed,
    filename_sanitize,
    stored_file_verified,
    upload_max_bytes,
    upload_store,
    upload_validate,
)

PDF_BYTES = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00" + b"\x00" * 32 + b"\xff\xd9"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def zip_bytes(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        for name in names:
            package.writestr(name, "<x/>")
    return buffer.getvalue()


XLSX_BYTES = zip_bytes("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/worksheets/sheet1.xml")
DOCX_BYTES = zip_bytes("[Content_Types].xml", "_rels/.rels", "word/document.xml")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PDF_BYTES, PDF),
        (b"%PDF-2.0\n" + b"x" * 10, PDF),
        (png_bytes(), PNG),
        (JPEG_BYTES, JPEG),
        (XLSX_BYTES, XLSX),
        (b"date,hours,rate\n2026-06-01,8,95.00\n", CSV),
        ("\ufeffname;montant\nÉlan;12,50\r\n".encode(), CSV),
    ],
)
def test_the_type_is_read_from_the_bytes(content, expected):
    checked = upload_validate(io.BytesIO(content), filename="upload.bin", allowed=ATTACHMENT_TYPES)
    assert checked.file_type == expected
    assert checked.content_type == expected.content_type
    assert checked.size == len(content)
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert checked.filename == f"upload.bin{expected.extension}"
    assert checked.file.read() == content  # rewound for storing


@pytest.mark.parametrize(
    ("content", "detected"),
    [
        (b"<!DOCTYPE html><script>alert(1)</script>", None),  # text, but CSV is not allowed for documents
        (b"MZ\x90\x00\x03" + b"\x00" * 64, None),  # a Windows executable
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, None),
        (b"GIF89a\x01\x00\x01\x00", None),
        (b"PDF-1.7 without the percent sign", None),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, None),  # a PNG signature without its IHDR chunk
        (DOCX_BYTES, None),  # a ZIP, but not a spreadsheet
        (XLSX_BYTES, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (b"a,b\n1,2\n", None),  # text is only examined where CSV is allowed
    ],
)
def test_documents_accept_only_pdf_png_jpeg(content, detected):
    with pytest.raises(FileTypeNotAllowed) as refused:
        upload_validate(io.BytesIO(content), filename="w9.pdf", allowed=DOCUMENT_TYPES)
    assert (refused.value.code, refused.value.status) == ("file_type_not_allowed", 415)
    assert refused.value.extra["allowed"] == ["application/pdf", "image/png", "image/jpeg"]
    assert refused.value.extra["detected"] == detected


def test_the_clients_content_type_and_extension_are_ignored():
    spoofed = SimpleUploadedFile("invoice.pdf", b"<html>not a pdf</html>", content_type="application/pdf")
    with pytest.raises(FileTypeNotAllowed):
        upload_validate(spoofed)
    honest = SimpleUploadedFile("invoice.exe", PDF_BYTES, content_type="application/x-msdownload")
    checked = upload_validate(honest)
    assert (checked.content_type, checked.filename) == ("application/pdf", "invoice.exe.pdf")


@pytest.mark.parametrize(
    "content",
    [b"a,b\x00c\n", b"\xff\xfe\x00a", b"a,b\x1b[31m\n", b"   \n\n"],
    ids=["nul", "not-utf8", "escape", "blank"],
)
def test_text_that_is_not_clean_csv_is_refused(content):
    with pytest.raises(FileTypeNotAllowed):
        upload_validate(io.BytesIO(content), allowed=(CSV,))


def test_an_empty_file_is_refused():
    with pytest.raises(FileEmpty) as refused:
        upload_validate(io.BytesIO(b""), filename="empty.pdf")
    assert (refused.value.code, refused.value.status) == ("file_empty", 422)


class CountingReader(io.BytesIO):
    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def test_the_size_limit_stops_reading_early():
    big = CountingReader(PDF_BYTES + b"0" * (5 * 1024 * 1024))
    with pytest.raises(FileTooLarge) as refused:
        upload_validate(big, max_bytes=1024 * 1024)
    assert (refused.value.code, refused.value.status) == ("file_too_large", 413)
    assert refused.value.extra == {"max_bytes": 1024 * 1024, "max_size": "1 MiB"}
    assert big.read_bytes <= 1024 * 1024 + 64 * 1024
    exactly = PDF_BYTES + b"0" * (1024 - len(PDF_BYTES))
    assert upload_validate(io.BytesIO(exactly), max_bytes=1024).size == 1024


def test_the_limit_comes_from_the_setting_or_the_environment(settings, monkeypatch):
    monkeypatch.delenv("PAYOR_UPLOAD_MAX_BYTES", raising=False)
    assert upload_max_bytes() == DEFAULT_MAX_BYTES == 20 * 1024 * 1024
    monkeypatch.setenv("PAYOR_UPLOAD_MAX_BYTES", "5242880")
    assert upload_max_bytes() == 5 * 1024 * 1024
    settings.PAYOR_UPLOAD_MAX_BYTES = 100  # the setting wins
    assert upload_max_bytes() == 100
    with pytest.raises(FileTooLarge):
        upload_validate(io.BytesIO(PDF_BYTES + b"x" * 100))
    for bad in ("20MB", 0, True):
        settings.PAYOR_UPLOAD_MAX_BYTES = bad
        with pytest.raises(ImproperlyConfigured):
            upload_max_bytes()
    del settings.PAYOR_UPLOAD_MAX_BYTES
    monkeypatch.setenv("PAYOR_UPLOAD_MAX_BYTES", "lots")
    with pytest.raises(ImproperlyConfigured):
        upload_max_bytes()


def test_the_allow_list_is_the_callers():
    with pytest.raises(FileTypeNotAllowed):
        upload_validate(io.BytesIO(png_bytes()), allowed=(PDF,))
    with pytest.raises(ValueError, match="at least one"):
        upload_validate(io.BytesIO(PDF_BYTES), allowed=())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("W-9 2026.pdf", "W-9 2026.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\vera\\Desktop\\coi.PDF", "coi.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe.pdf"),  # the right-to-left override is dropped
        ("a\x00b.pdf", "ab.pdf"),
        ("...pdf", "pdf.pdf"),
        (".htaccess", "htaccess.pdf"),
        ("CON.pdf", "CON_upload.pdf"),
        ('bad<>:"|?*.pdf', "bad_______.pdf"),
        ("  spaced \t out  .pdf", "spaced out.pdf"),
        ("", "upload.pdf"),
        (None, "upload.pdf"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
        ("Überweisung.pdf", "Überweisung.pdf"),
    ],
)
def test_file_names_are_sanitized(name, expected):
    assert filename_sanitize(name, file_type=PDF) == expected


def test_jpeg_keeps_either_extension():
    assert filename_sanitize("photo.jpeg", file_type=JPEG) == "photo.jpeg"
    assert filename_sanitize("photo.JPG", file_type=JPEG) == "photo.jpg"
    assert filename_sanitize("photo.png", file_type=JPEG) == "photo.png.jpg"


@given(st.text(max_size=400))
def test_any_name_sanitizes_to_something_safe(name):
    safe = filename_sanitize(name, file_type=PDF)
    assert 5 <= len(safe) <= 120
    assert safe.endswith(".pdf")
    assert "/" not in safe
    assert "\\" not in safe
    assert not safe.startswith((".", " "))
    assert all(ord(ch) >= 32 and ch not in "\u202e\u200f" for ch in safe)


class StoreUnavailable(DomainError):
    code = "test_store_unavailable"
    status = 503


def field_file(location) -> FieldFile:
    """An unsaved model file field on a file-system storage at ``location`` that stores under ``things/``."""
    field = models.FileField(
        storage=FileSystemStorage(location=str(location)), upload_to=lambda _, name: f"things/{name}"
    )
    field.set_attributes_from_name("file")
    return FieldFile(types.SimpleNamespace(file=None), field, None)


def test_a_checked_upload_is_stored_under_the_stem_and_detected_extension(tmp_path):
    checked = upload_validate(io.BytesIO(PDF_BYTES), filename="claim.exe", allowed=ATTACHMENT_TYPES)
    stored = field_file(tmp_path)

    upload_store(stored, checked, name_stem="0190abcd", unavailable=StoreUnavailable, what="test file")

    assert stored.name == "things/0190abcd.pdf"
    assert stored.instance.file == "things/0190abcd.pdf"
    assert (tmp_path / "things" / "0190abcd.pdf").read_bytes() == PDF_BYTES


def test_a_storage_failure_is_logged_and_raised_as_the_callers_error(tmp_path, caplog):
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"a file where the storage needs a folder")
    checked = upload_validate(io.BytesIO(PDF_BYTES), filename="claim.pdf", allowed=ATTACHMENT_TYPES)

    with caplog.at_level(logging.ERROR, logger="payor.core.files"), pytest.raises(StoreUnavailable) as raised:
        upload_store(field_file(blocked), checked, name_stem="0190abcd", unavailable=StoreUnavailable, what="test file")

    assert isinstance(raised.value.__cause__, OSError)
    assert [record.getMessage() for record in caplog.records] == [
        f"test file 0190abcd could not be stored: {raised.value.__cause__}"
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["blocked"]
    assert blocked.read_bytes() == b"a file where the storage needs a folder"


class StoredFileAltered(DomainError):
    code = "test_stored_file_altered"
    status = 409


def test_a_stored_file_is_opened_only_while_it_matches_its_recorded_sha256(tmp_path, caplog):
    checked = upload_validate(io.BytesIO(PDF_BYTES), filename="claim.pdf", allowed=ATTACHMENT_TYPES)
    stored = field_file(tmp_path)
    upload_store(stored, checked, name_stem="0190abcd", unavailable=StoreUnavailable, what="test file")
    recorded = hashlib.sha256(PDF_BYTES).hexdigest()

    with stored_file_verified(stored, sha256=recorded, failed=StoredFileAltered, what="test file 0190abcd") as handle:
        assert handle.read() == PDF_BYTES

    (tmp_path / "things" / "0190abcd.pdf").write_bytes(PDF_BYTES + b"%")
    with caplog.at_level(logging.ERROR, logger="payor.core.files"), pytest.raises(StoredFileAltered) as altered:
        stored_file_verified(
            stored, sha256=recorded, failed=StoredFileAltered, what="test file 0190abcd", mismatch_detail="changed"
        )
    assert altered.value.detail == "changed"

    (tmp_path / "things" / "0190abcd.pdf").unlink()
    with caplog.at_level(logging.ERROR, logger="payor.core.files"), pytest.raises(StoredFileAltered) as missing:
        stored_file_verified(stored, sha256=recorded, failed=StoredFileAltered, what="test file 0190abcd")
    assert missing.value.detail == "The stored file cannot be read"
    assert isinstance(missing.value.__cause__, OSError)
    assert [record.getMessage() for record in caplog.records] == [
        "test file 0190abcd: stored file things/0190abcd.pdf does not match its SHA-256",
        f"test file 0190abcd: stored file things/0190abcd.pdf cannot be read: {missing.value.__cause__}",
    ]
