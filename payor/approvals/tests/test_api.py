"""``GET/PUT /api/v1/projects/{id}/approval-matrix``."""

from __future__ import annotations

import pytest
from django.test import Client

from payor.accounts.services import api_token_create
from payor.approvals.services import approval_matrix_ensure
from payor.approvals.tests.conftest import DAO, FIN, PM, TREAS, person, state
from payor.audit.models import AuditEvent
from payor.rbac.roles import ProjectRole
from payor.testing.factories import MembershipFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("payor.approvals.tests.urls")]


def client_for(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def url(project) -> str:
    return f"/api/v1/projects/{project.pk}/approval-matrix"


def money(amount: str, currency: str = "USD", minor: int | None = None) -> dict[str, object]:
    out: dict[str, object] = {"amount": amount, "currency": currency}
    if minor is not None:
        out["minor"] = minor
    return out


def one(role: str) -> dict[str, object]:
    return {"role": role, "signers_required": 1, "signers_of": 1}


def put(client: Client, project, body: dict[str, object]):
    return client.put(url(project), data=body, content_type="application/json")


NEW_BODY = {
    "version": 1,
    "bands": [
        {
            "lower": money("0.00"),
            "upper": money("20000.00"),
            "stages": [{"role": "PROJECT_MANAGER"}, {"role": "FINANCE_REVIEWER"}],
        },
        {
            "lower": money("20000.00"),
            "upper": None,
            "stages": [
                {"role": "PROJECT_MANAGER"},
                {"role": "TREASURER"},
                {"role": "DAO_MULTISIG", "signers_required": 2, "signers_of": 3},
            ],
        },
    ],
}


@pytest.fixture
def dao(grant):
    return grant("dao@example.test", DAO)


def test_get_returns_the_defaults(project, grant):
    viewer = grant("auditor@example.test", ProjectRole.AUDITOR)
    response = client_for(viewer).get(url(project))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body.pop("updated_at")
    assert body == {
        "project_id": str(project.pk),
        "currency": "USD",
        "version": 1,
        "updated_by_id": None,
        "bands": [
            {
                "position": 1,
                "lower": money("0.00", minor=0),
                "upper": money("10000.00", minor=1_000_000),
                "stages": [one("PROJECT_MANAGER"), one("FINANCE_REVIEWER")],
            },
            {
                "position": 2,
                "lower": money("10000.00", minor=1_000_000),
                "upper": money("50000.00", minor=5_000_000),
                "stages": [one("PROJECT_MANAGER"), one("FINANCE_REVIEWER"), one("TREASURER")],
            },
            {
                "position": 3,
                "lower": money("50000.00", minor=5_000_000),
                "upper": None,
                "stages": [
                    one("PROJECT_MANAGER"),
                    one("FINANCE_REVIEWER"),
                    one("TREASURER"),
                    {"role": "DAO_MULTISIG", "signers_required": 2, "signers_of": 3},
                ],
            },
        ],
    }


def test_get_needs_a_visible_project_and_the_view_permission(project, grant):
    stranger = person("stranger@example.test")
    response = client_for(stranger).get(url(project))
    assert (response.status_code, response.json()["code"]) == (404, "project_not_found")

    # Membership of the project's organization shows nothing: visibility comes from roles.
    member_without_role = person("member@example.test")
    MembershipFactory(organization=project.organization, user=member_without_role)
    response = client_for(member_without_role).get(url(project))
    assert (response.status_code, response.json()["code"]) == (404, "project_not_found")

    beneficiary = grant("beneficiary@example.test", ProjectRole.BENEFICIARY)
    response = client_for(beneficiary).get(url(project))
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")

    missing = ProjectFactory.build().pk
    response = client_for(beneficiary).get(f"/api/v1/projects/{missing}/approval-matrix")
    assert (response.status_code, response.json()["code"]) == (404, "project_not_found")


def test_dao_multisig_puts_a_new_matrix(project, dao):
    client = client_for(dao)
    assert client.get(url(project)).status_code == 200
    events = AuditEvent.objects.count()
    response = put(client, project, NEW_BODY)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["version"], body["updated_by_id"]) == (2, str(dao.pk))
    assert [
        (b["position"], b["lower"]["amount"], b["upper"] and b["upper"]["amount"], b["stages"]) for b in body["bands"]
    ] == [
        (1, "0.00", "20000.00", [one("PROJECT_MANAGER"), one("FINANCE_REVIEWER")]),
        (
            2,
            "20000.00",
            None,
            [
                one("PROJECT_MANAGER"),
                one("TREASURER"),
                {"role": "DAO_MULTISIG", "signers_required": 2, "signers_of": 3},
            ],
        ),
    ]
    assert client.get(url(project)).json()["bands"] == body["bands"]
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor_id, event.project_id) == ("approval_matrix.updated", dao.pk, project.pk)
    assert (event.before["version"], event.after["version"]) == (1, 2)
    assert event.after["bands"][1]["lower"] == money("20000.00")
    assert event.request_id  # the API request is on the record


@pytest.mark.parametrize(
    "roles",
    [(PM,), (FIN,), (TREAS,), (ProjectRole.AUDITOR,), (ProjectRole.PROCUREMENT,), (PM, FIN, TREAS)],
    ids=lambda roles: "+".join(roles),
)
def test_put_by_any_other_role_is_403_and_changes_nothing(project, grant, roles):
    user = grant("not-dao@example.test", *roles)
    client = client_for(user)
    approval_matrix_ensure(project=project)
    before = state(project)
    response = put(client, project, NEW_BODY)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert response.json()["permission"] == "approval_matrix.update"
    assert state(project) == before


def test_put_by_a_platform_admin_is_403(project, admin):
    response = put(client_for(admin), project, NEW_BODY)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert state(project) == (None, AuditEvent.objects.count())


def test_put_with_a_stale_version_is_409(project, dao):
    client = client_for(dao)
    assert put(client, project, NEW_BODY).status_code == 200
    before = state(project)
    response = put(client, project, NEW_BODY | {"bands": NEW_BODY["bands"][1:]})
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["current_version"]) == ("approval_matrix_version_conflict", 2)
    assert state(project) == before


def test_invalid_matrix_is_422_with_the_band(project, dao):
    client = client_for(dao)
    client.get(url(project))
    before = state(project)
    gap = {"version": 1, "bands": [NEW_BODY["bands"][0], {**NEW_BODY["bands"][1], "lower": money("20000.01")}]}
    response = put(client, project, gap)
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["band"]) == ("approval_matrix_gap", 2)
    signers = {
        "version": 1,
        "bands": [
            {
                "lower": money("0.00"),
                "upper": None,
                "stages": [{"role": "DAO_MULTISIG", "signers_required": 4, "signers_of": 3}],
            }
        ],
    }
    response = put(client, project, signers)
    assert (response.status_code, response.json()["code"]) == (422, "approval_matrix_signers_invalid")
    eur = {"version": 1, "bands": [{"lower": money("0.00", "EUR"), "upper": None, "stages": [{"role": "TREASURER"}]}]}
    response = put(client, project, eur)
    assert (response.status_code, response.json()["code"]) == (422, "approval_matrix_currency_mismatch")
    assert state(project) == before


@pytest.mark.parametrize(
    ("lower", "code"),
    [
        ({"amount": 0.0, "currency": "USD"}, "validation_error"),  # a JSON number is never an amount
        ({"amount": "0.001", "currency": "USD"}, "money_invalid"),
        ({"amount": "1e3", "currency": "USD"}, "money_invalid"),
        ({"amount": "0", "currency": "DOGE"}, "currency_unknown"),
    ],
)
def test_malformed_amounts_are_422(project, dao, lower, code):
    body = {"version": 1, "bands": [{"lower": lower, "upper": None, "stages": [{"role": "TREASURER"}]}]}
    response = put(client_for(dao), project, body)
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert state(project) == (None, AuditEvent.objects.count())


def test_put_needs_authentication(project):
    response = Client().put(url(project), data=NEW_BODY, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_the_endpoints_are_documented(api):
    schema = api.get("/api/v1/openapi.json").json()
    operations = schema["paths"]["/api/v1/projects/{project_id}/approval-matrix"]
    assert set(operations) == {"get", "put"}
    assert operations["put"]["tags"] == ["approval matrix"]
    assert {"200", "403", "404", "409", "422"} <= set(operations["put"]["responses"])
