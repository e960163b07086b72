from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from payor.accounts.services import api_token_create
from payor.api.idempotency import idempotency_purge
from payor.api.models import IdempotencyRecord
from payor.audit.models import AuditEvent
from payor.projects.models import FundingBucket, Project
from payor.testing.factories import MembershipFactory, OrganizationFactory, UserFactory


def post(client, org, key, name="Klamath riparian", **extra):
    payload = {"organization_id": str(org.pk), "name": name, "currency": "USD"}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/projects", data=payload, content_type="application/json", **headers, **extra)


@pytest.mark.django_db
def test_same_key_same_body_replays_the_stored_response(api, org):
    first = post(api, org, "key-1")
    second = post(api, org, "key-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Project.objects.count() == 1
    assert FundingBucket.objects.count() == 1


@pytest.mark.django_db
def test_a_patch_with_a_key_runs_once_and_replays(api, org):
    """Status changes and edits are PATCHes: a retried PATCH must not apply (or audit) twice."""
    project = post(api, org, None).json()["id"]
    line = api.post(
        f"/api/v1/projects/{project}/budget-lines",
        data={"wbs_code": "1", "description": "Site", "cap": {"amount": "100.00", "currency": "USD"}},
        content_type="application/json",
    ).json()["id"]
    audited = AuditEvent.objects.count()
    body = {"description": "Site preparation"}
    first = api.patch(
        f"/api/v1/budget-lines/{line}", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="p"
    )
    second = api.patch(
        f"/api/v1/budget-lines/{line}", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="p"
    )
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert AuditEvent.objects.count() == audited + 1
    other = api.patch(
        f"/api/v1/budget-lines/{line}",
        data={"description": "x"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="p",
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_key_order_and_whitespace_in_json_do_not_matter(api, org):
    first = api.post(
        "/api/v1/projects",
        data=f'{{"organization_id": "{org.pk}", "name": "A", "currency": "USD"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    second = api.post(
        "/api/v1/projects",
        data=f'{{"currency":"USD","name":"A","organization_id":"{org.pk}"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert first.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert Project.objects.count() == 1


@pytest.mark.django_db
def test_same_key_different_body_is_409_and_changes_nothing(api, org):
    assert post(api, org, "key-1").status_code == 201
    response = post(api, org, "key-1", name="Another project")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(Project.objects.values_list("name", flat=True)) == ["Klamath riparian"]


@pytest.mark.django_db
def test_without_a_key_each_post_runs(api, org):
    assert post(api, org, None, name="A").status_code == 201
    assert post(api, org, None, name="B").status_code == 201
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_keys_are_scoped_per_user(api, org):
    other = UserFactory()
    MembershipFactory(organization=org, user=other)
    other_client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=other.email, name='t').secret}")
    assert post(api, org, "shared", name="A").status_code == 201
    assert post(other_client, org, "shared", name="B").status_code == 201
    assert Project.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey", "ünïcode"])
def test_invalid_keys_are_400(api, org, key):
    response = api.post(
        "/api/v1/projects",
        data={"organization_id": str(org.pk), "name": "A", "currency": "USD"},
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert Project.objects.count() == 0


@pytest.mark.django_db
def test_error_responses_are_not_stored_so_a_corrected_retry_runs(api, org):
    bad = api.post(
        "/api/v1/projects",
        data={"organization_id": str(org.pk), "name": "A", "currency": "XXX"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="retry-me",
    )
    assert bad.status_code == 422
    assert IdempotencyRecord.objects.count() == 0
    assert post(api, org, "retry-me", name="A").status_code == 201


@pytest.mark.django_db
def test_unauthenticated_request_with_key_is_401_and_stores_nothing(client, org):
    response = post(client, org, "anon")
    assert response.status_code == 401
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_expired_keys_are_purged_and_reusable(api, org, user, settings):
    assert post(api, org, "old", name="A").status_code == 201
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    )
    # An expired key is treated as new even before the purge job runs.
    assert post(api, org, "old", name="B").status_code == 201
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    )
    assert idempotency_purge() == 1
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_project():
    """Real parallel connections: threads each get their own database connection."""
    org = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(organization=org, user=user)
    secret = api_token_create(email=user.email, name="t").secret
    barrier = threading.Barrier(4)
    results: list[tuple[int, dict, bool]] = []

    def worker() -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
            barrier.wait()
            response = post(client, org, "race")
            results.append((response.status_code, response.json(), response.has_header("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [status for status, _, _ in results] == [201] * 4
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sum(1 for _, _, replayed in results if not replayed) == 1
    assert Project.objects.count() == 1
