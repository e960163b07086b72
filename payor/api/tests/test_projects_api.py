from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from payor.accounts.services import api_token_create
from payor.core.money import Money
from payor.projects.models import FundingBucket, Project
from payor.projects.services import funding_record
from payor.rbac.roles import ProjectRole
from payor.testing.factories import OrganizationFactory, ProjectFactory, ProjectRoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def create(api, org, **fields):
    payload = {"organization_id": str(org.pk), "name": "Klamath riparian", "currency": "USD", **fields}
    return api.post("/api/v1/projects", data=payload, content_type="application/json")


def test_create_project_creates_its_lift_forward_bucket(api, org, user):
    response = create(
        api, org, description="Replant 42 ha", phase="implementation", start_date="2026-03-01", end_date="2028-02-29"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Klamath riparian"
    assert body["organization"] == {"id": str(org.pk), "name": org.name, "kind": "company"}
    assert body["phase"] == "implementation"
    assert body["status"] == "active"
    assert body["start_date"] == "2026-03-01"
    assert body["end_date"] == "2028-02-29"
    assert len(body["buckets"]) == 1
    bucket = body["buckets"][0]
    assert bucket["kind"] == "lift_forward"
    assert bucket["currency"] == "USD"
    assert bucket["funded"] == {"amount": "0.00", "currency": "USD", "minor": 0}
    project = Project.objects.get(pk=body["id"])
    assert project.created_by == user
    assert FundingBucket.objects.filter(project=project).count() == 1


def test_currency_is_normalised_and_usdc_projects_work(api, org):
    response = create(api, org, currency="usdc")
    assert response.status_code == 201
    assert response.json()["buckets"][0]["funded"] == {"amount": "0.000000", "currency": "USDC", "minor": 0}


def test_duplicate_name_in_organization_is_409_and_nothing_written(api, org):
    assert create(api, org).status_code == 201
    response = create(api, org)
    assert response.status_code == 409
    assert response.json()["code"] == "project_name_taken"
    assert Project.objects.count() == 1
    assert FundingBucket.objects.count() == 1


def test_end_before_start_is_422(api, org):
    response = create(api, org, start_date="2026-05-01", end_date="2026-04-30")
    assert response.status_code == 422
    assert response.json()["code"] == "project_dates_invalid"
    assert Project.objects.count() == 0


def test_cannot_create_in_an_organization_you_do_not_belong_to(api):
    other = OrganizationFactory()
    response = create(api, other)
    assert response.status_code == 404
    assert response.json()["code"] == "organization_not_found"
    assert Project.objects.count() == 0


def test_list_and_get_show_only_projects_the_viewer_holds_a_role_on(api, org, user):
    mine = ProjectRoleFactory(user=user, project__organization=org, role=ProjectRole.AUDITOR).project
    same_organization_no_role = ProjectFactory(organization=org)
    theirs = ProjectFactory()
    revoked_at = dt.datetime.now(dt.UTC)
    ProjectRoleFactory(user=user, project=ProjectFactory(), role=ProjectRole.AUDITOR, revoked_at=revoked_at)
    listed = api.get("/api/v1/projects").json()
    assert [item["id"] for item in listed["results"]] == [str(mine.pk)]
    assert api.get(f"/api/v1/projects/{mine.pk}").status_code == 200
    for hidden_project in (same_organization_no_role, theirs):
        hidden = api.get(f"/api/v1/projects/{hidden_project.pk}")
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "project_not_found"


def test_platform_admin_sees_every_project():
    admin = UserFactory(is_superuser=True, is_staff=True)
    projects = [ProjectFactory(), ProjectFactory()]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=admin.email, name='t').secret}")
    ids = {item["id"] for item in client.get("/api/v1/projects").json()["results"]}
    assert ids == {str(p.pk) for p in projects}


def test_list_is_cursor_paginated_newest_first(api, org, user):
    projects = [ProjectRoleFactory(user=user, project__organization=org).project for _ in range(5)]
    newest_first = [str(p.pk) for p in reversed(projects)]
    page1 = api.get("/api/v1/projects", {"page_size": 2}).json()
    assert [item["id"] for item in page1["results"]] == newest_first[:2]
    assert page1["previous"] is None
    page2 = api.get(page1["next"]).json()
    assert [item["id"] for item in page2["results"]] == newest_first[2:4]
    page3 = api.get(page2["next"]).json()
    assert [item["id"] for item in page3["results"]] == newest_first[4:]
    assert page3["next"] is None
    back = api.get(page3["previous"]).json()
    assert [item["id"] for item in back["results"]] == newest_first[2:4]


@pytest.mark.parametrize("params", [{"cursor": "!!!"}, {"cursor": "cD1ub3RhdXVpZA=="}, {"page_size": 0}])
def test_bad_pagination_parameters_are_422(api, org, params):
    ProjectFactory(organization=org)
    response = api.get("/api/v1/projects", params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_page_size_is_capped(api, org, user, settings):
    settings.API_MAX_PAGE_SIZE = 200
    for _ in range(3):
        ProjectRoleFactory(user=user, project__organization=org)
    body = api.get("/api/v1/projects", {"page_size": 10_000}).json()
    assert len(body["results"]) == 3


def test_organizations_lists_memberships_only(api, org):
    OrganizationFactory()
    body = api.get("/api/v1/organizations").json()
    assert [item["id"] for item in body["results"]] == [str(org.pk)]


def test_finance_summary_comes_from_the_ledger(api, org, user):
    project = ProjectRoleFactory(user=user, project__organization=org, role=ProjectRole.BENEFICIARY).project
    funding_record(
        actor=user,
        bucket=project.buckets.get(),
        amount=Money.parse("1048500.00", "USD"),
        source="lift_bond",
        received_on=dt.date(2026, 2, 12),
    )
    body = api.get(f"/api/v1/projects/{project.pk}/finance/summary").json()
    assert body["project_id"] == str(project.pk)
    [usd] = body["buckets"]
    assert usd["currency"] == "USD"
    assert usd["funded"] == {"amount": "1048500.00", "currency": "USD", "minor": 104850000}
    assert usd["available"]["amount"] == "1048500.00"
    for name in ("committed", "encumbered", "retention", "withheld", "disbursed", "pending"):
        assert usd[name]["minor"] == 0
    assert api.get(f"/api/v1/projects/{ProjectFactory().pk}/finance/summary").status_code == 404


@pytest.mark.parametrize(
    ("role", "sees_totals"),
    [
        (ProjectRole.VENDOR, False),
        (ProjectRole.PROCUREMENT, False),
        (ProjectRole.BENEFICIARY, True),
        (ProjectRole.AUDITOR, True),
        (ProjectRole.FINANCE_REVIEWER, True),
    ],
)
def test_funded_figures_need_project_view_totals(api, user, role, sees_totals):
    project = ProjectRoleFactory(user=user, role=role).project
    funding_record(
        actor=None,
        bucket=project.buckets.get(),
        amount=Money.parse("5000.00", "USD"),
        source="lift_bond",
        received_on=dt.date(2026, 2, 12),
    )
    expected = {"amount": "5000.00", "currency": "USD", "minor": 500000} if sees_totals else None
    [listed] = api.get("/api/v1/projects").json()["results"]
    assert listed["buckets"][0]["funded"] == expected
    assert api.get(f"/api/v1/projects/{project.pk}").json()["buckets"][0]["funded"] == expected
    summary = api.get(f"/api/v1/projects/{project.pk}/finance/summary")
    if sees_totals:
        assert summary.status_code == 200
        assert summary.json()["buckets"][0]["available"]["amount"] == "5000.00"
    else:
        assert summary.status_code == 403
        assert (summary.json()["code"], summary.json()["permission"]) == ("permission_denied", "project.view_totals")
        assert "5000" not in summary.content.decode()
