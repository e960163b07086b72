from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import Client

from payor.core.money import Money
from payor.ledger import services as ledger
from payor.projects.services import funding_record
from payor.rbac.roles import ProjectRole
from payor.testing.factories import TEST_PASSWORD, ProjectFactory, ProjectRoleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=TEST_PASSWORD)
    return client


def test_sign_in_page_and_email_password_login(user):
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="login"' in page.content
    assert b'name="password"' in page.content
    response = client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/projects/"
    assert client.get("/projects/").status_code == 200


def test_wrong_password_is_refused(user):
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    assert response.status_code == 200
    assert client.get("/projects/").status_code == 302


def test_public_signup_is_closed():
    response = Client().get("/accounts/signup/")
    assert response.status_code == 200
    assert b'name="password1"' not in response.content


def test_pages_need_login():
    response = Client().get("/projects/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def held(user, role=ProjectRole.PROJECT_MANAGER, **project_fields):
    """A project on which ``user`` holds ``role``."""
    return ProjectRoleFactory(user=user, role=role, **{f"project__{k}": v for k, v in project_fields.items()}).project


def test_projects_list_shows_own_projects_with_funding(signed_in, org, user):
    mine = held(user, organization=org, name="Klamath riparian")
    ProjectFactory(name="Someone else's project")
    ProjectFactory(organization=org, name="Same organization without a role")
    funding_record(
        actor=user,
        bucket=mine.buckets.get(),
        amount=Money.parse("750000.00", "USD"),
        source="lift_bond",
        received_on=dt.date(2026, 2, 12),
    )
    page = signed_in.get("/projects/")
    assert page.status_code == 200
    assert b"Klamath riparian" in page.content
    assert b"$750,000.00" in page.content
    assert b"Someone else" not in page.content
    assert b"Same organization" not in page.content


def test_htmx_filter_returns_only_the_rows_fragment(signed_in, org, user):
    held(user, organization=org, name="Klamath riparian")
    held(user, organization=org, name="Willamette floodplain")
    fragment = signed_in.get("/projects/", {"q": "willa"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert b"Willamette floodplain" in fragment.content
    assert b"Klamath riparian" not in fragment.content


def test_project_page_and_foreign_project_404(signed_in, org, user):
    mine = held(user, organization=org, name="Klamath riparian")
    funding_record(
        actor=user,
        bucket=mine.buckets.get(),
        amount=Money.parse("250000.00", "USD"),
        source="treasury_allocation",
        received_on=dt.date(2026, 4, 1),
        reference="Treasury allocation Q2",
    )
    page = signed_in.get(f"/projects/{mine.pk}/")
    assert page.status_code == 200
    assert b"Treasury allocation Q2" in page.content
    assert b"$250,000.00" in page.content
    assert signed_in.get(f"/projects/{ProjectFactory().pk}/").status_code == 404
    assert signed_in.get(f"/projects/{ProjectFactory(organization=org).pk}/").status_code == 404


def test_static_assets_are_vendored_and_served(signed_in):
    page = signed_in.get("/projects/").content.decode()
    assert "https://" not in page.split("<body")[0]  # no CDN in <head>
    assert "/static/vendor/" in page


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/password/reset/", "/accounts/password/reset/done/", "/accounts/signup/"]
)
def test_anonymous_account_pages_render(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert b"/static/vendor/tabler-core/css/tabler.min.css" in response.content


@pytest.mark.parametrize(
    "path", ["/accounts/2fa/", "/accounts/password/change/", "/accounts/email/", "/accounts/logout/"]
)
def test_signed_in_account_pages_render_in_the_app_shell(signed_in, path):
    response = signed_in.get(path)
    assert response.status_code == 200
    assert b'id="project-filters"' not in response.content
    assert b"Sign out" in response.content


def test_unknown_page_renders_the_404_template(signed_in):
    response = signed_in.get("/no-such-page/")
    assert response.status_code == 404
    assert b"/static/vendor/" in response.content


def test_htmx_responses_vary_on_hx_request(signed_in):
    assert "HX-Request" in signed_in.get("/projects/")["Vary"]


def test_project_page_shows_ledger_balances(signed_in, org, user):
    project = held(user, organization=org)
    bucket = project.buckets.get()
    funding_record(
        actor=user,
        bucket=bucket,
        amount=Money.parse("1000.00", "USD"),
        source="lift_bond",
        received_on=dt.date(2026, 1, 5),
    )
    ledger.commit(
        party=ledger.Party(bucket=bucket, contract_id=uuid.uuid4(), vendor_id=uuid.uuid4()),
        lines=[ledger.Line(Money.parse("250.00", "USD"))],
        key="contract:demo",
    )
    page = signed_in.get(f"/projects/{project.pk}/").content.decode()
    assert "$750.00" in page  # available
    assert "Available of $1,000.00 funded" in page
    assert "Committed" in page
    assert "$250.00" in page


def test_what_each_role_sees_of_a_project(org):
    project = ProjectFactory(organization=org, name="Klamath riparian")
    funding_record(
        actor=None,
        bucket=project.buckets.get(),
        amount=Money.parse("250000.00", "USD"),
        source="treasury_allocation",
        received_on=dt.date(2026, 4, 1),
        reference="Treasury allocation Q2",
    )
    seen = {}
    for role in (ProjectRole.VENDOR, ProjectRole.BENEFICIARY, ProjectRole.AUDITOR, ProjectRole.PROCUREMENT):
        viewer = UserFactory()
        ProjectRoleFactory(user=viewer, project=project, role=role)
        client = Client()
        client.force_login(viewer)
        listing = client.get("/projects/").content.decode()
        page = client.get(f"/projects/{project.pk}/").content.decode()
        assert "Klamath riparian" in listing
        assert "Klamath riparian" in page
        assert role.label in page  # "Your roles"
        seen[role] = ("$250,000.00" in listing, "$250,000.00" in page, "Treasury allocation Q2" in page)
    assert seen == {
        # A vendor and procurement see the project, never its treasury figures or funding records.
        ProjectRole.VENDOR: (False, False, False),
        ProjectRole.PROCUREMENT: (False, False, False),
        # A beneficiary sees project totals only.
        ProjectRole.BENEFICIARY: (True, True, False),
        ProjectRole.AUDITOR: (True, True, True),
    }
