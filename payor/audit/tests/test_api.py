"""``GET /api/v1/audit`` and ``GET /api/v1/audit/export``: scoping, filters, pagination, export, refusals."""

from __future__ import annotations

import csv
import json
import uuid
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from payor.audit.canonical import GENESIS_HASH, format_timestamp
from payor.audit.export import export_chunks
from payor.audit.models import AuditEvent
from payor.audit.selectors import audit_events_unscoped
from payor.audit.services import audit_record
from payor.audit.tests.conftest import AUDIT_PROJECT_ROLES, AUDIT_SYSTEM_ROLES, grant, reader
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit"
EXPORT = "/api/v1/audit/export"


def everything() -> list[int]:
    """Every seq in the log now (services audit more than the world's six events, e.g. issuing a token)."""
    return list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))


def seqs_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["seq"] for item in response.json()["results"]]


def walk(client, url: str) -> list[int]:
    """Follow ``next`` to the end; every seq seen, in order."""
    seen: list[int] = []
    while url:
        response = client.get(url)
        seen += seqs_of(response)
        url = response.json()["next"]
    return seen


def exported(client, **params: str) -> tuple[int, str, object]:
    response = client.get(EXPORT, params)
    body = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return response.status_code, body, response


def problem(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.status_code, response.json()["code"]


# --------------------------------------------------------------------------
# Who sees what
# --------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(ProjectRole))
def test_each_project_role_sees_exactly_its_projects_events_or_is_refused(world, api_client, role):
    client = api_client(reader(role, on=world.a))
    response = client.get(URL)
    if role in AUDIT_PROJECT_ROLES:
        assert seqs_of(response) == world.seqs(world.a) == [1, 3, 5]
        status, body, _ = exported(client)
        assert status == 200
        assert [json.loads(line)["seq"] for line in body.splitlines()] == [1, 3, 5]
    else:
        assert problem(response) == (403, "permission_denied")
        assert response.json()["permission"] == "audit.read"
        assert problem(client.get(EXPORT)) == (403, "permission_denied")


@pytest.mark.parametrize("role", list(SystemRole))
def test_each_system_role_sees_every_event_or_is_refused(world, api_client, role):
    client = api_client(reader(role))
    response = client.get(URL)
    if role in AUDIT_SYSTEM_ROLES:
        seen = seqs_of(response)
        assert seen == everything()
        assert seen[:6] == [1, 2, 3, 4, 5, 6]  # the platform event (#4, no project) included
    else:
        assert problem(response) == (403, "permission_denied")


def test_superusers_see_everything_and_users_without_roles_nothing(world, api_client):
    assert seqs_of(api_client(world.admin).get(URL)) == everything()
    assert problem(api_client(reader()).get(URL)) == (403, "permission_denied")
    assert api_client(reader(ProjectRole.AUDITOR, on=world.a)).get(URL, HTTP_AUTHORIZATION="").status_code == 401


def test_revoked_and_inactive_readers_lose_access(world, api_client):
    auditor = reader(ProjectRole.AUDITOR, on=world.a)
    client = api_client(auditor)
    assert seqs_of(client.get(URL)) == [1, 3, 5]
    auditor.project_roles.update(revoked_at="2026-01-01T00:00:00Z")
    assert problem(client.get(URL)) == (403, "permission_denied")


def test_roles_on_two_projects_see_both_and_nothing_else(world, api_client):
    user = reader(ProjectRole.AUDITOR, on=world.a)
    grant(user, ProjectRole.TREASURER, world.b)
    other = ProjectFactory()
    audit_record(actor=None, action="role.assigned", subject_type="rbac.x", subject_id="o", project_id=other.pk)
    assert seqs_of(api_client(user).get(URL)) == [1, 2, 3, 5, 6]


def test_another_projects_events_never_show_through_filters_or_export(world, api_client):
    client = api_client(reader(ProjectRole.AUDITOR, on=world.a))
    b_subject = world.events[1].subject_id  # an event of B
    for params in [
        {"action": "invoice.approved"},
        {"action": "role.*"},
        {"subjectId": b_subject},
        {"subjectType": "invoices.invoice"},
        {"actorId": str(world.admin.pk)},
        {"since": "2000-01-01", "until": "2999-12-31"},
        {"afterSeq": "0"},
    ]:
        seen = seqs_of(client.get(URL, params))
        assert set(seen) <= {1, 3, 5}, params
        status, body, _ = exported(client, **params)
        assert status == 200
        assert {json.loads(line)["seq"] for line in body.splitlines()} <= {1, 3, 5}, params
    assert seqs_of(client.get(URL, {"action": "role.*"})) == [1, 5]
    assert seqs_of(client.get(URL, {"subjectId": b_subject})) == []


def test_filtering_by_a_project_you_cannot_see_is_404_and_one_you_see_without_audit_read_403(world, api_client):
    auditor_of_a = reader(ProjectRole.AUDITOR, on=world.a)
    client = api_client(auditor_of_a)
    assert seqs_of(client.get(URL, {"projectId": str(world.a.pk)})) == [1, 3, 5]
    for project_id in (world.b.pk, uuid.uuid4()):  # invisible and nonexistent answer the same
        response = client.get(URL, {"projectId": str(project_id)})
        assert problem(response) == (404, "project_not_found")
        assert problem(client.get(EXPORT, {"projectId": str(project_id)})) == (404, "project_not_found")

    grant(auditor_of_a, ProjectRole.PROJECT_MANAGER, world.b)  # B is visible now, still without audit.read
    response = client.get(URL, {"projectId": str(world.b.pk)})
    assert problem(response) == (403, "permission_denied")
    assert problem(client.get(EXPORT, {"projectId": str(world.b.pk)})) == (403, "permission_denied")

    admin = api_client(world.admin)
    assert seqs_of(admin.get(URL, {"projectId": str(world.b.pk)})) == [2, 6]
    assert problem(admin.get(URL, {"projectId": str(uuid.uuid4())})) == (404, "project_not_found")


# --------------------------------------------------------------------------
# Items and filters
# --------------------------------------------------------------------------


def test_items_are_camel_case_and_carry_every_hashed_field(world, api_client):
    response = api_client(world.admin).get(URL, {"page_size": "2"})
    first = AuditEvent.objects.get(seq=2)
    item = response.json()["results"][1]
    assert item == {
        "seq": 2,
        "occurredAt": format_timestamp(first.occurred_at),
        "actor": {"id": str(world.admin.pk), "label": "root@example.test"},
        "action": "role.assigned",
        "subject": {"type": "rbac.projectroleassignment", "id": "subject-2"},
        "projectId": str(world.b.pk),
        "before": None,
        "after": {"role": "TREASURER", "approval_limit": {"amount": "10000.00", "currency": "USD"}},
        "requestId": None,
        "ip": None,
        "prevHash": AuditEvent.objects.get(seq=1).hash,
        "hash": first.hash,
    }
    assert response.json()["results"][0]["prevHash"] == GENESIS_HASH


def test_filters_each_narrow_and_combine(world, api_client):
    client = api_client(world.admin)
    other_actor = reader()
    late = audit_record(actor=other_actor, action="role.limit_changed", subject_type="rbac.x", subject_id="s-7").seq
    assert seqs_of(client.get(URL, {"action": "role.assigned"})) == [1, 2]
    assert seqs_of(client.get(URL, {"action": "role.*"})) == [1, 2, 5, late]
    assert seqs_of(client.get(URL, {"action": "ROLE.Revoked"})) == [5]
    assert seqs_of(client.get(URL, {"action": "system_role.*"})) == [4]
    assert seqs_of(client.get(URL, {"actorId": str(other_actor.pk)})) == [late]
    assert seqs_of(client.get(URL, {"subjectType": "invoices.invoice"})) == [6]
    assert seqs_of(client.get(URL, {"subjectType": "rbac.projectroleassignment", "subjectId": "subject-5"})) == [5]
    assert seqs_of(client.get(URL, {"projectId": str(world.a.pk), "action": "role.*"})) == [1, 5]
    assert seqs_of(client.get(URL, {"afterSeq": "4"})) == [seq for seq in everything() if seq > 4]
    assert seqs_of(client.get(URL, {"action": "", "projectId": ""})) == everything()  # empty: no filter


def test_date_filters_are_inclusive_utc_days_or_exact_instants(world, api_client):
    client = api_client(world.admin)
    third = AuditEvent.objects.get(seq=3).occurred_at
    day = third.date().isoformat()
    assert seqs_of(client.get(URL, {"since": day, "until": day}))[:6] == [1, 2, 3, 4, 5, 6]
    exact = format_timestamp(third)
    assert seqs_of(client.get(URL, {"since": exact, "until": exact})) == [3]
    assert seqs_of(client.get(URL, {"until": exact})) == [1, 2, 3]
    assert seqs_of(client.get(URL, {"since": exact.replace("Z", "+00:00")})) == everything()[2:]
    assert seqs_of(client.get(URL, {"since": "2999-01-01"})) == []
    assert seqs_of(client.get(URL, {"until": "9999-12-31"})) == everything()


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"projectId": "not-a-uuid"}, 422, "audit_filter_invalid", "projectId"),
        ({"actorId": "42"}, 422, "audit_filter_invalid", "actorId"),
        ({"since": "03/02/2026"}, 422, "audit_filter_invalid", "since"),
        ({"until": "2026-02-30"}, 422, "audit_filter_invalid", "until"),
        ({"since": "2026-03-02T10:00:00"}, 422, "audit_filter_invalid", "since"),  # no offset
        ({"since": "2026-03-03", "until": "2026-03-02"}, 422, "audit_range_invalid", "since"),
        ({"action": "Role assigned"}, 422, "audit_filter_invalid", "action"),
        ({"action": "*"}, 422, "audit_filter_invalid", "action"),
        ({"subjectType": "Invoices/Invoice"}, 422, "audit_filter_invalid", "subjectType"),
        ({"subjectId": "x" * 201}, 422, "audit_filter_invalid", "subjectId"),
        ({"subjectId": "a\x00b"}, 422, "audit_filter_invalid", "subjectId"),
        ({"afterSeq": "-1"}, 422, "audit_filter_invalid", "afterSeq"),
        ({"afterSeq": "9" * 30}, 422, "audit_filter_invalid", "afterSeq"),
    ],
)
def test_bad_filters_are_problems_with_stable_codes(world, api_client, params, status, code, field):
    client = api_client(world.admin)
    for url in (URL, EXPORT):
        response = client.get(url, params)
        assert problem(response) == (status, code), url
        assert response.json()["field"] == field


@pytest.mark.parametrize("cursor", ["not base64!", "cD1hYmM=", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "bz0tMQ=="])
def test_a_tampered_cursor_is_a_validation_error_not_a_500(world, api_client, cursor):
    # "p=abc", "p=<huge>", "o=-1"
    response = api_client(world.admin).get(URL, {"cursor": cursor})
    assert response.status_code < 500
    if response.status_code != 200:
        assert problem(response) == (422, "validation_error")


# --------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------


def test_pages_walk_every_event_once_in_seq_order_even_while_events_arrive(world, api_client):
    auditor = reader(ProjectRole.AUDITOR, on=world.a)
    client = api_client(auditor)
    seen: list[int] = []
    url: str | None = f"{URL}?page_size=1"
    arrivals = iter([world.a, world.a, world.b, None, world.b])
    while url:
        response = client.get(url)
        seen += seqs_of(response)
        url = response.json()["next"]
        project = next(arrivals, "done")
        if url and project != "done":  # between pages: one more event, in scope or not
            audit_record(
                actor=None,
                action="invoice.approved",
                subject_type="invoices.invoice",
                subject_id="late",
                project_id=None if project is None else project.pk,
            )
    expected = list(AuditEvent.objects.filter(project_id=world.a.pk).order_by("seq").values_list("seq", flat=True))
    assert seen == expected
    assert len(expected) == 5  # #1 #3 #5 and the two that arrived for A while paging
    assert len(set(seen)) == len(seen)
    # At the end there is no next page; a feed resumes from the last seq it saw.
    late = audit_record(
        actor=None, action="invoice.paid", subject_type="invoices.invoice", subject_id="x", project_id=world.a.pk
    )
    assert seqs_of(client.get(URL, {"afterSeq": str(seen[-1])})) == [late.seq]


def test_next_and_previous_links_keep_the_filters(world, api_client):
    client = api_client(world.admin)
    first = client.get(URL, {"action": "role.*", "page_size": "1"}).json()
    assert [item["seq"] for item in first["results"]] == [1]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [item["seq"] for item in second["results"]] == [2]
    back = client.get(second["previous"]).json()
    assert [item["seq"] for item in back["results"]] == [1]
    assert walk(client, f"{URL}?{urlencode({'action': 'role.*', 'page_size': 1})}") == [1, 2, 5]


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


def cli_export(fmt: str, *args: str) -> str:
    out = StringIO()
    call_command("audit", "export", "--format", fmt, *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_is_the_scoped_set_byte_for_byte_as_the_cli_writes_it(world, api_client, fmt):
    client = api_client(reader(ProjectRole.FINANCE_REVIEWER, on=world.a))
    status, body, response = exported(client, format=fmt)
    assert status == 200
    assert response["Content-Type"].startswith({"jsonl": "application/jsonl", "csv": "text/csv"}[fmt])
    assert response["Content-Disposition"].startswith('attachment; filename="payor-audit-')
    assert response["Content-Disposition"].endswith(f'.{fmt}"')
    assert response["Cache-Control"] == "no-store"
    assert body == cli_export(fmt, "--project", str(world.a.pk))
    if fmt == "csv":
        rows = list(csv.reader(StringIO(body)))
        assert [row[0] for row in rows] == ["seq", "1", "3", "5"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_applies_the_same_filters_as_the_list(world, api_client, fmt):
    client = api_client(world.admin)
    for params in [
        {},
        {"action": "role.*"},
        {"projectId": str(world.b.pk)},
        {"subjectType": "invoices.invoice"},
        {"afterSeq": "3"},
    ]:
        listed = seqs_of(client.get(URL, {**params, "page_size": "200"}))
        status, body, _ = exported(client, format=fmt, **params)
        assert status == 200
        if fmt == "jsonl":
            got = [json.loads(line)["seq"] for line in body.splitlines()]
        else:
            got = [int(row[0]) for row in list(csv.reader(StringIO(body)))[1:]]
        assert got == listed, params
    assert exported(client, format="jsonl")[1] == cli_export("jsonl")  # everything, for a platform reader


@pytest.mark.parametrize("fmt", ["xml", "JSON", "csv;drop"])
def test_an_unknown_export_format_is_refused(world, api_client, fmt):
    response = api_client(world.admin).get(EXPORT, {"format": fmt})
    assert problem(response) == (422, "audit_export_format_invalid")
    assert response.json()["field"] == "format"


def test_export_defaults_to_jsonl_and_an_empty_scope_is_an_empty_file(world, api_client):
    client = api_client(world.admin)
    status, body, response = exported(client)
    assert response["Content-Type"].startswith("application/jsonl")
    assert len(body.splitlines()) == len(everything())
    status, body, _ = exported(client, since="2999-01-01", format="csv")
    assert (status, body) == (
        200,
        "seq,occurred_at,actor_id,actor_label,action,subject_type,subject_id,project_id,"
        "before,after,request_id,ip,prev_hash,hash\r\n",
    )


def test_openapi_documents_the_camel_case_parameters(world, api_client):
    document = api_client(world.admin).get("/api/v1/openapi.json").json()
    listed = {param["name"] for param in document["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert {"projectId", "action", "actorId", "subjectType", "subjectId", "since", "until", "afterSeq"} <= listed
    exported_params = {param["name"] for param in document["paths"]["/api/v1/audit/export"]["get"]["parameters"]}
    assert "format" in exported_params


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_streamed_chunks_join_to_exactly_the_cli_lines(world, fmt):
    chunks = list(export_chunks(audit_events_unscoped(), fmt=fmt, size=300))
    assert len(chunks) > 1  # several events per chunk, several chunks
    assert "".join(chunks) == cli_export(fmt)
