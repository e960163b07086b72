"""``/api/v1/projects/{id}/roles``: list, a user's roles, assign, revoke."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from payor.audit.models import AuditEvent
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import ROLE_PERMISSIONS, Perm
from payor.rbac.roles import ProjectRole, SystemRole
from payor.rbac.tests.conftest import linked_vendor, make_assignment, state, usd
from payor.testing.factories import UserFactory, VendorFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("payor.rbac.tests.urls")]

PM = ProjectRole.PROJECT_MANAGER
VENDOR = ProjectRole.VENDOR
PROBLEM = "application/problem+json"


def url(project, tail: str = "") -> str:
    project_id = project if isinstance(project, uuid.UUID) else project.pk
    return f"/api/v1/projects/{project_id}/roles{tail}"


def post(client: Client, path: str, body: dict, **headers):
    return client.post(path, data=body, content_type="application/json", headers=headers)


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


@pytest.fixture
def pm(holder):
    return holder(PM, limit=usd("10000.00"))


@pytest.fixture
def as_pm(pm, client_for) -> Client:
    return client_for(pm)


# -- authentication and visibility -----------------------------------------------------


def test_every_endpoint_needs_authentication(project):
    anonymous = Client()
    problem(anonymous.get(url(project)), 401, "not_authenticated")
    problem(anonymous.get(url(project, "/user/someone@example.test")), 401, "not_authenticated")
    problem(
        post(anonymous, url(project, "/assign"), {"email": "a@example.test", "role": "VENDOR"}),
        401,
        "not_authenticated",
    )
    problem(
        post(anonymous, url(project, "/revoke"), {"email": "a@example.test", "role": "VENDOR"}),
        401,
        "not_authenticated",
    )


def test_a_project_you_cannot_see_is_404_like_one_that_does_not_exist(holder, project, other_project, client_for):
    target = holder(ProjectRole.AUDITOR)
    # Not a member of other_project: same answer as for a project that does not exist, and nothing written.
    outsider = client_for(holder(PM, on=other_project))
    before = state()
    calls = {
        "list": lambda p: outsider.get(url(p)),
        "user": lambda p: outsider.get(url(p, f"/user/{target.pk}")),
        "assign": lambda p: post(outsider, url(p, "/assign"), {"user_id": str(target.pk), "role": "BENEFICIARY"}),
        "revoke": lambda p: post(outsider, url(p, "/revoke"), {"user_id": str(target.pk), "role": "AUDITOR"}),
    }
    for name, call in calls.items():
        hidden = problem(call(project), 404, "project_not_found")
        missing = problem(call(uuid.uuid4()), 404, "project_not_found")
        hidden.pop("instance"), missing.pop("instance"), hidden.pop("request_id"), missing.pop("request_id")
        assert hidden == missing, name
    assert state() == before


def test_a_user_with_no_role_anywhere_sees_nothing(project, client_for):
    nobody = client_for(UserFactory())
    problem(nobody.get(url(project)), 404, "project_not_found")


@pytest.mark.parametrize("role", [r for r in ProjectRole if Perm.ROLES_VIEW not in ROLE_PERMISSIONS[r]])
def test_visible_without_roles_view_is_403(holder, project, client_for, role):
    body = problem(client_for(holder(role)).get(url(project)), 403, "permission_denied")
    assert body["permission"] == "roles.view"


@pytest.mark.parametrize("role", [r for r in ProjectRole if Perm.ROLES_ASSIGN not in ROLE_PERMISSIONS[r]])
def test_assigning_without_roles_assign_is_403(holder, project, client_for, role):
    client = client_for(holder(role))
    target = holder(ProjectRole.BENEFICIARY)
    before = state()
    for action in ("/assign", "/revoke"):
        response = post(client, url(project, action), {"email": target.email, "role": "BENEFICIARY"})
        assert problem(response, 403, "permission_denied")["permission"] == "roles.assign"
    assert state() == before


# -- list ------------------------------------------------------------------------------------


def test_list_shows_the_active_assignments(project, other_project, pm, as_pm, admin):
    vendor_user = UserFactory(email="vendor@example.test", full_name="Vera Vendor")
    vendor_id = VendorFactory(organization=project.organization).pk
    vendor = make_assignment(project, vendor_user, VENDOR, vendor_id=vendor_id)
    vendor.granted_by = pm
    vendor.save()
    gone = make_assignment(project, UserFactory(), ProjectRole.AUDITOR)
    gone.revoked_at = gone.created_at
    gone.save()
    make_assignment(other_project, UserFactory(), ProjectRole.AUDITOR)  # another project's roles never show
    response = as_pm.get(url(project))
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(item["user"]["email"], item["role"]) for item in results] == [
        ("vendor@example.test", "VENDOR"),
        (pm.email, "PROJECT_MANAGER"),
    ]  # newest first
    assert results[0] == {
        "id": str(vendor.pk),
        "project_id": str(project.pk),
        "user": {"id": str(vendor_user.pk), "email": "vendor@example.test", "name": "Vera Vendor"},
        "role": "VENDOR",
        "approval_limit": None,
        "vendor_id": str(vendor_id),
        "granted_by": {"id": str(pm.pk), "email": pm.email, "name": pm.full_name},
        "granted_at": results[0]["granted_at"],
        "revoked_at": None,
        "revoked_by": None,
    }
    assert results[1]["approval_limit"] == {"amount": "10000.00", "currency": "USD", "minor": 1000000}


@pytest.mark.parametrize("role", [SystemRole.SYSTEM_AUDITOR, SystemRole.PLATFORM_ADMIN])
def test_system_readers_list_any_project(system_holder, project, pm, client_for, role):
    response = client_for(system_holder(role)).get(url(project))
    assert response.status_code == 200
    assert [item["user"]["id"] for item in response.json()["results"]] == [str(pm.pk)]


def test_treasury_managers_see_the_project_but_not_its_roles(system_holder, project, client_for):
    problem(client_for(system_holder(SystemRole.TREASURY_MANAGER)).get(url(project)), 403, "permission_denied")


# -- a user's roles ------------------------------------------------------------------------


def test_user_roles_by_id_and_email(project, pm, as_pm, holder):
    treasurer = holder(ProjectRole.TREASURER, limit=usd("50000.00"))
    make_assignment(project, treasurer, ProjectRole.AUDITOR)
    for who in (str(treasurer.pk), treasurer.email, treasurer.email.upper()):
        response = as_pm.get(url(project, f"/user/{who}"))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["user"]["id"] == str(treasurer.pk)
        assert body["project_id"] == str(project.pk)
        assert sorted(item["role"] for item in body["roles"]) == ["AUDITOR", "TREASURER"]
        expected = ROLE_PERMISSIONS[ProjectRole.TREASURER] | ROLE_PERMISSIONS[ProjectRole.AUDITOR]
        assert body["permissions"] == sorted(p.value for p in expected)


def test_everyone_reads_their_own_roles_but_only_roles_view_reads_others(project, holder, client_for, pm):
    vendor = holder(VENDOR)
    as_vendor = client_for(vendor)
    response = as_vendor.get(url(project, f"/user/{vendor.email}"))
    assert response.status_code == 200
    assert [item["role"] for item in response.json()["roles"]] == ["VENDOR"]
    assert response.json()["permissions"] == sorted(p.value for p in ROLE_PERMISSIONS[VENDOR])
    problem(as_vendor.get(url(project, f"/user/{pm.pk}")), 403, "permission_denied")


def test_unknown_users_and_users_without_roles_here_are_the_same_404(project, other_project, holder, as_pm):
    elsewhere = holder(PM, on=other_project)
    wallet = "0x" + "ab" * 20
    bodies = []
    for who in (elsewhere.email, str(elsewhere.pk), "nobody@example.test", str(uuid.uuid4()), wallet, "garbage"):
        body = problem(as_pm.get(url(project, f"/user/{who}")), 404, "user_not_found")
        bodies.append({key: value for key, value in body.items() if key not in ("instance", "request_id")})
    assert all(body == bodies[0] for body in bodies)


def test_without_roles_view_others_are_403_whether_or_not_they_exist(project, holder, client_for, pm):
    as_vendor = client_for(holder(VENDOR))
    for who in (pm.email, "nobody@example.test", str(uuid.uuid4()), "garbage"):
        problem(as_vendor.get(url(project, f"/user/{who}")), 403, "permission_denied")


def test_wallet_lookup_finds_the_user_who_linked_the_address(project, holder, as_pm):
    from payor.accounts.tests.siwe_helpers import key, link

    signer = holder(ProjectRole.DAO_MULTISIG)
    address = link(signer, key("rbac signer")).address
    digits = address[2:]
    for who in (address, "0x" + digits.lower(), "0x" + digits.upper()):
        response = as_pm.get(url(project, f"/user/{who}"))
        assert response.status_code == 200, response.content
        assert response.json()["user"]["id"] == str(signer.pk)
        assert [item["role"] for item in response.json()["roles"]] == ["DAO_MULTISIG"]
    # An address nobody linked, and the linked one with a broken EIP-55 checksum, find nobody (never a 500).
    broken = "0x" + "".join(ch.swapcase() if ch.isalpha() else ch for ch in digits)
    for who in ("0x52908400098527886E0F7030069857D2E4169EE7", broken):
        problem(as_pm.get(url(project, f"/user/{who}")), 404, "user_not_found")


# -- assign -----------------------------------------------------------------------------------


def test_assign_creates_then_repeats_as_a_no_op(project, pm, as_pm):
    target = UserFactory(email="v@example.test")
    vendor_id = str(linked_vendor(project, target).pk)
    body = {"email": "V@example.test", "role": "VENDOR", "vendor_id": vendor_id}
    count = AuditEvent.objects.count()
    created = post(as_pm, url(project, "/assign"), body)
    assert created.status_code == 201, created.content
    out = created.json()
    assert (out["user"]["id"], out["role"], out["vendor_id"], out["granted_by"]["id"]) == (
        str(target.pk),
        "VENDOR",
        vendor_id,
        str(pm.pk),
    )
    event = AuditEvent.objects.order_by("-seq").first()
    assert AuditEvent.objects.count() == count + 1
    assert (event.action, event.actor_id, event.subject_id) == ("role.assigned", pm.pk, out["id"])
    assert event.request_id == created["X-Request-ID"]

    again = post(as_pm, url(project, "/assign"), {**body, "email": None, "user_id": str(target.pk)})
    assert again.status_code == 200, again.content
    assert again.json()["id"] == out["id"]
    assert AuditEvent.objects.count() == count + 1
    assert ProjectRoleAssignment.objects.filter(user=target).count() == 1

    other_vendor = post(as_pm, url(project, "/assign"), {**body, "vendor_id": str(linked_vendor(project, target).pk)})
    problem(other_vendor, 409, "role_already_assigned")


def test_assign_with_an_approval_limit(project, admin, client_for):
    target = UserFactory()
    response = post(
        client_for(admin),
        url(project, "/assign"),
        {"user_id": str(target.pk), "role": "TREASURER", "approval_limit": {"amount": "25000.5", "currency": "usd"}},
    )
    assert response.status_code == 201, response.content
    assert response.json()["approval_limit"] == {"amount": "25000.50", "currency": "USD", "minor": 2500050}
    assert ProjectRoleAssignment.objects.get(user=target).approval_limit == usd("25000.50")


def test_an_idempotency_key_replays_the_first_answer(project, as_pm):
    UserFactory(email="b@example.test")
    body = {"email": "b@example.test", "role": "BENEFICIARY"}
    first = post(as_pm, url(project, "/assign"), body, **{"Idempotency-Key": "grant-b-1"})
    count = AuditEvent.objects.count()
    second = post(as_pm, url(project, "/assign"), body, **{"Idempotency-Key": "grant-b-1"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert AuditEvent.objects.count() == count


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "t@example.test", "role": "OVERLORD"}, 422, "validation_error"),
        ({"email": "t@example.test"}, 422, "validation_error"),
        ({"role": "BENEFICIARY"}, 422, "validation_error"),
        ({"email": "t@example.test", "user_id": "TARGET", "role": "BENEFICIARY"}, 422, "validation_error"),
        ({"email": "not-an-email", "role": "BENEFICIARY"}, 422, "validation_error"),
        ({"email": "t@example.test\u0000", "role": "BENEFICIARY"}, 422, "validation_error"),
        ({"user_id": "not-a-uuid", "role": "BENEFICIARY"}, 422, "validation_error"),
        ({"email": "t@example.test", "role": "VENDOR", "vendor_id": "nope"}, 422, "validation_error"),
        ({"email": "t@example.test", "role": "VENDOR"}, 422, "vendor_id_required"),
        (
            {"email": "t@example.test", "role": "BENEFICIARY", "approval_limit": {"amount": "1"}},
            422,
            "validation_error",
        ),
        (
            {"email": "t@example.test", "role": "TREASURER", "approval_limit": {"amount": "1e5", "currency": "USD"}},
            422,
            "money_invalid",
        ),
        (
            {"email": "t@example.test", "role": "TREASURER", "approval_limit": {"amount": "1.001", "currency": "USD"}},
            422,
            "money_invalid",
        ),
        (
            {"email": "t@example.test", "role": "TREASURER", "approval_limit": {"amount": "1", "currency": "XXX"}},
            422,
            "currency_unknown",
        ),
        (
            {"email": "t@example.test", "role": "TREASURER", "approval_limit": {"amount": "1", "currency": "EUR"}},
            422,
            "approval_limit_currency_mismatch",
        ),
        (
            {"email": "t@example.test", "role": "TREASURER", "approval_limit": {"amount": "-1", "currency": "USD"}},
            422,
            "approval_limit_invalid",
        ),
        (
            {"email": "t@example.test", "role": "AUDITOR", "approval_limit": {"amount": "1", "currency": "USD"}},
            422,
            "approval_limit_not_applicable",
        ),
        ({"email": "ghost@example.test", "role": "AUDITOR"}, 404, "user_not_found"),
        ({"user_id": "TARGET", "role": "AUDITOR"}, 200, None),  # placeholder replaced below: a valid grant
    ][:-1],
)
def test_invalid_assignments_change_nothing(project, admin, client_for, body, status, code):
    target = UserFactory(email="t@example.test")
    body = {key: (str(target.pk) if value == "TARGET" else value) for key, value in body.items()}
    client = client_for(admin)  # issuing its token is audited: take the snapshot after
    before = state()
    problem(post(client, url(project, "/assign"), body), status, code)
    assert state() == before


def test_escalation_and_self_assignment_are_refused(project, pm, as_pm):
    target = UserFactory()
    before = state()
    problem(
        post(as_pm, url(project, "/assign"), {"user_id": str(target.pk), "role": "TREASURER"}),
        403,
        "role_escalation_refused",
    )
    problem(
        post(as_pm, url(project, "/assign"), {"user_id": str(target.pk), "role": "PROJECT_MANAGER"}),
        403,
        "role_escalation_refused",
    )
    problem(
        post(as_pm, url(project, "/assign"), {"user_id": str(pm.pk), "role": "BENEFICIARY"}),
        403,
        "role_self_edit_refused",
    )
    problem(
        post(as_pm, url(project, "/revoke"), {"user_id": str(pm.pk), "role": "PROJECT_MANAGER"}),
        403,
        "role_self_edit_refused",
    )
    assert state() == before


# -- revoke -------------------------------------------------------------------------------------


def test_revoke_then_revoke_again(project, pm, as_pm, holder):
    beneficiary = holder(ProjectRole.BENEFICIARY)
    count = AuditEvent.objects.count()
    response = post(as_pm, url(project, "/revoke"), {"email": beneficiary.email, "role": "BENEFICIARY"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["revoked_at"] is not None
    assert body["revoked_by"]["id"] == str(pm.pk)
    assert AuditEvent.objects.count() == count + 1
    assert AuditEvent.objects.order_by("-seq").first().action == "role.revoked"
    problem(
        post(as_pm, url(project, "/revoke"), {"email": beneficiary.email, "role": "BENEFICIARY"}),
        404,
        "role_not_assigned",
    )
    # The revoked beneficiary no longer sees the project at all.
    problem(Client().get(url(project)), 401, "not_authenticated")


def test_revoke_escalation_is_refused(project, holder, as_pm):
    treasurer = holder(ProjectRole.TREASURER)
    before = state()
    problem(
        post(as_pm, url(project, "/revoke"), {"user_id": str(treasurer.pk), "role": "TREASURER"}),
        403,
        "role_escalation_refused",
    )
    problem(
        post(as_pm, url(project, "/revoke"), {"user_id": str(uuid.uuid4()), "role": "VENDOR"}), 404, "user_not_found"
    )
    assert state() == before


def test_revoked_users_lose_the_api_view(project, holder, client_for, admin):
    auditor = holder(ProjectRole.AUDITOR)
    as_auditor = client_for(auditor)
    assert as_auditor.get(url(project)).status_code == 200
    assert (
        post(client_for(admin), url(project, "/revoke"), {"user_id": str(auditor.pk), "role": "AUDITOR"}).status_code
        == 200
    )
    problem(as_auditor.get(url(project)), 404, "project_not_found")


def test_the_endpoints_are_documented(client_for, admin):
    response = client_for(admin).get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/v1/projects/{project_id}/roles",
        "/api/v1/projects/{project_id}/roles/user/{who}",
        "/api/v1/projects/{project_id}/roles/assign",
        "/api/v1/projects/{project_id}/roles/revoke",
    } <= set(paths)
    assert set(paths["/api/v1/projects/{project_id}/roles/assign"]["post"]["responses"]) >= {"200", "201", "403", "409"}
