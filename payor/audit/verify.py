"""Recompute the audit chain and name the first broken event (``payor audit verify``).

Walks every event in seq order (streamed from a server-side cursor, so the log
never has to fit in memory) and checks, for each one:

1. its seq is the previous one plus 1, starting at 1 ("sequence gap": an event
   was deleted; "duplicate seq");
2. its ``prev_hash`` is the previous event's ``hash`` (the genesis hash for
   event 1): otherwise an event was deleted, inserted or reordered;
3. its ``hash`` is the recomputation (:mod:`payor.audit.canonical`): otherwise
   its content was edited.

The chain alone cannot tell that its newest events were removed or that the
whole tail was rewritten consistently. Anchors close that gap: keep the
``last hash`` printed by an earlier verify (or exported) somewhere the database
administrator cannot write, and pass it back as ``--anchor SEQ:HASH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from payor.audit.canonical import EXPORT_KEYS, GENESIS_HASH, event_payload, payload_hash
from payor.audit.models import AuditEvent

CHUNK = 5000


@dataclass
class AuditVerifyReport:
    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _fail(report: AuditVerifyReport, seq: int, problem: str) -> AuditVerifyReport:
    report.broken_seq = seq
    report.problem = problem
    return report


def audit_verify(*, anchors: Mapping[int, str] | None = None) -> AuditVerifyReport:
    """Check the whole chain; stop at the first broken event. ``anchors`` maps seqs to hashes known from before."""
    anchors = dict(anchors or {})
    report = AuditVerifyReport()
    rows = AuditEvent.objects.order_by("seq").values_list(*EXPORT_KEYS).iterator(chunk_size=CHUNK)
    for row in rows:
        fields = dict(zip(EXPORT_KEYS, row, strict=True))
        seq: int = fields.pop("seq")
        prev_hash: str = fields.pop("prev_hash")
        stored_hash: str = fields.pop("hash")
        expected = report.last_seq + 1
        if seq > expected:
            missing = f"#{expected}" if seq == expected + 1 else f"#{expected}..#{seq - 1}"
            after = f" after #{report.last_seq}" if report.last_seq else " at the start"
            return _fail(report, seq, f"sequence gap{after}: {missing} missing (deleted)")
        if seq < expected:
            return _fail(report, seq, f"duplicate seq #{seq} (an event was inserted or copied)")
        if prev_hash != report.last_hash:
            if seq == 1:
                return _fail(report, seq, f"prev_hash {prev_hash} is not the genesis hash")
            return _fail(
                report,
                seq,
                f"prev_hash does not match event #{seq - 1} (deleted or reordered): "
                f"prev_hash {prev_hash}, event #{seq - 1} has hash {report.last_hash}",
            )
        computed = payload_hash(prev_hash, event_payload(seq=seq, **fields))
        if computed != stored_hash:
            return _fail(
                report,
                seq,
                f"hash mismatch (content edited): stored {stored_hash}, recomputed {computed}",
            )
        anchored = anchors.pop(seq, None)
        if anchored is not None and anchored != stored_hash:
            return _fail(report, seq, f"hash {stored_hash} differs from the anchor {anchored} (chain rewritten)")
        report.events += 1
        report.last_seq = seq
        report.last_hash = stored_hash
    if anchors:
        first_missing = min(anchors)
        return _fail(
            report, first_missing, f"anchored event is missing: the log ends at #{report.last_seq} (events removed)"
        )
    return report
