"""The "Audit log" page (/audit/) and its export (/audit/export/)."""

from __future__ import annotations

import csv
import json
import uuid
from io import StringIO

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from payor.audit.models import AuditEvent
from payor.audit.services import audit_record
from payor.audit.tests.conftest import AUDIT_PROJECT_ROLES, AUDIT_SYSTEM_ROLES, grant, reader, world_make
from payor.core.money import Money
from payor.rbac.roles import ProjectRole, SystemRole

pytestmark = pytest.mark.django_db

SIDEBAR_LINK = b'href="/audit/"'


@pytest.fixture
def world(db):
    return world_make()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response) -> str:
    return response.content.decode()


def shown_seqs(response) -> list[int]:
    """The events listed on the page, in display order (the expand buttons carry the seq)."""
    html = body(response)
    return [int(part.split("-details", 1)[0]) for part in html.split('aria-controls="event-')[1:]]


def download(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def auditor(world):
    user = reader(ProjectRole.AUDITOR, on=world.a, email="auditor@example.test", full_name="Aurelio Auditor")
    audit_record(
        actor=world.admin,
        action="role.limit_changed",
        subject_type="rbac.projectroleassignment",
        subject_id="a-7",
        before={"role": "TREASURER", "approval_limit": Money.parse("10000.00", "USD"), "user_id": str(user.pk)},
        after={"role": "TREASURER", "approval_limit": Money.parse("50000.00", "USD"), "user_id": str(user.pk)},
        project_id=world.a.pk,
    )  # #7
    return user


# --------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------


def test_an_auditor_sees_their_projects_events_with_diffs_filters_and_export(world, auditor):
    response = client_for(auditor).get("/audit/")
    assert response.status_code == 200
    html = body(response)
    assert shown_seqs(response) == [7, 5, 3, 1]  # newest first; B's #2 #6 and the platform's #4 are not theirs
    assert "Willamette floodplain" not in html
    assert "invoice.approved" not in html
    assert "system_role.assigned" not in html
    # who / when / what / subject / project
    assert "root@example.test" in html
    assert "Role limit changed" in html
    assert "<code>role.limit_changed</code>" in html
    assert "project role assignment" in html
    assert "Klamath riparian" in html
    # the diff, field by field, amounts formatted and ids in full
    assert 'aria-controls="event-7-details"' in html
    assert "approval_limit" in html
    assert "$10,000.00" in html
    assert "$50,000.00" in html
    assert str(auditor.pk) in html
    assert '<span class="badge bg-yellow-lt ms-1">changed</span>' in html
    assert '<a href="/audit/?subject_type=rbac.projectroleassignment&amp;subject_id=a-7">' in html  # its history
    # filters and export
    for name in ("project", "action", "actor", "subject_type", "subject_id", "since", "until"):
        assert f'name="{name}"' in html
    assert html.count("<option ") == 2  # "All my projects" and Klamath: only projects they may audit
    assert 'href="/audit/export/?format=csv"' in html
    assert 'href="/audit/export/?format=jsonl"' in html
    # the chain head is the latest event they can read, checked
    head = AuditEvent.objects.get(seq=7)
    assert f"payor audit verify --anchor 7:{head.hash}" in html
    assert "Hash recomputes" in html
    assert "Linked to event #6" in html
    # the sidebar link, marked current
    assert SIDEBAR_LINK in response.content
    assert 'aria-current="page"' in html.split(">Audit log<")[0].rsplit("<li", 1)[1]


def test_platform_readers_see_every_event_and_every_project(world):
    response = client_for(reader(SystemRole.SYSTEM_AUDITOR)).get("/audit/")
    assert shown_seqs(response) == [6, 5, 4, 3, 2, 1]
    html = body(response)
    assert "All projects and platform events" in html
    assert "Willamette floodplain" in html
    assert "Platform" in html


@pytest.mark.parametrize("role", list(ProjectRole))
def test_every_project_role_gets_its_events_or_a_403(world, role):
    client = client_for(reader(role, on=world.a))
    response = client.get("/audit/")
    export = client.get("/audit/export/", {"format": "csv"})
    if role in AUDIT_PROJECT_ROLES:
        assert response.status_code == 200
        assert shown_seqs(response) == [5, 3, 1]
        assert [row[0] for row in csv.reader(StringIO(download(export)))] == ["seq", "1", "3", "5"]
    else:
        assert response.status_code == 403
        assert "You cannot read this audit log" in body(response)
        assert "root@example.test" not in body(response)
        assert export.status_code == 403


@pytest.mark.parametrize("role", list(SystemRole))
def test_every_system_role_gets_every_event_or_a_403(world, role):
    response = client_for(reader(role)).get("/audit/")
    if role in AUDIT_SYSTEM_ROLES:
        assert shown_seqs(response) == [6, 5, 4, 3, 2, 1]
    else:
        assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(world):
    for path in ("/audit/", "/audit/export/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --------------------------------------------------------------------------
# The sidebar link
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "shown"),
    [
        *[((role,), role in AUDIT_PROJECT_ROLES) for role in ProjectRole],
        *[((role,), role in AUDIT_SYSTEM_ROLES) for role in SystemRole],
        ((), False),
    ],
)
def test_the_sidebar_links_the_audit_log_only_for_audit_read_holders(world, roles, shown):
    user = reader(*roles, on=world.a)
    page = client_for(user).get("/projects/")
    assert page.status_code == 200
    assert (SIDEBAR_LINK in page.content) is shown
    assert (client_for(user).get("/audit/").status_code == 200) is shown  # the link never leads to a 403


def test_the_sidebar_link_shows_for_a_platform_reader_before_any_project_exists(db):
    response = client_for(reader(SystemRole.SYSTEM_AUDITOR)).get("/projects/")
    assert SIDEBAR_LINK in response.content
    superuser = reader(is_superuser=True)
    assert SIDEBAR_LINK in client_for(superuser).get("/projects/").content


def test_the_sidebar_costs_one_query(world, auditor, rf):
    from payor.web.context_processors import payor

    request = rf.get("/projects/")
    request.user = auditor
    context = payor(request)
    with CaptureQueriesContext(connection) as queries:
        assert bool(context["show_audit_log"]) is True
        assert bool(context["show_audit_log"]) is True
    assert len(queries) == 1
    request.user = reader(ProjectRole.VENDOR, on=world.a)
    with CaptureQueriesContext(connection) as queries:
        assert bool(payor(request)["show_audit_log"]) is False
    assert len(queries) == 1


# --------------------------------------------------------------------------
# Filters (HTMX) and paging
# --------------------------------------------------------------------------


def test_each_filter_narrows_the_list(world, auditor):
    client = client_for(world.admin)
    other = reader(email="other@example.test")
    audit_record(
        actor=other,
        action="invoice.submitted",
        subject_type="invoices.invoice",
        subject_id="inv-9",
        project_id=world.b.pk,
    )  # #8
    assert shown_seqs(client.get("/audit/", {"project": str(world.b.pk)})) == [8, 6, 2]
    assert shown_seqs(client.get("/audit/", {"action": "role.*"})) == [7, 5, 2, 1]
    assert shown_seqs(client.get("/audit/", {"action": "system_role.assigned"})) == [4]
    assert shown_seqs(client.get("/audit/", {"actor": "OTHER@example.test"})) == [8]
    assert shown_seqs(client.get("/audit/", {"actor": str(other.pk)})) == [8]
    assert shown_seqs(client.get("/audit/", {"subject_type": "invoices.invoice"})) == [8, 6]
    assert shown_seqs(client.get("/audit/", {"subject_id": "subject-3"})) == [3]
    assert shown_seqs(client.get("/audit/", {"until": "2000-01-01"})) == []
    today = AuditEvent.objects.get(seq=1).occurred_at.date().isoformat()
    assert shown_seqs(client.get("/audit/", {"since": today, "until": today, "action": "invoice.*"})) == [8, 6]


def test_htmx_filters_return_only_the_rows_and_an_export_link_for_the_same_set(world, auditor):
    client = client_for(auditor)
    fragment = client.get("/audit/", {"action": "role.*"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    html = body(fragment)
    assert "<html" not in html
    assert 'id="audit-filters"' not in html
    assert html.lstrip().startswith('<div id="audit-rows"')
    assert shown_seqs(fragment) == [7, 5, 1]
    assert 'href="/audit/export/?action=role.%2A&amp;format=csv"' in html
    assert "HX-Request" in fragment["Vary"]
    exported = download(client.get("/audit/export/", {"action": "role.*", "format": "jsonl"}))
    assert [json.loads(line)["seq"] for line in exported.splitlines()] == [1, 5, 7]


def test_a_bad_filter_explains_itself_and_shows_nothing(world, auditor):
    client = client_for(auditor)
    page = client.get("/audit/", {"since": "03/02/2026"})
    assert page.status_code == 400
    assert "Check the filters" in body(page)
    assert "From: " in body(page)
    assert shown_seqs(page) == []
    fragment = client.get("/audit/", {"action": "Role assigned"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200  # htmx swaps only 2xx answers
    assert "Action: " in body(fragment)
    ranged = client.get("/audit/", {"since": "2026-03-03", "until": "2026-03-02"})
    assert ranged.status_code == 400
    assert "From is after To" in body(ranged)
    assert client.get("/audit/export/", {"since": "nope"}).status_code == 400
    assert client.get("/audit/export/", {"format": "xlsx"}).status_code == 400


def test_other_projects_are_404_or_403_never_shown(world, auditor):
    client = client_for(auditor)
    for project_id in (world.b.pk, uuid.uuid4()):
        assert client.get("/audit/", {"project": str(project_id)}).status_code == 404
        assert client.get("/audit/export/", {"project": str(project_id)}).status_code == 404
    grant(auditor, ProjectRole.VENDOR, world.b)  # B visible now, without audit.read
    assert client.get("/audit/", {"project": str(world.b.pk)}).status_code == 403
    assert client.get("/audit/export/", {"project": str(world.b.pk)}).status_code == 403


def test_older_and_newer_pages_walk_the_log_by_seq(world, auditor):
    for index in range(60):
        audit_record(
            actor=None,
            action="invoice.approved",
            subject_type="invoices.invoice",
            subject_id=f"n-{index}",
            project_id=world.a.pk,
        )  # #8..#67
    client = client_for(auditor)
    first = client.get("/audit/")
    newest = list(range(67, 17, -1))
    assert shown_seqs(first) == newest
    assert 'before=18"' in body(first)
    assert "after=" not in body(first)
    older = client.get("/audit/", {"before": "18"})
    assert shown_seqs(older) == [*range(17, 7, -1), 7, 5, 3, 1]
    assert "before=" not in body(older).split('id="audit-rows"')[1]
    assert 'after=17"' in body(older)
    assert shown_seqs(client.get("/audit/", {"after": "17"})) == newest
    assert client.get("/audit/", {"before": "x"}).status_code == 400


def test_exports_are_exactly_the_filtered_scoped_set(world, auditor):
    client = client_for(auditor)
    jsonl = download(client.get("/audit/export/", {"format": "jsonl"}))
    assert [json.loads(line)["seq"] for line in jsonl.splitlines()] == [1, 3, 5, 7]
    response = client.get("/audit/export/", {"format": "csv", "actor": "root@example.test", "until": "2999-01-01"})
    assert response["Content-Disposition"].startswith('attachment; filename="payor-audit-')
    rows = list(csv.reader(StringIO(download(response))))
    assert [row[0] for row in rows] == ["seq", "1", "3", "5", "7"]
    assert all(row[7] == str(world.a.pk) for row in rows[1:])


def test_the_page_costs_the_same_number_of_queries_for_5_or_50_events(world, auditor):
    client = client_for(auditor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/audit/", {"project": str(world.a.pk).upper()}).status_code == 200
        return len(captured)

    few = queries()
    for index in range(50):
        actor = reader(email=f"actor{index}@example.test")
        audit_record(
            actor=actor,
            action="invoice.approved",
            subject_type="invoices.invoice",
            subject_id=f"{index}",
            before={"status": "submitted"},
            after={"status": "approved"},
            project_id=world.a.pk,
        )
    assert queries() == few
    page = body(client.get("/audit/", {"project": str(world.a.pk).upper()}))
    assert f'<option value="{world.a.pk}" selected>' in page
