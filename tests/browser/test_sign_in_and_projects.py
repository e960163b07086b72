from __future__ import annotations

import datetime as dt

import pytest

from payor.core.money import Money
from payor.projects.services import funding_record
from payor.rbac.roles import ProjectRole
from payor.testing.factories import TEST_PASSWORD, ProjectFactory, ProjectRoleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, live_server, email: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')


def test_sign_in_filter_projects_and_open_one(page, live_server, user, org):
    klamath = ProjectFactory(organization=org, name="Klamath riparian")
    willamette = ProjectFactory(organization=org, name="Willamette floodplain")
    for project in (klamath, willamette):
        ProjectRoleFactory(user=user, project=project, role=ProjectRole.FINANCE_REVIEWER)
    funding_record(
        actor=user,
        bucket=klamath.buckets.get(),
        amount=Money.parse("750000.00", "USD"),
        source="lift_bond",
        received_on=dt.date(2026, 2, 12),
        reference="Lift Bond series KR-1",
    )

    sign_in(page, live_server, user.email, TEST_PASSWORD)
    page.wait_for_url(f"{live_server.url}/projects/")
    assert page.get_by_text("Klamath riparian").is_visible()
    assert page.get_by_text("Willamette floodplain").is_visible()

    # HTMX: typing in the search box swaps the rows without a page load,
    # and the filter lands in the address bar so it can be shared or bookmarked.
    page.evaluate("window.__samePage = true")
    page.fill('input[name="q"]', "willa")
    page.get_by_text("Klamath riparian").wait_for(state="detached")
    assert page.get_by_text("Willamette floodplain").is_visible()
    assert page.evaluate("window.__samePage") is True
    assert "q=willa" in page.url

    page.fill('input[name="q"]', "")
    page.get_by_text("Klamath riparian").click()
    page.wait_for_url(f"{live_server.url}/projects/{klamath.pk}/")
    assert page.get_by_text("Lift Bond series KR-1").is_visible()
    assert page.get_by_text("$750,000.00").first.is_visible()


def test_wrong_password_shows_an_error_and_stays_signed_out(page, live_server, user):
    sign_in(page, live_server, user.email, "not the password")
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url
    assert page.locator("form").get_by_text("not correct", exact=False).is_visible()
    page.goto(f"{live_server.url}/projects/")
    assert "/accounts/login/" in page.url
