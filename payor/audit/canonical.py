"""What an audit event's hash covers, exactly (enough to re-implement it outside Payor).

Every event has a gapless ``seq`` (1, 2, 3, ...), the ``prev_hash`` of the
event before it (for event 1, the genesis hash: 64 ``"0"`` characters) and

    hash = lowercase hex of SHA-256( prev_hash_ascii || canonical_json_utf8 )

where ``prev_hash_ascii`` is the 64 lowercase hex characters of ``prev_hash``
as ASCII bytes (not the 32 raw bytes) and ``canonical_json_utf8`` is the
canonical JSON of this object, with exactly these twelve keys:

=============  ================================================================
key            value
=============  ================================================================
seq            the sequence number, a JSON integer
occurred_at    UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always 6 decimals)
actor_id       the acting user's UUID as a lowercase hyphenated string, or null
actor_label    who acted, as shown at the time: the user's email, ``system``...
action         dotted action, e.g. ``invoice.approved``
subject_type   what was acted on, e.g. ``invoices.invoice``
subject_id     its id, a string
project_id     the project's UUID (lowercase hyphenated string) or null
before         the state before, a JSON value or null
after          the state after, a JSON value or null
request_id     the HTTP request id (``X-Request-ID``) or null
ip             the client address or null: IPv4 dotted quad; IPv6 lowercase,
               compressed as RFC 5952; IPv4-mapped IPv6 unwrapped to IPv4
=============  ================================================================

Canonical JSON here means Python's ``json.dumps(obj, sort_keys=True,
separators=(",", ":"), ensure_ascii=False, allow_nan=False)`` encoded as UTF-8:
object keys sorted by Unicode code point at every level, no whitespace at all,
non-ASCII characters written as themselves (UTF-8). Inside strings only these
are escaped: ``\\"`` and ``\\\\``; ``\\b \\f \\n \\r \\t``; every other character
below U+0020 as ``\\u00xx`` with lowercase hex (``/``, U+007F and U+2028 are
written as themselves). There are no floating-point numbers anywhere (they are
refused, see below), so every number is an integer in plain decimal digits.

``before``/``after`` are stored exactly as hashed (JSON, so an auditor reads
them back unchanged). :func:`json_safe` turns what services pass into JSON:

* ``Money`` -> ``{"amount": "1234.50", "currency": "USD"}`` (amount with the
  currency's exact number of decimals);
* ``Decimal`` -> its ``str()`` (``"1.10"`` keeps its scale); ``UUID`` -> lowercase
  hyphenated string; aware ``datetime`` -> UTC in the ``occurred_at`` format;
  ``date`` -> ``YYYY-MM-DD``; enums (Django choices) -> their value;
  tuples -> lists; mappings -> objects (keys must be strings).
* Refused with ``audit_value_invalid``: ``float`` (money is never a float and a
  float's JSON text is not stable enough to hash: pass ``Decimal``, ``Money``
  or a string), naive datetimes, non-string keys, strings containing NUL
  (PostgreSQL's jsonb cannot store them), sets and any other type (pass ids,
  not model instances).

An export line (``payor audit export --format jsonl``) is the canonical JSON of
the same twelve keys plus ``prev_hash`` and ``hash``: drop those two keys,
re-serialise canonically, and the formula above must give ``hash``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, TypeAlias

from payor.audit.errors import AuditEventInvalid
from payor.core.money import Money

JSONValue: TypeAlias = bool | int | str | list["JSONValue"] | dict[str, "JSONValue"] | None

GENESIS_HASH: Final = "0" * 64
HASH_RE: Final = re.compile(r"[0-9a-f]{64}")
ACTION_RE: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")

#: The keys of the hashed object, in the order exports list them.
EVENT_KEYS: Final = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "subject_type",
    "subject_id",
    "project_id",
    "before",
    "after",
    "request_id",
    "ip",
)

#: An exported (or stored) event: the hashed keys plus the two hashes.
EXPORT_KEYS: Final = (*EVENT_KEYS, "prev_hash", "hash")


def _invalid(path: str, reason: str) -> AuditEventInvalid:
    return AuditEventInvalid(f"{path}: {reason}", code="audit_value_invalid", field=path)


def format_timestamp(value: dt.datetime) -> str:
    """``2026-03-01T09:30:00.000000Z``: UTC, always six decimals. Naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise _invalid("datetime", f"naive datetime {value.isoformat()} (use an aware datetime)")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize_ip(value: object) -> str | None:
    """The canonical text of an IP address, or None when there is none (or it is not an address)."""
    if value is None or value == "":
        return None
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.scope_id is not None:  # fe80::1%eth0: PostgreSQL's inet cannot store a zone
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return str(address)


def json_safe(value: Any, path: str = "value") -> JSONValue:
    """``value`` as plain JSON data that hashes the same before and after a trip through jsonb."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        raise _invalid(path, "floats are not accepted in audit values (use Decimal, Money or a string)")
    if isinstance(value, enum.Enum):
        return json_safe(value.value, path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise _invalid(path, "strings cannot contain NUL characters")
        return str.__str__(value)
    if isinstance(value, Money):
        return {"amount": value.amount_str(), "currency": value.code}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _invalid(path, f"naive datetime {value.isoformat()} (use an aware datetime)")
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_safe(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        result: dict[str, JSONValue] = {}
        for raw_key, item in value.items():
            key = raw_key.value if isinstance(raw_key, enum.Enum) else raw_key
            if not isinstance(key, str):
                raise _invalid(path, f"object keys must be strings, got {type(key).__name__} {key!r}")
            if "\x00" in key:
                raise _invalid(path, "object keys cannot contain NUL characters")
            result[str.__str__(key)] = json_safe(item, f"{path}.{key}")
        return result
    raise _invalid(path, f"{type(value).__name__} cannot be recorded (convert it to JSON data: ids, not objects)")


def canonical_json(value: JSONValue) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN (see the module docstring)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
            "utf-8"
        )
    except UnicodeEncodeError as exc:
        raise _invalid("event", "text is not valid Unicode (lone surrogate)") from exc


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """``sha256(prev_hash as 64 ASCII hex characters || canonical JSON bytes)`` as lowercase hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def event_payload(
    *,
    seq: int,
    occurred_at: dt.datetime,
    actor_id: uuid.UUID | str | None,
    actor_label: str,
    action: str,
    subject_type: str,
    subject_id: str,
    project_id: uuid.UUID | str | None,
    before: JSONValue,
    after: JSONValue,
    request_id: str | None,
    ip: str | None,
) -> dict[str, JSONValue]:
    """The object whose canonical JSON is hashed, from an event's stored fields."""
    return {
        "seq": seq,
        "occurred_at": format_timestamp(occurred_at),
        "actor_id": None if actor_id is None else str(uuid.UUID(str(actor_id))),
        "actor_label": actor_label,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "project_id": None if project_id is None else str(uuid.UUID(str(project_id))),
        "before": before,
        "after": after,
        "request_id": request_id,
        "ip": normalize_ip(ip),
    }


def payload_hash(prev_hash: str, payload: dict[str, JSONValue]) -> str:
    return chain_hash(prev_hash, canonical_json(payload))
