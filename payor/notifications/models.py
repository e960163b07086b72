"""In-app inbox messages, each optionally mailed to its recipient.

A notification is written in the transaction of the change it announces (:func:`payor.notifications.services
.notify`), together with a job that mails it (``notifications.email.send``): both commit or both roll back, so
a message is never lost and never sent for a change that did not happen. The job marks ``emailed_at`` once the
mail backend accepted the message; re-running it sends nothing more.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from payor.core.models import BaseModel


class Notification(BaseModel):
    """A message for one user: shown in their inbox until read, mailed when ``email`` is set."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    kind = models.CharField(max_length=64, help_text="Dotted, e.g. work_request.sent")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True, help_text="Where the message leads (a path in Payor)")
    read_at = models.DateTimeField(null=True, blank=True)
    email = models.BooleanField(default=True, help_text="Also mailed to the recipient")
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__regex=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"),
                name="notifications_kind_dotted",
            ),
            models.CheckConstraint(
                condition=models.Q(emailed_at__isnull=True) | models.Q(email=True),
                name="notifications_emailed_only_if_email",
            ),
        ]
        indexes = [
            models.Index(
                fields=["recipient", "id"],
                condition=models.Q(read_at__isnull=True),
                name="notifications_unread_by_user",
            ),
            models.Index(fields=["recipient", "id"], name="notifications_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} {self.kind}"
