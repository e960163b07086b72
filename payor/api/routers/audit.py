"""``/api/v1/audit``: the audit log as a paginated feed and as a streamed export (thin edge over audit selectors).

Who sees which events is :mod:`payor.audit.selectors`' rule: platform-wide
``audit.read`` sees every event, a project-level holder the events of their
projects, anyone else gets 403 ``permission_denied``; a ``projectId`` the
caller cannot see is 404 ``project_not_found``. Query parameters and fields are
camelCase. Items carry every hashed field, so a client can recompute each
``hash`` (see ``payor.audit.canonical``); the export is byte for byte what
``payor audit export`` writes for the same events.
"""

# No ``from __future__ import annotations``: ninja reads the parameter types of the paginated endpoint through its
# wrapper, whose module cannot resolve string annotations.
from typing import Any
from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from payor.api.pagination import Cursor
from payor.api.schemas import Problem
from payor.audit.canonical import format_timestamp
from payor.audit.export import MEDIA_TYPES, export_chunks, export_filename, export_format
from payor.audit.models import AuditEvent
from payor.audit.selectors import API_NAMES, AuditFilter, audit_events, audit_filter_parse

router = Router(tags=["audit"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}


class _Camel(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class AuditQuery(Schema):
    """Filters; each one given narrows the events (they combine). Malformed values: 422 ``audit_filter_invalid``."""

    project_id: str | None = Field(
        None, alias="projectId", description="Only this project's events", json_schema_extra={"format": "uuid"}
    )
    action: str | None = Field(
        None, description="An action (`role.assigned`) or a family of actions (`role.*`)", examples=["role.*"]
    )
    actor_id: str | None = Field(
        None, alias="actorId", description="Only what this user did", json_schema_extra={"format": "uuid"}
    )
    subject_type: str | None = Field(
        None, alias="subjectType", description="What was acted on", examples=["rbac.projectroleassignment"]
    )
    subject_id: str | None = Field(None, alias="subjectId", description="Its id (with or without subjectType)")
    since: str | None = Field(
        None,
        description="From this UTC date (`2026-03-02`) or date-time with an offset (`2026-03-02T09:30:00Z`), inclusive",
        examples=["2026-03-02"],
    )
    until: str | None = Field(
        None,
        description="Up to this UTC date (the whole day) or date-time, inclusive; `since` after `until` is 422 "
        "`audit_range_invalid`",
        examples=["2026-03-31"],
    )
    after_seq: str | None = Field(
        None,
        alias="afterSeq",
        description="Only events after this seq: resume a feed where you stopped",
        json_schema_extra={"pattern": "^[0-9]+$"},
    )

    def parse(self) -> AuditFilter:
        return audit_filter_parse(**self.model_dump(exclude={"format"}), names=API_NAMES)


class ExportQuery(AuditQuery):
    format: str | None = Field(None, description="`jsonl` (default) or `csv`", examples=["csv"])


class ActorOut(Schema):
    id: UUID | None = Field(description="The acting user; null for the system or an anonymous request")
    label: str = Field(description="Who acted, as shown at the time: the user's email, `system`, `job:…`")


class SubjectOut(Schema):
    type: str = Field(examples=["rbac.projectroleassignment"])
    id: str


class AuditEventOut(_Camel):
    seq: int = Field(description="Gapless position in the log: 1, 2, 3…")
    occurred_at: str = Field(
        description="UTC, always six decimals: exactly the text that is hashed",
        examples=["2026-03-02T09:30:00.000000Z"],
        json_schema_extra={"format": "date-time"},
    )
    actor: ActorOut
    action: str = Field(examples=["role.assigned"])
    subject: SubjectOut
    project_id: UUID | None
    before: Any = Field(description="The state before (JSON; amounts as {amount, currency}), or null")
    after: Any = Field(description="The state after, or null")
    request_id: str | None
    ip: str | None = Field(description="The client address recorded with the event")
    prev_hash: str = Field(description="The hash of the event before (64 zeros for #1)")
    hash: str = Field(description="sha256(prevHash || canonical JSON of the event), lowercase hex")

    @staticmethod
    def resolve_occurred_at(event: AuditEvent) -> str:
        return format_timestamp(event.occurred_at)

    @staticmethod
    def resolve_actor(event: AuditEvent) -> dict[str, object]:
        return {"id": event.actor_id, "label": event.actor_label}

    @staticmethod
    def resolve_subject(event: AuditEvent) -> dict[str, object]:
        return {"type": event.subject_type, "id": event.subject_id}


@router.get(
    "/audit",
    response={200: list[AuditEventOut], **ERRORS},
    by_alias=True,
    summary="Audit events you may read, oldest first (needs audit.read); cursor-paginated by seq",
)
@paginate(Cursor, ordering=("seq",))
def list_audit_events(request: HttpRequest, filters: Query[AuditQuery]) -> object:
    return audit_events(viewer=request.user, filters=filters.parse())


_EXPORT_RESPONSE = {
    "description": "The events as JSON Lines or CSV, streamed (same format as `payor audit export`)",
    "content": {
        MEDIA_TYPES["jsonl"].split(";")[0]: {"schema": {"type": "string"}},
        MEDIA_TYPES["csv"].split(";")[0]: {"schema": {"type": "string"}},
    },
}


@router.get(
    "/audit/export",
    response={**ERRORS},
    summary="Download the audit events you may read, filtered, as JSONL or CSV (needs audit.read)",
    openapi_extra={"responses": {"200": _EXPORT_RESPONSE}},
)
def export_audit_events(request: HttpRequest, filters: Query[ExportQuery]) -> StreamingHttpResponse:
    fmt = export_format(filters.format)
    events = audit_events(viewer=request.user, filters=filters.parse())  # checks run now, before streaming
    response = StreamingHttpResponse(export_chunks(events, fmt=fmt), content_type=MEDIA_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_filename(fmt)}"'
    response["Cache-Control"] = "no-store"
    return response
