"""Writing audit events out as JSONL or CSV (``payor audit export``), streamed in seq order.

Every field is exported, the hashes included, so an export can be checked
without database access:

* JSONL: one line per event, the canonical JSON (see
  :mod:`payor.audit.canonical`) of the twelve hashed keys plus ``prev_hash``
  and ``hash``. Remove those two keys, re-serialise canonically, and
  ``sha256(prev_hash || canonical)`` gives ``hash``.
* CSV: a header row, then one row per event, columns in the same order
  (``seq, occurred_at, actor_id, actor_label, action, subject_type, subject_id,
  project_id, before, after, request_id, ip, prev_hash, hash``). An empty cell
  is null; ``before``/``after`` hold their canonical JSON text.

``payor audit export`` writes to a file; the API and the web page stream the
same lines (:func:`export_chunks`) for the events the viewer may read.

A full export also checks the links (each ``prev_hash`` is the hash of the line
before); a filtered one (by project or date) skips events, so only each line's
own hash can be checked.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from django.db.models import QuerySet

from payor.audit.canonical import EXPORT_KEYS, JSONValue, canonical_json, event_payload
from payor.audit.errors import AuditFilterInvalid
from payor.audit.models import AuditEvent

CHUNK = 5000

ExportFormat = Literal["jsonl", "csv"]

#: Media type of each format, for HTTP downloads.
MEDIA_TYPES: dict[str, str] = {"jsonl": "application/jsonl; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def export_filename(fmt: ExportFormat, *, now: dt.datetime | None = None) -> str:
    """``payor-audit-20260302T093000Z.csv``: the download's name, stamped with the UTC time of the export."""
    moment = (now or dt.datetime.now(tz=dt.UTC)).astimezone(dt.UTC)
    return f"payor-audit-{moment:%Y%m%dT%H%M%SZ}.{fmt}"


def export_format(value: str | None, *, field: str = "format") -> ExportFormat:
    """``jsonl`` (the default when empty) or ``csv``; anything else is ``audit_export_format_invalid`` (422)."""
    text = (value or "jsonl").strip().lower()
    if text == "jsonl":
        return "jsonl"
    if text == "csv":
        return "csv"
    raise AuditFilterInvalid(
        f"{field}: {text[:40]!r} is not an export format (jsonl or csv)",
        code="audit_export_format_invalid",
        field=field,
    )


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def export_records(events: QuerySet[AuditEvent]) -> Iterator[dict[str, JSONValue]]:
    """Each event as its hashed object plus ``prev_hash`` and ``hash``, in seq order."""
    for row in events.order_by("seq").values_list(*EXPORT_KEYS).iterator(chunk_size=CHUNK):
        fields = dict(zip(EXPORT_KEYS, row, strict=True))
        prev_hash = fields.pop("prev_hash")
        stored_hash = fields.pop("hash")
        record = event_payload(**fields)
        record["prev_hash"] = prev_hash
        record["hash"] = stored_hash
        yield record


def _cell(key: str, value: JSONValue) -> str:
    if value is None:
        return ""
    if key in {"before", "after"}:
        return canonical_json(value).decode("utf-8")
    return str(value)


class _Echo:
    """A "file" whose write returns the text: lets ``csv.writer`` produce one row at a time."""

    def write(self, text: str, /) -> str:
        return text


def export_lines(events: QuerySet[AuditEvent], *, fmt: ExportFormat) -> Iterator[str]:
    """The export line by line (CSV: the header row first), each ending with its newline."""
    if fmt == "jsonl":
        for record in export_records(events):
            yield canonical_json(record).decode("utf-8") + "\n"
        return
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_KEYS)
    for record in export_records(events):
        yield writer.writerow([_cell(key, record[key]) for key in EXPORT_KEYS])


def export_chunks(events: QuerySet[AuditEvent], *, fmt: ExportFormat, size: int = 64 * 1024) -> Iterator[str]:
    """:func:`export_lines` joined into chunks of about ``size`` characters, for a streamed HTTP response."""
    chunk: list[str] = []
    length = 0
    for line in export_lines(events, fmt=fmt):
        chunk.append(line)
        length += len(line)
        if length >= size:
            yield "".join(chunk)
            chunk, length = [], 0
    if chunk:
        yield "".join(chunk)


def audit_export(events: QuerySet[AuditEvent], out: Writable, *, fmt: ExportFormat) -> int:
    """Write ``events`` to ``out``; return how many were written."""
    lines = export_lines(events, fmt=fmt)
    if fmt == "csv":
        out.write(next(lines))  # the header row
    count = 0
    for line in lines:
        out.write(line)
        count += 1
    return count
