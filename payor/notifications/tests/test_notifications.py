"""Notifications: written with the change they announce (or not at all), mailed once by their job through the
configured mail backend, read only by their recipient."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection, transaction
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from payor.contracts.models import WorkRequest
from payor.contracts.services import work_request_send
from payor.core.errors import DomainError
from payor.notifications.models import Notification
from payor.notifications.selectors import inbox, inbox_unread_count
from payor.notifications.services import notification_mark_read, notify
from payor.testing.factories import UserFactory

pytestmark = [pytest.mark.database_facing]


def clear_jobs() -> None:
    """procrastinate's tables are not Django-managed, so test flushes leave them alone."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")


def email_jobs() -> list[ProcrastinateJob]:
    return list(ProcrastinateJob.objects.filter(task_name="notifications.email.send").order_by("id"))


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_send_leaves_no_message_and_no_mail(flow):
    clear_jobs()
    draft = flow.draft()
    with transaction.atomic():
        work_request_send(actor=flow.pm, work_request=draft)
        assert Notification.objects.count() == 1
        transaction.set_rollback(True)
    assert Notification.objects.count() == 0
    assert email_jobs() == []
    assert WorkRequest.objects.get(pk=draft.pk).status == "draft"


@pytest.mark.django_db(transaction=True)
def test_a_committed_send_defers_one_email_job_that_mails_once(flow):
    clear_jobs()
    work_request = work_request_send(actor=flow.pm, work_request=flow.draft())
    [notification] = Notification.objects.filter(kind="work_request.sent")
    [job] = email_jobs()
    assert (job.status, job.queue_name, job.args) == (
        "todo",
        "notifications",
        {"notification_id": str(notification.pk)},
    )
    # What the worker runs for it (the worker itself is exercised in payor/core/tests/test_health_and_jobs.py).
    task = app.tasks["notifications.email.send"]
    assert task.func(**job.args) is True
    assert task.func(**job.args) is False
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [flow.contractor.email]
    assert message.subject == f"Work request {work_request.number}: Riparian planting, plot A"
    notification.refresh_from_db()
    assert notification.emailed_at is not None
    assert notification.read_at is None


@pytest.mark.django_db
def test_notify_skips_inactive_and_duplicate_recipients():
    alice = UserFactory(email="alice@example.test")
    gone = UserFactory(email="gone@example.test", is_active=False)
    with transaction.atomic():
        written = notify(recipients=[alice, alice, gone], kind="test.sent", title="Hello", body="Body", link="/x")
    assert [n.recipient_id for n in written] == [alice.pk]
    assert (written[0].email, written[0].emailed_at) == (True, None)


@pytest.mark.django_db(transaction=True)
def test_notify_outside_a_transaction_is_refused():
    alice = UserFactory(email="alice@example.test")
    with pytest.raises(RuntimeError):
        notify(recipients=[alice], kind="test.sent", title="Hello")
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_only_the_recipient_reads_and_marks_their_messages():
    alice = UserFactory(email="alice@example.test")
    bob = UserFactory(email="bob@example.test")
    with transaction.atomic():
        [message] = notify(recipients=[alice], kind="test.sent", title="For Alice", email=False)
    assert list(inbox(viewer=alice)) == [message]
    assert list(inbox(viewer=bob)) == []
    assert inbox_unread_count(viewer=alice) == 1
    with pytest.raises(DomainError) as info:
        notification_mark_read(actor=bob, notification_id=message.pk)
    assert info.value.code == "notification_not_found"
    first = notification_mark_read(actor=alice, notification_id=message.pk).read_at
    assert first is not None
    assert notification_mark_read(actor=alice, notification_id=message.pk).read_at == first
    assert inbox_unread_count(viewer=alice) == 0
    with pytest.raises(DomainError):
        notification_mark_read(actor=alice, notification_id="not-a-uuid")
