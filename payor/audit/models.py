"""The audit log: one append-only, hash-chained row per recorded action.

Rows are written only by :func:`payor.audit.services.audit_record`, inside the
transaction of the change they record. A trigger refuses UPDATE and DELETE
(SQLSTATE ``PY002``, see ``sql/guards.sql``); the hash chain
(:mod:`payor.audit.canonical`) makes any edit made with the trigger bypassed
visible to ``payor audit verify``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from payor.audit.canonical import JSONValue, event_payload


class AuditEvent(models.Model):
    # Gapless: 1, 2, 3... assigned under an advisory lock, never from a sequence (sequences leave gaps).
    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # the (actor, seq) index below serves the foreign key
    )
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=100)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=200)
    # No foreign key: events outlive anything they mention, and the id is part of the hash.
    project_id = models.UUIDField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=128, null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ("seq",)
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_event_seq_positive"),
            models.CheckConstraint(
                condition=models.Q(action__regex=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"),
                name="audit_event_action_dotted",
            ),
            models.CheckConstraint(
                condition=models.Q(prev_hash__regex=r"^[0-9a-f]{64}$", hash__regex=r"^[0-9a-f]{64}$"),
                name="audit_event_hashes_hex",
            ),
            models.UniqueConstraint(fields=["hash"], name="audit_event_hash_unique"),
            # At most one successor per event: even a writer that skipped the lock cannot fork the chain.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_event_prev_hash_unique"),
        ]
        indexes = [
            models.Index(fields=["project_id", "seq"], name="audit_event_project_seq"),
            models.Index(fields=["action", "seq"], name="audit_event_action_seq"),
            models.Index(fields=["actor", "seq"], name="audit_event_actor_seq"),
            models.Index(fields=["subject_type", "subject_id", "seq"], name="audit_event_subject_seq"),
            models.Index(fields=["occurred_at"], name="audit_event_occurred_at"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.subject_type}:{self.subject_id} by {self.actor_label}"

    def payload(self) -> dict[str, JSONValue]:
        """The hashed object (see :mod:`payor.audit.canonical`)."""
        return event_payload(
            seq=self.seq,
            occurred_at=self.occurred_at,
            actor_id=self.actor_id,
            actor_label=self.actor_label,
            action=self.action,
            subject_type=self.subject_type,
            subject_id=self.subject_id,
            project_id=self.project_id,
            before=self.before,
            after=self.after,
            request_id=self.request_id,
            ip=self.ip,
        )
