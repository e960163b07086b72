"""``/api/v1/projects/{id}/budget-lines`` and ``/api/v1/budget-lines/{id}``: the tree, writes, and who may do what."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.audit.models import AuditEvent
from payor.projects.models import BudgetLine
from payor.projects.tests.conftest import budget_state, commit_on, grant, usd
from payor.rbac.models import SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.testing.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def client_for(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def tree_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/budget-lines"


def line_url(line, tail: str = "") -> str:
    return f"/api/v1/budget-lines/{line.pk if isinstance(line, BudgetLine) else line}{tail}"


def money(amount: str) -> dict:
    return {"amount": amount, "currency": "USD"}


def patch(client: Client, url: str, body: dict):
    return client.patch(url, data=body, content_type="application/json")


def post(client: Client, url: str, body: dict | None = None):
    return client.post(url, data=body or {}, content_type="application/json")


def test_the_tree_comes_nested_with_exact_figures(funded, pm, make_line):
    site = make_line("1", "1000.00")
    dig = make_line("1.1", "400.00", parent=site)
    make_line("1.2", "600.00", parent=site)
    make_line("2", "0.00")
    commit_on(funded, {dig: "123.45"})
    response = client_for(pm).get(tree_url(funded))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["project_id"], body["currency"]) == (str(funded.pk), "USD")
    assert body["totals"]["cap"] == {"amount": "1000.00", "currency": "USD", "minor": 100000}
    assert body["totals"]["used"]["amount"] == "123.45"
    assert [line["wbs_code"] for line in body["lines"]] == ["1", "2"]
    root = body["lines"][0]
    assert (root["depth"], root["parent_id"], root["archived_at"]) == (1, None, None)
    assert [child["wbs_code"] for child in root["children"]] == ["1.1", "1.2"]
    leaf = root["children"][0]
    assert leaf["parent_id"] == str(site.pk)
    assert leaf["children"] == []
    figures = {name: value["amount"] if isinstance(value, dict) else value for name, value in leaf["figures"].items()}
    assert figures == {
        "cap": "400.00",
        "children_cap": "0.00",
        "committed": "123.45",
        "encumbered": "0.00",
        "retention": "0.00",
        "withheld": "0.00",
        "pending": "0.00",
        "disbursed": "0.00",
        "used": "123.45",
        "actual": "0.00",
        "remaining": "276.55",
        "variance": "400.00",
        "percent_used": "30.86",
    }
    assert root["figures"]["committed"]["amount"] == "123.45"
    assert root["figures"]["children_cap"]["amount"] == "1000.00"
    assert body["lines"][1]["figures"]["percent_used"] is None  # zero cap


def test_create_read_update_archive_round_trip(funded, pm):
    api = client_for(pm)
    response = post(api, tree_url(funded), {"wbs_code": "1", "description": "Site works", "cap": money("1000.00")})
    assert response.status_code == 201, response.content
    site = response.json()
    assert (site["wbs_code"], site["description"], site["figures"]["cap"]["amount"]) == ("1", "Site works", "1000.00")
    response = post(
        api,
        tree_url(funded),
        {"wbs_code": "1.a", "description": "Prep", "cap": money("250.00"), "parent_id": site["id"], "position": 3},
    )
    assert response.status_code == 201, response.content
    child = response.json()
    assert (child["wbs_code"], child["parent_id"], child["position"], child["depth"]) == ("1.A", site["id"], 3, 2)

    response = api.get(line_url(site["id"]))
    assert response.status_code == 200
    assert [c["wbs_code"] for c in response.json()["children"]] == ["1.A"]
    assert response.json()["figures"]["children_cap"]["amount"] == "250.00"

    response = patch(api, line_url(child["id"]), {"cap": money("300.00"), "description": "Site preparation"})
    assert response.status_code == 200, response.content
    assert (response.json()["description"], response.json()["figures"]["cap"]["amount"]) == (
        "Site preparation",
        "300.00",
    )
    response = post(api, line_url(child["id"], "/archive"))
    assert response.status_code == 200, response.content
    assert response.json()["archived_at"] is not None
    assert post(api, line_url(child["id"], "/archive")).json()["archived_at"] == response.json()["archived_at"]


def test_refusals_are_problems_with_stable_codes_and_change_nothing(funded, pm, make_line):
    api = client_for(pm)
    site = make_line("1", "1000.00")
    leaf = make_line("1.1", "600.00", parent=site)
    commit_on(funded, {leaf: "500.00"})
    before = budget_state()
    cases = [
        (
            post(api, tree_url(funded), {"wbs_code": "1.x!", "description": "d", "cap": money("1")}),
            422,
            "budget_wbs_code_invalid",
        ),
        (
            post(api, tree_url(funded), {"wbs_code": "1", "description": "d", "cap": money("1")}),
            409,
            "budget_wbs_code_taken",
        ),
        (
            post(
                api,
                tree_url(funded),
                {"wbs_code": "1.2", "description": "d", "cap": money("400.01"), "parent_id": str(site.pk)},
            ),
            409,
            "budget_children_exceed_parent",
        ),
        (
            post(
                api,
                tree_url(funded),
                {"wbs_code": "1.1.1", "description": "d", "cap": money("1"), "parent_id": str(leaf.pk)},
            ),
            409,
            "budget_line_has_activity",
        ),
        (
            post(
                api, tree_url(funded), {"wbs_code": "3", "description": "d", "cap": {"amount": "1", "currency": "EUR"}}
            ),
            422,
            "budget_currency_mismatch",
        ),
        (
            post(
                api,
                tree_url(funded),
                {"wbs_code": "3.1", "description": "d", "cap": money("1"), "parent_id": str(uuid.uuid4())},
            ),
            422,
            "budget_parent_invalid",
        ),
        (
            post(api, tree_url(funded), {"wbs_code": "3", "description": "d", "cap": money("1.001")}),
            422,
            "money_invalid",
        ),
        (
            # Beyond the API's bound (10^17 minor units): refused before it can overflow a BIGINT sum.
            post(api, tree_url(funded), {"wbs_code": "3", "description": "d", "cap": money("1000000000000000.01")}),
            422,
            "money_invalid",
        ),
        (post(api, tree_url(funded), {"wbs_code": "3", "description": "", "cap": money("1")}), 422, "validation_error"),
        (patch(api, line_url(leaf), {"cap": money("499.99")}), 409, "budget_cap_below_used"),
        (patch(api, line_url(site), {"cap": money("599.99")}), 409, "budget_children_exceed_parent"),
        (patch(api, line_url(leaf), {"cap": money("-1.00")}), 422, "budget_cap_invalid"),
        (post(api, line_url(leaf, "/archive")), 409, "budget_line_in_use"),
        (api.get(line_url(uuid.uuid4())), 404, "budget_line_not_found"),
        (patch(api, line_url(uuid.uuid4()), {"description": "x"}), 404, "budget_line_not_found"),
        (api.get(tree_url(ProjectFactory())), 404, "project_not_found"),
    ]
    for response, status, code in cases:
        problem(response, status, code)
    body = problem(patch(api, line_url(leaf), {"cap": money("499.99")}), 409, "budget_cap_below_used")
    assert body["used"] == {"amount": "500.00", "currency": "USD", "minor": 50000}
    assert budget_state() == before


def test_every_endpoint_needs_authentication(project, make_line):
    line = make_line("1", "10.00")
    anonymous = Client()
    for response in (
        anonymous.get(tree_url(project)),
        post(anonymous, tree_url(project), {"wbs_code": "2", "description": "d", "cap": money("1")}),
        anonymous.get(line_url(line)),
        patch(anonymous, line_url(line), {"description": "x"}),
        post(anonymous, line_url(line, "/archive")),
    ):
        problem(response, 401, "not_authenticated")


READ_WRITE = {"read": 200, "write": "ok"}
READ_ONLY = {"read": 200, "write": 403}
NOTHING = {"read": 403, "write": 403}
HIDDEN = {"read": 404, "write": 404}

#: What each role may do with budget lines: the PM manages them (seed 004: "create budgets/POs"), finance,
#: procurement and auditors read them, vendors and beneficiaries see the project but not its budget.
EXPECTED = {
    ProjectRole.PROJECT_MANAGER: READ_WRITE,
    ProjectRole.FINANCE_REVIEWER: READ_ONLY,
    ProjectRole.TREASURER: READ_ONLY,
    ProjectRole.DAO_MULTISIG: READ_ONLY,
    ProjectRole.AUDITOR: READ_ONLY,
    ProjectRole.PROCUREMENT: READ_ONLY,
    ProjectRole.VENDOR: NOTHING,
    ProjectRole.BENEFICIARY: NOTHING,
    SystemRole.PLATFORM_ADMIN: READ_WRITE,
    SystemRole.SYSTEM_AUDITOR: READ_ONLY,
    SystemRole.TREASURY_MANAGER: NOTHING,
    "outsider": HIDDEN,
}


def holder(project, who) -> User:
    user = UserFactory()
    if isinstance(who, ProjectRole):
        grant(project, user, who)
    elif isinstance(who, SystemRole):
        SystemRoleAssignment.objects.create(user=user, role=who)
    else:  # a PM elsewhere: the project is not visible
        grant(ProjectFactory(currency="USD"), user, ProjectRole.PROJECT_MANAGER)
    return user


@pytest.mark.parametrize("who", list(EXPECTED), ids=str)
def test_each_role_on_each_endpoint(project, make_line, who):
    expected = EXPECTED[who]
    api = client_for(holder(project, who))
    target = make_line("1", "100.00")
    other = make_line("2", "100.00")

    # Reads: the tree and one line.
    for response in (api.get(tree_url(project)), api.get(line_url(target))):
        if expected["read"] == 200:
            assert response.status_code == 200, (who, response.content)
        elif expected["read"] == 403:
            assert problem(response, 403, "permission_denied")["permission"] == "budget.view"
        else:
            code = "project_not_found" if "/projects/" in response.wsgi_request.path else "budget_line_not_found"
            problem(response, 404, code)

    # Writes: create, update, archive.
    before = budget_state()
    responses = (
        post(api, tree_url(project), {"wbs_code": "3", "description": "New", "cap": money("5.00")}),
        patch(api, line_url(target), {"cap": money("90.00")}),
        post(api, line_url(other, "/archive")),
    )
    if expected["write"] == "ok":
        assert [r.status_code for r in responses] == [201, 200, 200], [r.content for r in responses]
        assert BudgetLine.objects.get(pk=target.pk).cap == usd("90.00")
        assert BudgetLine.objects.get(pk=other.pk).is_archived
        return
    for response in responses:
        if expected["write"] == 403:
            assert problem(response, 403, "permission_denied")["permission"] == "budget.manage"
        else:
            code = "project_not_found" if "/projects/" in response.wsgi_request.path else "budget_line_not_found"
            problem(response, 404, code)
    assert budget_state() == before


def test_the_api_writes_are_audited_with_the_request(project, pm):
    response = post(
        client_for(pm),
        tree_url(project),
        {"wbs_code": "7", "description": "Contingency", "cap": money("10.00")},
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(action="budget_line.created")
    assert event.actor_id == pm.pk
    assert event.request_id == response["X-Request-ID"]
    assert event.after["description"] == "Contingency"
