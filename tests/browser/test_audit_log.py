"""An auditor opens the audit log from the sidebar, filters it live, expands an event's diff; screenshots saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from payor.core.money import Money
from payor.rbac.roles import ProjectRole
from payor.rbac.services import role_assign, role_revoke, role_set_limit
from payor.testing.factories import TEST_PASSWORD, ProjectFactory, UserFactory
from tests.browser.test_sign_in_and_projects import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


@pytest.fixture
def audited():
    """Real role changes on two projects, made by a platform admin; the auditor audits only Klamath."""
    klamath = ProjectFactory(name="Klamath riparian")
    willamette = ProjectFactory(name="Willamette floodplain")
    admin = UserFactory(email="admin@orenna.test", full_name="Ada Admin", is_superuser=True, password=None)
    auditor = UserFactory(email="auditor@orenna.test", full_name="Aurelio Auditor")
    treasurer = UserFactory(email="treasurer@orenna.test", full_name="Tess Treasurer", password=None)
    pm = UserFactory(email="pm@orenna.test", full_name="Pat Manager", password=None)
    role_assign(actor=admin, project=klamath, user=auditor, role=ProjectRole.AUDITOR)
    role_assign(actor=admin, project=klamath, user=pm, role=ProjectRole.PROJECT_MANAGER, approval_limit=usd("10000.00"))
    role_assign(
        actor=admin, project=klamath, user=treasurer, role=ProjectRole.TREASURER, approval_limit=usd("10000.00")
    )
    role_set_limit(
        actor=admin, project=klamath, user=treasurer, role=ProjectRole.TREASURER, approval_limit=usd("50000.00")
    )
    role_assign(actor=admin, project=willamette, user=pm, role=ProjectRole.TREASURER, approval_limit=usd("75000.00"))
    role_revoke(actor=admin, project=klamath, user=pm, role=ProjectRole.PROJECT_MANAGER)
    return auditor


def test_an_auditor_filters_the_log_and_reads_a_diff(page, live_server, audited):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server, audited.email, TEST_PASSWORD)
    page.wait_for_url(f"{live_server.url}/projects/")

    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"{live_server.url}/audit/")
    rows = page.locator("#audit-rows table.audit-table > tbody > tr:not(.audit-details)")
    assert rows.count() == 5  # Klamath's five role changes; Willamette's grant is not the auditor's to read
    assert page.get_by_text("Willamette floodplain").count() == 0
    assert page.get_by_text("$75,000.00").count() == 0
    assert page.get_by_text("Hash recomputes").is_visible()

    # Live filter: typing an action family swaps the rows without a page load and lands in the address bar.
    page.evaluate("window.__samePage = true")
    page.get_by_label("Action").fill("role.limit_changed")
    page.get_by_text("Role assigned").first.wait_for(state="detached")
    assert rows.count() == 1
    assert page.evaluate("window.__samePage") is True
    assert "action=role.limit_changed" in page.url
    export = page.get_by_role("link", name="Export CSV")
    assert "action=role.limit_changed" in export.get_attribute("href")

    # Expand the event: the limit change reads field by field, amounts formatted.
    toggle = rows.first.get_by_role("button")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.focus()
    page.keyboard.press("Enter")
    diff = page.locator("table.audit-diff").first
    diff.wait_for(state="visible")
    assert toggle.get_attribute("aria-expanded") == "true"
    limit_line = diff.locator("tr", has_text="approval_limit")
    assert limit_line.get_by_text("$10,000.00").is_visible()
    assert limit_line.get_by_text("$50,000.00").is_visible()
    assert limit_line.get_by_text("changed").is_visible()
    page.screenshot(path=str(ARTIFACTS / "audit-log.png"), full_page=True)

    # Phone width: the page still works (filters stacked, table scrolls, the diff opens).
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "audit-log-phone.png"), full_page=True)
    assert diff.is_visible()
    page.set_viewport_size({"width": 1280, "height": 860})
