"""Health, the worker heartbeat, transactional enqueue and periodic tasks, on a real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from payor import __version__
from payor.api.models import IdempotencyRecord
from payor.api.tasks import purge_idempotency_keys

pytestmark = [pytest.mark.database_facing]


def clear_jobs() -> None:
    """procrastinate's tables are not Django-managed, so test flushes leave them alone."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")


def register_worker() -> int:
    """Register a worker the way a procrastinate worker does at start-up (it then beats every 10 s)."""

    async def register() -> int:
        async with app.open_async():
            return await app.job_manager.register_worker()

    with app.replace_connector(app.connector.get_worker_connector()):
        return asyncio.run(register())


@pytest.mark.django_db
def test_healthz_reports_database_and_stale_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "worker": "stale",
        "version": __version__,
        "last_worker_heartbeat": None,
    }


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_worker_ok_after_a_heartbeat_and_stale_when_old(client):
    worker_id = register_worker()
    body = client.get("/healthz").json()
    assert body["worker"] == "ok"
    assert body["last_worker_heartbeat"] is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = %s WHERE id = %s",
            [timezone.now() - timedelta(minutes=5), worker_id],
        )
    assert client.get("/healthz").json()["worker"] == "stale"


@pytest.mark.django_db
def test_healthz_rejects_other_methods(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_enqueue_is_transactional():
    clear_jobs()
    with transaction.atomic():
        purge_idempotency_keys.defer(timestamp=0)
        transaction.set_rollback(True)
    assert ProcrastinateJob.objects.count() == 0
    with transaction.atomic():
        purge_idempotency_keys.defer(timestamp=1)
    assert ProcrastinateJob.objects.filter(task_name="api.idempotency.purge", status="todo").count() == 1


@pytest.mark.django_db(transaction=True)
def test_worker_runs_deferred_jobs(user):
    clear_jobs()
    IdempotencyRecord.objects.create(
        user=user, key="stale", method="POST", path="/api/v1/projects", request_digest="0" * 64
    )
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    job_id = purge_idempotency_keys.defer(timestamp=0)
    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)
    assert ProcrastinateJob.objects.get(id=job_id).status == "succeeded"
    assert IdempotencyRecord.objects.count() == 0


def test_periodic_purge_is_registered_hourly():
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["api.idempotency.purge"].cron == "17 * * * *"


@pytest.mark.django_db
def test_migrations_are_complete():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
