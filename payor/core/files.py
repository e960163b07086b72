"""Checking uploaded files before anything is stored: one function for every upload of Payor.

::

    from payor.core.files import DOCUMENT_TYPES, upload_validate

    checked = upload_validate(uploaded_file, filename=uploaded_file.name, allowed=DOCUMENT_TYPES)
    storage.save(f"vendors/{vendor.pk}/{document.pk}{checked.file_type.extension}", checked.file)

A model's ``FileField`` takes the checked file with :func:`upload_store` (named ``<pk><extension>``; a storage
failure is logged and raised as the caller's 503 error).

:func:`upload_validate` reads the file once, in chunks, and

* refuses an empty file (``file_empty``, 422) and a file over the limit
  (``file_too_large``, 413): ``max_bytes``, else ``PAYOR_UPLOAD_MAX_BYTES`` (the
  setting or the environment variable; default 20 MiB); it stops reading as
  soon as the limit is passed;
* decides the type from the file's own bytes (magic numbers), never from the
  client's ``Content-Type`` header or the file name, and refuses a type outside
  the caller's allow-list (``file_type_not_allowed``, 415);
* computes the SHA-256 while streaming;
* returns a sanitized file name whose extension is the detected type's
  (``invoice.exe`` holding a PDF becomes ``invoice.exe.pdf``), and rewinds the file.

Detection is written by hand rather than with a library: the allow-list is a
handful of formats whose signatures are fixed by their specifications, and the
checks here are stricter than a general-purpose sniffer's (a PNG must start
with its IHDR chunk, an XLSX must be a ZIP holding ``[Content_Types].xml`` and
``xl/workbook.xml``, a CSV must be clean UTF-8 text). Each type is a
:class:`FileType`; callers pass the tuple they accept (:data:`DOCUMENT_TYPES`
for compliance documents, :data:`ATTACHMENT_TYPES` for invoice attachments).
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Final

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.db.models.fields.files import FieldFile

from payor.config.env import env_int
from payor.core.errors import DomainError

__all__ = [
    "ATTACHMENT_TYPES",
    "CSV",
    "DEFAULT_MAX_BYTES",
    "DOCUMENT_TYPES",
    "JPEG",
    "PDF",
    "PNG",
    "XLSX",
    "FileEmpty",
    "FileTooLarge",
    "FileType",
    "FileTypeNotAllowed",
    "ValidatedUpload",
    "filename_sanitize",
    "stored_file_open",
    "stored_file_verified",
    "upload_max_bytes",
    "upload_store",
    "upload_validate",
]

logger = logging.getLogger(__name__)

#: The default size limit of an upload: 20 MiB (setting ``PAYOR_UPLOAD_MAX_BYTES``).
DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
CHUNK_BYTES: Final = 64 * 1024
#: How much of the start of a file the signature checks look at.
HEAD_BYTES: Final = 4096
FILENAME_MAX: Final = 120
DEFAULT_STEM: Final = "upload"


class FileEmpty(DomainError):
    code = "file_empty"
    status = 422
    title = "The file is empty"


class FileTooLarge(DomainError):
    code = "file_too_large"
    status = 413
    title = "The file is larger than the upload limit"


class FileTypeNotAllowed(DomainError):
    code = "file_type_not_allowed"
    status = 415
    title = "This type of file is not accepted here"


# --------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileType:
    """A format Payor can recognise from its bytes."""

    name: str  # short and stable: "pdf", "png"...
    content_type: str
    extension: str  # canonical, with the dot
    other_extensions: tuple[str, ...] = ()

    @property
    def extensions(self) -> tuple[str, ...]:
        return (self.extension, *self.other_extensions)


PDF: Final = FileType("pdf", "application/pdf", ".pdf")
PNG: Final = FileType("png", "image/png", ".png")
JPEG: Final = FileType("jpeg", "image/jpeg", ".jpg", (".jpeg",))
CSV: Final = FileType("csv", "text/csv", ".csv")
XLSX: Final = FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx")

#: Scans and signed forms: W-9/W-8, certificates of insurance.
DOCUMENT_TYPES: Final[tuple[FileType, ...]] = (PDF, PNG, JPEG)
#: Invoice attachments: documents plus timesheets and schedules of values.
ATTACHMENT_TYPES: Final[tuple[FileType, ...]] = (PDF, PNG, JPEG, CSV, XLSX)

_PDF_HEAD = re.compile(rb"%PDF-[12]\.[0-9]")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"


def _is_pdf(head: bytes, file: IO[bytes]) -> bool:
    # ISO 32000: the header line "%PDF-1.n" or "%PDF-2.n" starts the file.
    return _PDF_HEAD.match(head) is not None


def _is_png(head: bytes, file: IO[bytes]) -> bool:
    # The 8-byte signature, then the IHDR chunk (length 13) that must come first.
    return head.startswith(_PNG_SIGNATURE) and head[8:16] == b"\x00\x00\x00\x0dIHDR"


def _is_jpeg(head: bytes, file: IO[bytes]) -> bool:
    # SOI (FF D8) followed by the first marker segment (FF xx, xx not FF).
    return len(head) >= 4 and head[:3] == b"\xff\xd8\xff" and head[3] != 0xFF


def _is_xlsx(head: bytes, file: IO[bytes]) -> bool:
    # An OOXML spreadsheet is a ZIP package with a content-types part and a workbook part. Only the central
    # directory is read: nothing is decompressed.
    if not head.startswith(_ZIP_SIGNATURE):
        return False
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as package:
            names = set(package.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    finally:
        file.seek(0)
    return "[Content_Types].xml" in names and "xl/workbook.xml" in names


_SIGNATURES: Final[dict[FileType, Callable[[bytes, IO[bytes]], bool]]] = {
    PDF: _is_pdf,
    PNG: _is_png,
    JPEG: _is_jpeg,
    XLSX: _is_xlsx,
}


class _TextCheck:
    """Incremental check that a stream is UTF-8 text (optional BOM) without NUL or control characters but tab/CR/LF."""

    _FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.ok = True
        self.seen_text = False

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        if not self.ok:
            return
        try:
            text = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.ok = False
            return
        if self._FORBIDDEN.search(text):
            self.ok = False
        elif text.strip():
            self.seen_text = True


# --------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------

_WINDOWS_RESERVED = re.compile(r'[<>:"/\\|?*]')
_RESERVED_STEMS: Final = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)


def filename_sanitize(name: str | None, *, file_type: FileType | None = None, max_length: int = FILENAME_MAX) -> str:
    """A file name safe to show, store and send back in ``Content-Disposition``.

    Keeps the last path component only (``/`` and ``\\`` both count), drops control and format characters (NUL,
    bidi overrides such as U+202E), replaces characters Windows forbids with ``_``, collapses white space, strips
    leading and trailing dots and spaces (no ``..``, no hidden ``.htaccess``), avoids Windows device names and
    truncates to ``max_length`` characters, keeping the extension. With ``file_type`` the extension is the type's
    (its canonical one unless the name already ends with one of the type's extensions).
    """
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = _WINDOWS_RESERVED.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    ext = f".{ext.lower()}" if ext else ""
    if file_type is not None and ext not in file_type.extensions:
        # The detected type decides the extension; a misleading one stays visible in the stem (report.pdf.png).
        stem, ext = (f"{stem}{ext}" if stem else ext.lstrip(".")), file_type.extension
    stem = stem.strip(" .")
    if not stem or stem.lower() in _RESERVED_STEMS:
        stem = f"{stem}_{DEFAULT_STEM}" if stem else DEFAULT_STEM
    room = max(1, max_length - len(ext))
    return f"{stem[:room].rstrip(' .') or DEFAULT_STEM}{ext}"


STORED_READ_CHUNK: Final = 64 * 1024

# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidatedUpload:
    """What :func:`upload_validate` learnt; ``file`` is rewound, ready to be stored."""

    file: IO[bytes]
    filename: str
    file_type: FileType
    size: int
    sha256: str

    @property
    def content_type(self) -> str:
        return self.file_type.content_type


def upload_max_bytes() -> int:
    """The limit in bytes: the ``PAYOR_UPLOAD_MAX_BYTES`` setting, else the environment variable, else 20 MiB.

    Read when used (tests override the setting); a value that is not a positive integer is ``ImproperlyConfigured``.
    """
    value = getattr(settings, "PAYOR_UPLOAD_MAX_BYTES", None)
    if value is None:
        value = env_int("PAYOR_UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ImproperlyConfigured(f"PAYOR_UPLOAD_MAX_BYTES must be a positive number of bytes, got {value!r}")
    return value


def _size_text(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def _allowed_names(allowed: tuple[FileType, ...]) -> str:
    return ", ".join(file_type.name.upper() for file_type in allowed)


def upload_validate(
    file: IO[bytes] | Any,
    *,
    filename: str | None = None,
    allowed: Iterable[FileType] = DOCUMENT_TYPES,
    max_bytes: int | None = None,
) -> ValidatedUpload:
    """Check ``file`` (any seekable binary file: Django's ``UploadedFile``, ``File``, ``BytesIO``).

    Raises ``FileEmpty`` (422 ``file_empty``), ``FileTooLarge`` (413 ``file_too_large``, with ``max_bytes``) or
    ``FileTypeNotAllowed`` (415 ``file_type_not_allowed``, with ``allowed`` content types). ``filename`` is the
    client's name for the file (only shown, never trusted); by default ``file.name``.
    """
    types = tuple(dict.fromkeys(allowed))
    if not types:
        raise ValueError("allowed must name at least one FileType")
    limit = upload_max_bytes() if max_bytes is None else max_bytes
    if filename is None:
        filename = getattr(file, "name", None)
    file.seek(0)

    digest = hashlib.sha256()
    head = b""
    size = 0
    text = _TextCheck() if CSV in types else None
    while True:
        chunk = file.read(CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            file.seek(0)
            raise FileTooLarge(
                f"The file is larger than {_size_text(limit)}", max_bytes=limit, max_size=_size_text(limit)
            )
        digest.update(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        if text is not None:
            text.feed(chunk)
    if text is not None:
        text.feed(b"", final=True)
    file.seek(0)
    if size == 0:
        raise FileEmpty("The file is empty (0 bytes)")

    detected: FileType | None = None
    for file_type, matches in _SIGNATURES.items():
        if matches(head, file):
            detected = file_type
            break
    if detected is None and text is not None and text.ok and text.seen_text:
        detected = CSV
    file.seek(0)
    if detected is None or detected not in types:
        what = "an unrecognised format" if detected is None else detected.name.upper()
        raise FileTypeNotAllowed(
            f"The file's content is {what}; accepted here: {_allowed_names(types)}",
            allowed=[file_type.content_type for file_type in types],
            detected=None if detected is None else detected.content_type,
        )
    return ValidatedUpload(
        file=file,
        filename=filename_sanitize(filename, file_type=detected),
        file_type=detected,
        size=size,
        sha256=digest.hexdigest(),
    )


def upload_store(
    field_file: FieldFile,
    checked: ValidatedUpload,
    *,
    name_stem: str,
    unavailable: type[DomainError],
    what: str,
) -> None:
    """Store a checked upload in ``field_file`` as ``<name_stem><detected extension>`` (the field's ``upload_to``
    decides the folder); the model row is not saved.

    ``OSError`` from the storage is logged as "``<what> <name_stem>`` could not be stored" and raised as
    ``unavailable`` (the caller's 503 error, e.g. ``invoice_storage_unavailable``). A caller that refuses later
    deletes the stored file again.
    """
    try:
        field_file.save(f"{name_stem}{checked.file_type.extension}", File(checked.file), save=False)
    except OSError as exc:
        logger.error("%s %s could not be stored: %s", what, name_stem, exc)
        raise unavailable() from exc


def stored_file_verified(
    file: FieldFile,
    *,
    sha256: str,
    failed: type[DomainError],
    what: str,
    mismatch_detail: str | None = None,
) -> IO[bytes]:
    """Open a stored upload for a download, checked against the SHA-256 recorded at upload: the handle, rewound
    (the caller closes it). A file the storage cannot read, or whose bytes changed, is logged as an error
    ("``<what>``: stored file ... cannot be read" / "does not match its SHA-256") and raised as ``failed`` (the
    caller's 409, e.g. ``invoice_attachment_integrity_failed``)."""
    try:
        handle, digest = stored_file_open(file)
    except OSError as exc:
        logger.error("%s: stored file %s cannot be read: %s", what, file.name, exc)
        raise failed("The stored file cannot be read") from exc
    if digest != sha256:
        handle.close()
        logger.error("%s: stored file %s does not match its SHA-256", what, file.name)
        raise failed(mismatch_detail)
    return handle


def stored_file_open(file: FieldFile) -> tuple[IO[bytes], str]:
    """Open a stored upload for reading and hash it: ``(handle rewound to the start, sha256 hex)``.

    For downloads that check a file against the digest recorded at upload (the caller compares and closes the
    handle). ``OSError`` when the storage cannot open or read it.
    """
    handle = file.storage.open(str(file.name), "rb")
    digest = hashlib.sha256()
    try:
        while chunk := handle.read(STORED_READ_CHUNK):
            digest.update(chunk)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle, digest.hexdigest()
