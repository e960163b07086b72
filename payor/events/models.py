"""The transactional outbox: one immutable row per domain event, in commit order.

Rows are written by :func:`payor.events.emit`, inside the transaction of the change they announce, so an
event exists exactly when its change committed. ``position`` is the delivery order: it is assigned when
the emitting transaction commits (see ``sql/outbox.sql``), so positions follow commit order and a reader
that has seen position N will never later find a new event below N. Consumers keep their own cursor in
:class:`OutboxCursor`; events themselves are never updated or deleted (a trigger refuses it).
"""

from __future__ import annotations

from django.db import models

TOPIC_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
AGGREGATE_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"


class OutboxEvent(models.Model):
    # Insertion order within the table; consumers order by ``position``.
    id = models.BigAutoField(primary_key=True)
    # Assigned at commit (NULL only inside the emitting transaction), from a sequence, under a lock held to
    # the commit: strictly increasing in commit order; a gap only where a commit failed after taking it.
    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    topic = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=200)
    # No foreign key, like the audit log: events outlive what they mention, and no foreign-key check runs at
    # commit while the ordering lock is held.
    project_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    # pg_current_xact_id() of the emitting transaction: events of one transaction share it (and, because
    # positions are taken at commit under one lock, they also have consecutive positions).
    xact_id = models.BigIntegerField()

    class Meta:
        ordering = ("position",)
        constraints = [
            models.CheckConstraint(condition=models.Q(topic__regex=TOPIC_PATTERN), name="events_outbox_topic_dotted"),
            models.CheckConstraint(
                condition=models.Q(aggregate_type__regex=AGGREGATE_TYPE_PATTERN),
                name="events_outbox_aggregate_type_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(position__isnull=True) | models.Q(position__gte=1),
                name="events_outbox_position_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["topic", "position"], name="events_outbox_topic_position"),
            models.Index(fields=["project_id", "position"], name="events_outbox_project_position"),
            models.Index(fields=["aggregate_type", "aggregate_id", "position"], name="events_outbox_aggregate"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.topic} {self.aggregate_type}:{self.aggregate_id}"


class OutboxCursor(models.Model):
    """How far a consumer (the webhook dispatcher, an export…) has read the outbox: delivery state lives here,
    never on the events."""

    consumer = models.CharField(max_length=100, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(position__gte=0), name="events_cursor_position_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer} @ {self.position}"
