"""Every error under /api/ is RFC 9457 problem JSON with a stable code, never a 500."""

from __future__ import annotations

import uuid

import pytest

from payor.projects.models import Project

pytestmark = pytest.mark.django_db


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:payor:problem:{code}"
    assert body["title"]
    assert body["instance"] == response.wsgi_request.path
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_unknown_api_path_is_problem_404(api):
    assert_problem(api.get("/api/v1/nope"), 404, "not_found")


def test_wrong_method_is_problem_405(api):
    body = assert_problem(api.delete("/api/v1/projects"), 405, "method_not_allowed")
    assert "DELETE" in body["detail"]


def test_unauthenticated_is_problem_401_with_challenge(client):
    response = client.get("/api/v1/projects")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="payor"'


def test_malformed_json_is_problem_400_and_writes_nothing(api, org):
    response = api.post("/api/v1/projects", data=b'{"name": "x",', content_type="application/json")
    assert_problem(response, 400, "body_unparseable")
    assert Project.objects.count() == 0


def test_schema_violation_is_problem_422_listing_fields(api, org):
    response = api.post(
        "/api/v1/projects", data={"organization_id": str(org.pk), "currency": "USD"}, content_type="application/json"
    )
    body = assert_problem(response, 422, "validation_error")
    assert ["body", "payload", "name"] in [error["loc"] for error in body["errors"]]
    assert Project.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        [],
        '"a string"',
        {"organization_id": "not-a-uuid", "name": "X", "currency": "USD"},
        {"organization_id": None, "name": "X", "currency": "USD"},
        {"name": "X" * 201, "currency": "USD"},
        {"name": "   ", "currency": "USD"},
        {"name": "X", "currency": "DOGE"},
        {"name": "X", "currency": 12},
        {"name": "X", "currency": "USD", "phase": "construction"},
        {"name": "X", "currency": "USD", "start_date": "2026-13-01"},
    ],
)
def test_bad_project_payloads_are_422_and_write_nothing(api, org, payload):
    if isinstance(payload, dict) and "organization_id" not in payload:
        payload = {"organization_id": str(org.pk), **payload}
    response = api.post("/api/v1/projects", data=payload, content_type="application/json")
    assert_problem(response, 422, "validation_error")
    assert Project.objects.count() == 0


def test_bad_path_parameter_is_422(api):
    assert_problem(api.get("/api/v1/projects/not-a-uuid"), 422, "validation_error")


def test_unknown_project_is_404_with_domain_code(api):
    assert_problem(api.get(f"/api/v1/projects/{uuid.uuid4()}"), 404, "project_not_found")


def test_request_id_from_proxy_is_echoed(api):
    response = api.get("/api/v1/nope", HTTP_X_REQUEST_ID="edge-abc-123")
    assert response["X-Request-ID"] == "edge-abc-123"
    assert response.json()["request_id"] == "edge-abc-123"


def test_unsafe_request_id_is_replaced(api):
    response = api.get("/api/v1/nope", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"
    uuid.UUID(response["X-Request-ID"])


def test_openapi_document_is_served_and_lists_endpoints(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/projects", "/api/v1/projects/{project_id}", "/api/v1/organizations"} <= set(spec["paths"])
    assert "BearerToken" in spec["components"]["securitySchemes"]


def test_interactive_docs_are_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content
    # Swagger UI is served from our own static files, never a CDN.
    assert b"/static/ninja/swagger-ui-bundle.js" in response.content
    assert b"cdn." not in response.content
