"""Whatever a budget manager sends to the budget endpoints, the answer is never a server error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from payor.projects.tests.test_budget_api import client_for

pytestmark = pytest.mark.django_db

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
money = st.fixed_dictionaries(
    {
        "amount": st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{0,8})?", fullmatch=True) | st.text(max_size=20),
        "currency": st.sampled_from(["USD", "usd", "EUR", "USDC", "XXX", ""]) | st.text(max_size=12),
    }
)
plausible = {
    "wbs_code": st.from_regex(r"[0-9A-Za-z]{1,11}(\.[0-9A-Za-z]{1,11}){0,9}", fullmatch=True) | st.text(max_size=20),
    "description": st.text(max_size=600),
    "cap": money | json_values,
    "parent_id": st.none() | st.uuids().map(str) | json_values,
    "position": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
}
bodies = st.fixed_dictionaries({}, optional=plausible) | json_values


def assert_no_server_error(response) -> None:
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, as_child=st.booleans())
@example(body={"wbs_code": "2", "description": "d", "cap": {"amount": "9" * 25, "currency": "USD"}}, as_child=False)
def test_any_create_body(project, pm, make_line, body, as_child):
    if as_child and isinstance(body, dict):
        parent = make_line("1", "1000000.00") if not project.budget_lines.filter(wbs_code="1").exists() else None
        body = {**body, "parent_id": str((parent or project.budget_lines.get(wbs_code="1")).pk)}
    response = client_for(pm).post(
        f"/api/v1/projects/{project.pk}/budget-lines", data=body, content_type="application/json"
    )
    assert_no_server_error(response)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
@example(body={"cap": {"amount": "9" * 25, "currency": "USD"}})
def test_any_update_body(project, pm, make_line, body):
    line = project.budget_lines.filter(wbs_code="1").first() or make_line("1", "100.00")
    response = client_for(pm).patch(f"/api/v1/budget-lines/{line.pk}", data=body, content_type="application/json")
    assert_no_server_error(response)
