"""With the trigger bypassed by a superuser, any edit, deletion or reordering is named by verify."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payor.audit.canonical import payload_hash
from payor.audit.models import AuditEvent
from payor.audit.services import audit_record
from payor.audit.tests.conftest import tamper
from payor.audit.verify import audit_verify
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain() -> list[AuditEvent]:
    """Five events: #1..#5."""
    user = UserFactory(email="approver@example.test", password=None)  # no password: skip scrypt
    project = ProjectFactory()
    return [
        audit_record(
            actor=user if seq % 2 else None,
            action="invoice.approved",
            subject_type="invoices.invoice",
            subject_id=f"inv-{seq}",
            before={"status": "submitted"},
            after={"status": "approved", "seq": seq},
            project_id=project.pk,
        )
        for seq in range(1, 6)
    ]


def verify_failure() -> tuple[int | None, str]:
    report = audit_verify()
    assert not report.ok
    return report.broken_seq, report.problem


def test_an_untouched_chain_verifies(chain):
    report = audit_verify()
    assert (report.ok, report.events, report.last_seq, report.last_hash, report.problem) == (
        True,
        5,
        5,
        chain[-1].hash,
        None,
    )


@pytest.mark.parametrize("seq", [1, 2, 3, 4, 5])
def test_editing_any_event_names_it(chain, seq):
    tamper("""UPDATE audit_auditevent SET after = '{"status": "paid", "seq": 0}' WHERE seq = %s""", [seq])
    broken, problem = verify_failure()
    assert broken == seq
    assert problem.startswith(f"hash mismatch (content edited): stored {chain[seq - 1].hash}, recomputed ")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_label", "'mallory@example.test'"),
        ("actor_id", "NULL"),
        ("occurred_at", "occurred_at + interval '1 microsecond'"),
        ("action", "'invoice.rejected'"),
        ("subject_id", "'inv-99'"),
        ("project_id", "NULL"),
        ("before", "NULL"),
        ("request_id", "'req-forged'"),
        ("ip", "'203.0.113.9'"),
        ("hash", "repeat('a', 64)"),
    ],
)
def test_editing_any_field_names_the_event(chain, column, value):
    tamper(f"UPDATE audit_auditevent SET {column} = {value} WHERE seq = 3")  # noqa: S608 - test literals
    broken, problem = verify_failure()
    assert broken == 3
    assert problem.startswith("hash mismatch (content edited)")


def test_editing_an_event_and_recomputing_its_hash_names_the_next_one(chain):
    tamper("""UPDATE audit_auditevent SET after = '{"status": "paid"}' WHERE seq = 3""")
    edited = AuditEvent.objects.get(seq=3)
    tamper("UPDATE audit_auditevent SET hash = %s WHERE seq = 3", [payload_hash(edited.prev_hash, edited.payload())])
    broken, problem = verify_failure()
    assert broken == 4
    assert problem.startswith("prev_hash does not match event #3 (deleted or reordered)")


@pytest.mark.parametrize("seq", [1, 2, 3, 4])
def test_deleting_any_event_but_the_last_names_the_event_after_the_hole(chain, seq):
    tamper("DELETE FROM audit_auditevent WHERE seq = %s", [seq])
    broken, problem = verify_failure()
    assert broken == seq + 1
    where = f"after #{seq - 1}" if seq > 1 else "at the start"
    assert problem == f"sequence gap {where}: #{seq} missing (deleted)"


def test_deleting_an_event_and_renumbering_the_rest_names_the_event_after_the_hole(chain):
    tamper("DELETE FROM audit_auditevent WHERE seq = 3")
    tamper("UPDATE audit_auditevent SET seq = 3 WHERE seq = 4")
    tamper("UPDATE audit_auditevent SET seq = 4 WHERE seq = 5")
    broken, problem = verify_failure()
    assert broken == 3
    assert problem.startswith("prev_hash does not match event #2 (deleted or reordered)")


def test_deleting_the_last_event_is_caught_by_an_anchor(chain):
    anchor = {5: chain[4].hash}
    tamper("DELETE FROM audit_auditevent WHERE seq = 5")
    assert audit_verify().ok  # the chain alone cannot see a removed tail...
    report = audit_verify(anchors=anchor)  # ...a hash kept from an earlier verify can
    assert (report.ok, report.broken_seq, report.problem) == (
        False,
        5,
        "anchored event is missing: the log ends at #4 (events removed)",
    )


def test_rewriting_the_whole_tail_consistently_is_caught_by_an_anchor(chain):
    anchor = {4: chain[3].hash}
    for seq in (3, 4, 5):
        if seq == 3:
            tamper("""UPDATE audit_auditevent SET after = '{"status": "paid"}' WHERE seq = 3""")
        previous = AuditEvent.objects.get(seq=seq - 1).hash
        event = AuditEvent.objects.get(seq=seq)
        rehashed = payload_hash(previous, event.payload())
        tamper("UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s", [previous, rehashed, seq])
    assert audit_verify().ok
    report = audit_verify(anchors=anchor)
    assert (report.broken_seq, report.problem) == (
        4,
        f"hash {AuditEvent.objects.get(seq=4).hash} differs from the anchor {chain[3].hash} (chain rewritten)",
    )


@pytest.mark.parametrize(("a", "b"), [(1, 2), (2, 4), (4, 5)])
def test_swapping_two_events_names_the_first_swapped_position(chain, a, b):
    tamper("UPDATE audit_auditevent SET seq = 1000 WHERE seq = %s", [a])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [a, b])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = 1000", [b])
    broken, problem = verify_failure()
    assert broken == a
    if a == 1:
        assert problem == f"prev_hash {chain[0].hash} is not the genesis hash"
    else:
        assert problem == (
            f"prev_hash does not match event #{a - 1} (deleted or reordered): "
            f"prev_hash {chain[b - 2].hash}, event #{a - 1} has hash {chain[a - 2].hash}"
        )


def test_verify_command_exits_0_then_1_naming_the_event(chain):
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue() == f"audit ok: 5 events, chain intact, last hash {chain[-1].hash} (#5)\n"
    out = StringIO()
    call_command("audit", "verify", "--anchor", f"5:{chain[-1].hash}", stdout=out)
    assert out.getvalue().startswith("audit ok: 5 events")

    tamper("""UPDATE audit_auditevent SET after = '{"status": "paid"}' WHERE seq = 2""")
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify", stdout=StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert err.getvalue().startswith(
        f"audit verification FAILED at event #2: hash mismatch (content edited): stored {chain[1].hash}, recomputed "
    )
    assert err.getvalue().endswith("(events verified before it: 1)\n")


def test_verify_command_on_an_empty_log_and_a_malformed_anchor(db):
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue() == f"audit ok: 0 events, chain intact, last hash {'0' * 64}\n"
    with pytest.raises(CommandError, match="--anchor must be SEQ:HASH"):
        call_command("audit", "verify", "--anchor", "5:xyz")
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command("audit", "verify", "--anchor", f"1:{'a' * 64}", stdout=StringIO(), stderr=err)
    assert err.getvalue().startswith(
        "audit verification FAILED at event #1: anchored event is missing: the log ends at #0 (events removed)"
    )
