from __future__ import annotations

import datetime as dt

import pytest

from payor.audit.selectors import audit_events
from payor.audit.services import audit_record
from payor.testing.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    member = UserFactory(password=None)
    ours = ProjectFactory()
    MembershipFactory(user=member, organization=ours.organization)
    theirs = ProjectFactory()
    for project, action in [(ours, "invoice.approved"), (theirs, "invoice.approved"), (ours, "role.assigned")]:
        audit_record(
            actor=member,
            action=action,
            subject_type="projects.project",
            subject_id=project.pk,
            project_id=project.pk,
        )
    audit_record(actor=None, action="platform.settings_changed", subject_type="core.settings", subject_id="1")
    return member, ours, theirs


def seqs(events) -> list[int]:
    return list(events.values_list("seq", flat=True))


def test_platform_admins_see_everything_members_their_projects_outsiders_nothing(world):
    member, _ours, theirs = world
    admin = UserFactory(password=None, is_superuser=True)
    outsider = UserFactory(password=None)
    assert seqs(audit_events(viewer=admin)) == [1, 2, 3, 4]
    assert seqs(audit_events(viewer=member)) == [1, 3]
    assert seqs(audit_events(viewer=member, project_id=theirs.pk)) == []
    assert seqs(audit_events(viewer=outsider)) == []


def test_filters_combine(world):
    member, ours, _theirs = world
    admin = UserFactory(password=None, is_superuser=True)
    assert seqs(audit_events(viewer=member, action="role.assigned")) == [3]
    assert seqs(audit_events(viewer=admin, actor_id=member.pk)) == [1, 2, 3]
    assert seqs(audit_events(viewer=admin, actor_id=str(member.pk), project_id=ours.pk)) == [1, 3]
    assert seqs(audit_events(viewer=admin, subject_type="projects.project", subject_id=str(ours.pk))) == [1, 3]
    today = dt.datetime.now(tz=dt.UTC).date()
    assert seqs(audit_events(viewer=admin, since=today)) == [1, 2, 3, 4]
    assert seqs(audit_events(viewer=admin, since=today + dt.timedelta(days=1))) == []
