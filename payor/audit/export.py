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

A full export also checks the links (each ``prev_hash`` is the hash of the line
before); a filtered one (by project or date) skips events, so only each line's
own hash can be checked.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from django.db.models import QuerySet

from payor.audit.canonical import EXPORT_KEYS, JSONValue, canonical_json, event_payload
from payor.audit.models import AuditEvent

CHUNK = 5000

ExportFormat = Literal["jsonl", "csv"]


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


def audit_export(events: QuerySet[AuditEvent], out: Writable, *, fmt: ExportFormat) -> int:
    """Write ``events`` to ``out``; return how many were written."""
    count = 0
    if fmt == "jsonl":
        for record in export_records(events):
            out.write(canonical_json(record).decode("utf-8") + "\n")
            count += 1
        return count
    writer = csv.writer(out)
    writer.writerow(EXPORT_KEYS)
    for record in export_records(events):
        writer.writerow([_cell(key, record[key]) for key in EXPORT_KEYS])
        count += 1
    return count
