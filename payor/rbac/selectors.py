"""Reads for roles. Every selector takes the viewer, so scoping cannot be skipped.

A project the viewer cannot see is ``project_not_found`` (404), never 403: its
existence is not leaked. A visible project without the needed permission is
``permission_denied`` (403).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from payor.accounts.models import User
from payor.accounts.wallets import wallet_find
from payor.projects.models import Project
from payor.rbac.errors import ProjectNotFound, UserNotFound
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.permissions import Perm, has_permission, project_visible, projects_for, require_permission

if TYPE_CHECKING:
    from payor.rbac.permissions import Viewer

__all__ = ["project_get_visible", "projects_for", "role_assignment_list", "user_find", "user_role_assignments"]

WALLET_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
EMAIL_MAX = 254
USER_NOT_FOUND = "No user with this id, email or wallet address"


def project_get_visible(*, viewer: Viewer, project_id: uuid.UUID | str) -> Project:
    """The project, if ``viewer`` may see it; ``project_not_found`` otherwise (whether or not it exists)."""
    try:
        project_id = project_id if isinstance(project_id, uuid.UUID) else uuid.UUID(str(project_id))
    except ValueError as exc:
        raise ProjectNotFound() from exc
    if not project_visible(viewer, project_id):
        raise ProjectNotFound()
    try:
        return Project.objects.get(pk=project_id)
    except Project.DoesNotExist as exc:  # pragma: no cover - visible implies it exists (superusers aside)
        raise ProjectNotFound() from exc


def _active_on(project: Project) -> QuerySet[ProjectRoleAssignment]:
    return (
        ProjectRoleAssignment.objects.filter(project=project, revoked_at__isnull=True)
        .select_related("user", "granted_by")
        .order_by("user__email", "role")
    )


def role_assignment_list(*, viewer: Viewer, project: Project) -> QuerySet[ProjectRoleAssignment]:
    """Active assignments on ``project`` (needs ``roles.view``)."""
    require_permission(viewer, Perm.ROLES_VIEW, project=project)
    return _active_on(project)


def user_role_assignments(
    *, viewer: Viewer, project: Project, who: str | uuid.UUID
) -> tuple[User, list[ProjectRoleAssignment]]:
    """The user named by ``who`` (id, email or wallet) and their active assignments on ``project``.

    Anyone may read their own roles; reading someone else's needs ``roles.view`` (checked before the lookup, so a
    viewer without it learns nothing about other accounts). A user who holds no role on the project answers
    exactly like one who does not exist (``user_not_found``), so the endpoint cannot probe for accounts.
    """
    can_view = has_permission(viewer, Perm.ROLES_VIEW, project=project)
    try:
        user: User | None = user_find(who)
    except UserNotFound:
        user = None
    is_self = user is not None and viewer is not None and user.pk == viewer.pk
    if not can_view and not is_self:
        require_permission(viewer, Perm.ROLES_VIEW, project=project)
    if user is None:
        raise UserNotFound(USER_NOT_FOUND)
    assignments = list(_active_on(project).filter(user=user))
    if not assignments and not is_self:
        raise UserNotFound(USER_NOT_FOUND)
    return user, assignments


def _wallet_owner(address: str) -> User | None:
    """The user who linked ``address`` (any case; a bad EIP-55 checksum finds nobody), or None."""
    wallet = wallet_find(address)
    return None if wallet is None else wallet.user


def user_find(who: str | uuid.UUID) -> User:
    """A user by id (UUID), email (case-insensitive) or wallet address (``0x`` + 40 hex); ``user_not_found``."""
    user: User | None = None
    if isinstance(who, uuid.UUID):
        user = User.objects.filter(pk=who).first()
    elif not isinstance(who, str) or "\x00" in who or not who or len(who) > EMAIL_MAX:
        user = None
    elif WALLET_ADDRESS_RE.fullmatch(who):
        user = _wallet_owner(who)
    elif "@" in who:
        user = User.objects.filter(email__iexact=who.strip()).first()
    else:
        try:
            user = User.objects.filter(pk=uuid.UUID(who)).first()
        except ValueError:
            user = None
    if user is None:
        raise UserNotFound(USER_NOT_FOUND)
    return user
