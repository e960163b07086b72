"""Property-based fuzzing of every documented endpoint from the OpenAPI document.

schemathesis generates valid and invalid requests (bodies, query strings, path
parameters) from `/api/v1/openapi.json`; whatever it sends, the API must
answer without a server error, and every error must be problem JSON.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from payor.config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def bearer(token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Calling the WSGI app directly would close the test's DB connection at request end
    (Django's test Client disconnects this handler the same way)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
# Derandomized: the same examples on every run, so a red CI is reproducible here. A random run once failed inside
# schemathesis itself (requests' cookie jar could not rebuild the report URL of a case carrying a generated cookie
# and an unparseable Host) without any request reaching a server error.
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_gets_a_server_error(case, bearer):
    response = case.call(headers=bearer)
    assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text)
    if response.status_code >= 400:
        assert response.headers.get("content-type") in ("application/problem+json", ["application/problem+json"]), (
            response.headers,
            response.text,
        )
        assert response.json()["code"]
