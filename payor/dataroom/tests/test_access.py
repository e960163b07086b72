"""Who opens the data room (API): finance reviewer, treasurer, procurement and auditor list the folders and read
every document, each read audited; the PM, the beneficiary, vendors and platform admins get 403 on the folder list
and 404 on its documents with nothing listed or audited; the contractor downloads their own receipt (PDF, CII,
UBL) and nothing else of the folder."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from payor.accounts.models import User
from payor.accounts.services import api_token_create
from payor.audit.models import AuditEvent
from payor.dataroom.models import DataRoomObject
from payor.rbac.models import SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.receipts.models import Receipt
from payor.receipts.services import receipt_render
from payor.receipts.tests.conftest import one_line, paid, set_buyer
from payor.testing.factories import ProjectRoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def client(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(email=user.email, name='tests').secret}")


def reads() -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(action="dataroom.read").order_by("seq").values_list("actor__email", "subject_id")
    )


@pytest.fixture
def room(billing, dataroom):
    """One rendered receipt in the data room, and a holder of each role on the project."""
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing))
    receipt = receipt_render(receipt_id=Receipt.objects.get(disbursement=disbursement).pk)
    project = billing.world.project
    people = dict(billing.people)
    for name, role in (
        ("proc", ProjectRole.PROCUREMENT),
        ("aud", ProjectRole.AUDITOR),
        ("ben", ProjectRole.BENEFICIARY),
        ("other", ProjectRole.VENDOR),
    ):
        people[name] = UserFactory(email=f"{name}@example.test")
        ProjectRoleFactory(project=project, user=people[name], role=role)
    people["own"] = billing.vendor_user
    people["outsider"] = UserFactory(email="outsider@example.test")
    people["admin"] = UserFactory(email="admin@example.test")
    SystemRoleAssignment.objects.create(user=people["admin"], role=SystemRole.PLATFORM_ADMIN)
    people["superuser"] = UserFactory(email="root@example.test", is_superuser=True)
    objects = {o.name: o for o in DataRoomObject.objects.filter(disbursement=disbursement)}
    return project, receipt, people, objects


def test_finance_procurement_and_auditors_list_and_read_every_document_audited(room, dataroom):
    project, receipt, people, objects = room
    for name in ("fin", "tre", "proc", "aud"):
        response = client(people[name]).get(f"/api/v1/projects/{project.pk}/dataroom")
        assert response.status_code == 200, name
        [folder] = response.json()
        assert folder["transaction_id"] == "ACH-TRACE-000123"
        assert [r["number"] for r in folder["receipts"]] == ["SB-000001"]
        assert folder["receipts"][0]["pdf_sha256"] == receipt.pdf_sha256
        assert sorted((d["name"], d["sha256"]) for d in folder["documents"]) == sorted(
            (o.name, o.sha256) for o in objects.values()
        )
    assert reads() == []  # listing is not reading

    approval = objects["approval-record.json"]
    response = client(people["fin"]).get(f"/api/v1/dataroom/objects/{approval.pk}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == approval.sha256
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "private, no-store"
    pdf = objects["SB-000001.pdf"]
    assert client(people["aud"]).get(f"/api/v1/dataroom/objects/{pdf.pk}").status_code == 200
    assert reads() == [("fin@example.test", str(approval.pk)), ("aud@example.test", str(pdf.pk))]
    event = AuditEvent.objects.filter(action="dataroom.read").order_by("seq").first()
    assert event is not None
    assert (event.project_id, event.after["name"], event.after["sha256"]) == (
        project.pk,
        "approval-record.json",
        approval.sha256,
    )


def test_pm_beneficiary_and_vendors_see_nothing_of_the_folder(room):
    project, _, people, objects = room
    for name in ("pm", "ben", "other", "own"):
        response = client(people[name]).get(f"/api/v1/projects/{project.pk}/dataroom")
        assert response.status_code in (403, 404), name
        assert response.json()["code"] in ("permission_denied", "project_not_found")
        assert "SB-000001" not in response.content.decode()
    assert client(people["outsider"]).get(f"/api/v1/projects/{project.pk}/dataroom").json()["code"] == (
        "project_not_found"
    )
    for name in ("pm", "ben", "other", "outsider"):
        for obj in objects.values():
            response = client(people[name]).get(f"/api/v1/dataroom/objects/{obj.pk}")
            assert (response.status_code, response.json()["code"]) == (404, "dataroom_object_not_found"), name
    for name in ("approval-record.json", "payment-confirmation.json"):
        response = client(people["own"]).get(f"/api/v1/dataroom/objects/{objects[name].pk}")
        assert response.status_code == 404
    assert reads() == []


def test_the_contractor_downloads_their_own_receipt(room):
    project, receipt, people, objects = room
    mine = client(people["own"]).get(f"/api/v1/projects/{project.pk}/receipts/mine")
    assert mine.status_code == 200
    [entry] = mine.json()
    assert (entry["receipt"]["number"], entry["receipt"]["type_code"]) == ("SB-000001", "389")
    assert sorted(d["name"] for d in entry["documents"]) == ["SB-000001.cii.xml", "SB-000001.pdf", "SB-000001.ubl.xml"]

    pdf = objects["SB-000001.pdf"]
    response = client(people["own"]).get(f"/api/v1/dataroom/objects/{pdf.pk}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == receipt.pdf_sha256
    assert 'filename="SB-000001.pdf"' in response["Content-Disposition"]
    assert reads() == [("billing@willow.test", str(pdf.pk))]

    assert client(people["other"]).get(f"/api/v1/projects/{project.pk}/receipts/mine").json() == []
    assert client(people["pm"]).get(f"/api/v1/projects/{project.pk}/receipts/mine").json() == []


def test_platform_admins_do_not_open_the_data_room(room):
    """Issue 7 lists who reads the data room; platform admins manage the platform, not its evidence (seed 000)."""
    project, _, people, objects = room
    for name in ("admin", "superuser"):
        listing = client(people[name]).get(f"/api/v1/projects/{project.pk}/dataroom")
        assert (listing.status_code, listing.json()["code"]) == (403, "permission_denied"), name
        assert listing.json()["permission"] == "dataroom.read"
        assert "SB-000001" not in listing.content.decode()
        assert client(people[name]).get(f"/api/v1/projects/{project.pk}/receipts/mine").json() == []
        for obj in objects.values():
            response = client(people[name]).get(f"/api/v1/dataroom/objects/{obj.pk}")
            assert (response.status_code, response.json()["code"]) == (404, "dataroom_object_not_found"), name
    assert reads() == []
