"""``/api/v1/projects/{project_id}/roles``: thin edge over rbac services and selectors.

A project you cannot see is 404 ``project_not_found``; a visible project
without the permission is 403. Assigning a role the user already holds with
the same limit and vendor is a no-op answered 200 with the existing
assignment (201 when created).
"""

# No ``from __future__ import annotations``: ninja reads the path parameter types of the paginated endpoint
# through its wrapper, whose module cannot resolve string annotations.
import datetime as dt
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from payor.accounts.models import User
from payor.api.pagination import Cursor
from payor.api.schemas import MoneyIn, MoneyOut, Problem, UserTargetIn
from payor.projects.models import Project
from payor.rbac import selectors, services
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import Perm, permissions_of, require_permission
from payor.rbac.roles import ProjectRole

router = Router(tags=["roles"])

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem}


class UserRef(Schema):
    id: UUID
    email: str
    name: str

    @staticmethod
    def resolve_name(user: User) -> str:
        return user.display_name


class RoleAssignmentOut(Schema):
    id: UUID
    project_id: UUID
    user: UserRef
    role: ProjectRole
    approval_limit: MoneyOut | None
    vendor_id: UUID | None
    granted_by: UserRef | None
    granted_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: UserRef | None

    @staticmethod
    def resolve_approval_limit(assignment: ProjectRoleAssignment) -> MoneyOut | None:
        limit = assignment.approval_limit
        return None if limit is None else MoneyOut.of(limit)

    @staticmethod
    def resolve_granted_at(assignment: ProjectRoleAssignment) -> dt.datetime:
        return assignment.created_at


class UserRolesOut(Schema):
    project_id: UUID
    user: UserRef
    roles: list[RoleAssignmentOut]
    permissions: list[Perm] = Field(description="Everything the user may do on the project, system roles included")


class AssignIn(UserTargetIn):
    role: ProjectRole
    approval_limit: MoneyIn | None = None
    vendor_id: UUID | None = None


class RevokeIn(UserTargetIn):
    role: ProjectRole


def _project(request: HttpRequest, project_id: UUID) -> Project:
    return selectors.project_get_visible(viewer=request.user, project_id=project_id)


@router.get(
    "/projects/{project_id}/roles",
    response={200: list[RoleAssignmentOut], **ERRORS},
    summary="Active role assignments on a project (needs roles.view)",
)
@paginate(Cursor)
def list_roles(request: HttpRequest, project_id: UUID) -> object:
    project = _project(request, project_id)
    return selectors.role_assignment_list(viewer=request.user, project=project)


@router.get(
    "/projects/{project_id}/roles/user/{who}",
    response={200: UserRolesOut, **ERRORS},
    summary="A user's roles and permissions on a project, by user id, email or wallet address",
)
def user_roles(request: HttpRequest, project_id: UUID, who: str) -> dict[str, object]:
    project = _project(request, project_id)
    user, assignments = selectors.user_role_assignments(viewer=request.user, project=project, who=who)
    return {
        "project_id": project.pk,
        "user": user,
        "roles": assignments,
        "permissions": sorted(permissions_of(user, project=project)),
    }


@router.post(
    "/projects/{project_id}/roles/assign",
    response={200: RoleAssignmentOut, 201: RoleAssignmentOut, **ERRORS},
    summary="Grant a project role, optionally with an approval limit (201; 200 if already held identically)",
)
def assign_role(request: HttpRequest, project_id: UUID, payload: AssignIn) -> Status[ProjectRoleAssignment]:
    project = _project(request, project_id)
    require_permission(request.user, Perm.ROLES_ASSIGN, project=project)
    assignment, created = services.role_assign(
        actor=request.user,  # type: ignore[arg-type]
        project=project,
        user=payload.user(),
        role=payload.role,
        approval_limit=None if payload.approval_limit is None else payload.approval_limit.money(),
        vendor_id=payload.vendor_id,
        request=request,
    )
    return Status(201 if created else 200, assignment)


@router.post(
    "/projects/{project_id}/roles/revoke",
    response={200: RoleAssignmentOut, **ERRORS},
    summary="Revoke a project role (the assignment is kept, with revoked_at and revoked_by)",
)
def revoke_role(request: HttpRequest, project_id: UUID, payload: RevokeIn) -> ProjectRoleAssignment:
    project = _project(request, project_id)
    require_permission(request.user, Perm.ROLES_ASSIGN, project=project)
    assignment = services.role_revoke(
        actor=request.user,  # type: ignore[arg-type]
        project=project,
        user=payload.user(),
        role=payload.role,
        request=request,
    )
    return assignment
