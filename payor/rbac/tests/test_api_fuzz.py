"""Whatever a client sends to the roles endpoints, the answer is never a server error, and errors are problems."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payor.rbac.roles import ProjectRole

pytestmark = [pytest.mark.django_db, pytest.mark.urls("payor.rbac.tests.urls")]

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
plausible = {
    "user_id": st.uuids().map(str) | json_values,
    "email": st.emails() | st.text(max_size=40),
    "role": st.sampled_from([r.value for r in ProjectRole]) | st.text(max_size=20),
    "approval_limit": st.none()
    | st.fixed_dictionaries(
        {
            "amount": st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{0,8})?", fullmatch=True) | st.text(max_size=20),
            "currency": st.sampled_from(["USD", "usd", "EUR", "JPY", "USDC", "XXX", ""]) | st.text(max_size=12),
        }
    )
    | json_values,
    "vendor_id": st.none() | st.uuids().map(str) | json_values,
}
bodies = st.fixed_dictionaries({}, optional=plausible) | json_values


def assert_no_server_error(response) -> None:
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, action=st.sampled_from(["/assign", "/revoke"]))
def test_any_body(admin, project, client_for, body, action):
    response = client_for(admin).post(
        f"/api/v1/projects/{project.pk}/roles{action}", data=body, content_type="application/json"
    )
    assert_no_server_error(response)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(who=st.text(min_size=1, max_size=300).filter(lambda s: "/" not in s and "?" not in s and "#" not in s))
def test_any_user_reference(admin, project, client_for, who):
    from urllib.parse import quote

    assert_no_server_error(client_for(admin).get(f"/api/v1/projects/{project.pk}/roles/user/{quote(who)}"))
