"""Filter parsing, keyset pages and the chain head (scoping itself: test_scoping.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from payor.audit.canonical import GENESIS_HASH
from payor.audit.errors import AuditFilterInvalid
from payor.audit.models import AuditEvent
from payor.audit.selectors import (
    AuditFilter,
    audit_chain_head,
    audit_events,
    audit_events_unscoped,
    audit_filter_parse,
    audit_page,
    audit_scope,
)
from payor.audit.services import audit_record
from payor.audit.tests.conftest import reader, tamper
from payor.rbac.roles import ProjectRole

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def seqs(events) -> list[int]:
    return [event.seq for event in events] if isinstance(events, list) else list(events.values_list("seq", flat=True))


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def test_empty_values_are_no_filter():
    parsed = audit_filter_parse(project_id="", action="  ", actor="", since=None, until="", after_seq="")
    assert parsed == AuditFilter()
    assert parsed.is_empty


def test_values_are_parsed():
    project_id = uuid.uuid4()
    parsed = audit_filter_parse(
        project_id=f" {project_id} ",
        action="Role.*",
        subject_type="RBAC.ProjectRoleAssignment",
        subject_id=" 42 ",
        since="2026-03-02",
        until="2026-03-02T10:30:00+02:00",
        after_seq="17",
    )
    assert parsed == AuditFilter(
        project_id=project_id,
        action="role.*",
        subject_type="rbac.projectroleassignment",
        subject_id="42",
        occurred_from=dt.datetime(2026, 3, 2, tzinfo=UTC),
        occurred_before=dt.datetime(2026, 3, 2, 8, 30, 0, 1, tzinfo=UTC),
        after_seq=17,
    )


def test_until_a_date_includes_the_whole_day_and_the_far_future_is_unbounded():
    assert audit_filter_parse(until="2026-03-02").occurred_before == dt.datetime(2026, 3, 3, tzinfo=UTC)
    assert audit_filter_parse(until="9999-12-31").occurred_before is None
    assert audit_filter_parse(since="2026-03-02", until="2026-03-02").occurred_from == dt.datetime(
        2026, 3, 2, tzinfo=UTC
    )


def test_the_actor_is_a_user_id_or_a_label():
    user_id = uuid.uuid4()
    assert audit_filter_parse(actor=str(user_id)) == AuditFilter(actor_id=user_id)
    assert audit_filter_parse(actor="Ana@Example.test") == AuditFilter(actor="Ana@Example.test")
    assert audit_filter_parse(actor="system") == AuditFilter(actor="system")
    with pytest.raises(AuditFilterInvalid):
        audit_filter_parse(actor=str(user_id), actor_id=str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"project_id": "nope"}, "audit_filter_invalid", "project"),
        ({"since": "2026-13-01"}, "audit_filter_invalid", "since"),
        ({"since": "yesterday"}, "audit_filter_invalid", "since"),
        ({"until": "2026-03-02T10:00"}, "audit_filter_invalid", "until"),
        ({"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T09:59:59Z"}, "audit_range_invalid", "since"),
        ({"action": "role"}, "audit_filter_invalid", "action"),
        ({"action": "role.*.x"}, "audit_filter_invalid", "action"),
        ({"subject_type": "a b"}, "audit_filter_invalid", "subject_type"),
        ({"actor": "x" * 255}, "audit_filter_invalid", "actor"),
        ({"after_seq": "1.5"}, "audit_filter_invalid", "after_seq"),
    ],
)
def test_malformed_values_name_the_parameter_as_the_caller_calls_it(kwargs, code, field):
    with pytest.raises(AuditFilterInvalid) as info:
        audit_filter_parse(**kwargs, names={"project_id": "project"})
    assert (info.value.code, info.value.extra["field"], info.value.status) == (code, field, 422)


# --------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------


def test_filters_combine(world):
    admin = world.admin
    actor = reader()
    mine = audit_record(
        actor=actor, action="role.assigned", subject_type="rbac.x", subject_id="y", project_id=world.a.pk
    )
    assert seqs(audit_events(viewer=admin, filters=AuditFilter(action="role.assigned"))) == [1, 2, mine.seq]
    assert seqs(audit_events(viewer=admin, filters=AuditFilter(actor=actor.email.upper()))) == [mine.seq]
    assert seqs(audit_events(viewer=admin, filters=AuditFilter(actor="root@example.test"))) == [1, 2, 3, 4, 5, 6]
    assert seqs(
        audit_events(viewer=admin, filters=AuditFilter(actor_id=admin.pk, project_id=world.a.pk, action="role.*"))
    ) == [1, 5]
    assert seqs(audit_events(viewer=admin, filters=AuditFilter(subject_type="rbac.x", subject_id="y"))) == [mine.seq]
    today = dt.datetime.now(tz=UTC).date()
    assert seqs(audit_events(viewer=admin, filters=audit_filter_parse(since=today + dt.timedelta(days=1)))) == []


def test_a_family_matches_whole_words_only(world):
    audit_record(actor=None, action="roles.purged", subject_type="rbac.x", subject_id="z")
    assert seqs(audit_events(viewer=world.admin, filters=AuditFilter(action="role.*"))) == [1, 2, 5]
    assert seqs(audit_events(viewer=world.admin, filters=AuditFilter(action="approval_matrix.*"))) == [3]


def test_the_unscoped_reader_for_the_cli_keeps_its_filters(world):
    assert seqs(audit_events_unscoped()) == [1, 2, 3, 4, 5, 6]
    assert seqs(audit_events_unscoped(project_id=str(world.a.pk), action="role.revoked")) == [5]
    assert seqs(audit_events_unscoped(since=dt.datetime.now(tz=UTC).date() + dt.timedelta(days=1))) == []


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


def test_keyset_pages_go_older_and_newer_by_seq(world):
    for index in range(5):
        audit_record(actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id=f"{index}")
    events = audit_events(viewer=world.admin)  # 11 events
    first = audit_page(events, size=4)
    assert (seqs(first.events), first.older, first.newer) == ([11, 10, 9, 8], 8, None)
    second = audit_page(events, before=first.older, size=4)
    assert (seqs(second.events), second.older, second.newer) == ([7, 6, 5, 4], 4, 7)
    last = audit_page(events, before=second.older, size=4)
    assert (seqs(last.events), last.older, last.newer) == ([3, 2, 1], None, 3)
    back = audit_page(events, after=last.newer, size=4)
    assert (seqs(back.events), back.older, back.newer) == ([7, 6, 5, 4], 4, 7)
    top = audit_page(events, after=back.newer, size=4)
    assert (seqs(top.events), top.older, top.newer) == ([11, 10, 9, 8], 8, None)


def test_pages_follow_the_scope_and_filters(world):
    auditor = reader(ProjectRole.AUDITOR, on=world.a)
    events = audit_events(viewer=auditor)
    page = audit_page(events, size=2)
    assert (seqs(page.events), page.older, page.newer) == ([5, 3], 3, None)
    older = audit_page(events, before=3, size=2)
    assert (seqs(older.events), older.older, older.newer) == ([1], None, 1)


def test_pages_neither_skip_nor_repeat_when_events_arrive(world):
    events = audit_events(viewer=world.admin)
    first = audit_page(events, size=3)
    assert seqs(first.events) == [6, 5, 4]
    audit_record(actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id="new")
    older = audit_page(events, before=first.older, size=3)
    assert seqs(older.events) == [3, 2, 1]
    newer = audit_page(events, after=6, size=3)
    assert (seqs(newer.events), newer.newer) == ([7], None)


def test_empty_pages_still_point_back(world):
    events = audit_events(viewer=world.admin)
    beyond = audit_page(events, after=6)
    assert (beyond.events, beyond.older, beyond.newer) == ([], 7, None)
    below = audit_page(events, before=1)
    assert (below.events, below.older, below.newer) == ([], None, 0)


# --------------------------------------------------------------------------
# Chain head
# --------------------------------------------------------------------------


def test_the_chain_head_is_the_latest_event_in_scope_checked(world):
    head = audit_chain_head(scope=audit_scope(viewer=world.admin))
    last = AuditEvent.objects.get(seq=6)
    assert (head.seq, head.hash, head.hash_ok, head.link_ok, head.anchor) == (
        6,
        last.hash,
        True,
        True,
        f"6:{last.hash}",
    )
    auditor_head = audit_chain_head(scope=audit_scope(viewer=reader(ProjectRole.AUDITOR, on=world.a)))
    assert (auditor_head.seq, auditor_head.hash_ok, auditor_head.link_ok) == (5, True, True)


def test_the_chain_head_reports_an_edited_or_unlinked_event(world):
    tamper("""UPDATE audit_auditevent SET after = '{"status": "paid"}' WHERE seq = 6""")
    head = audit_chain_head(scope=audit_scope(viewer=world.admin))
    assert (head.seq, head.hash_ok, head.link_ok) == (6, False, True)
    tamper("DELETE FROM audit_auditevent WHERE seq = 4")
    auditor_head = audit_chain_head(scope=audit_scope(viewer=reader(ProjectRole.AUDITOR, on=world.a)))
    assert (auditor_head.seq, auditor_head.hash_ok, auditor_head.link_ok) == (5, True, False)


def test_the_first_event_links_to_genesis_and_an_empty_log_has_no_head(db):
    admin = reader(is_superuser=True)
    assert audit_chain_head(scope=audit_scope(viewer=admin)) is None
    event = audit_record(actor=None, action="invoice.approved", subject_type="invoices.invoice", subject_id="1")
    head = audit_chain_head(scope=audit_scope(viewer=admin))
    assert (head.seq, head.prev_hash, head.link_ok, head.hash_ok) == (1, GENESIS_HASH, True, True)
    assert head.hash == event.hash
