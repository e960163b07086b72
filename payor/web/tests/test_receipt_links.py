"""Receipts and the data room in the web app: the contractor downloads their own self-billed receipt from the
portal (through the data room's audited service) and nobody else's; the links appear only once a receipt is
rendered ("being prepared" before); the contractor's milestone payment panel carries the same links; the "Data
room" navigation item and the finance home / invoice detail links are for ``dataroom.read`` holders only."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import pytest
from django.utils import timezone

from payor.audit.models import AuditEvent
from payor.contracts.tests.conftest import flow, media
from payor.dataroom.models import DataRoomObject
from payor.invoices.models import Invoice, InvoiceStatus
from payor.invoices.services import invoice_decide
from payor.payments.models import Disbursement
from payor.payments.services import disbursement_execute, disbursement_schedule
from payor.payments.tests.conftest import approved
from payor.rbac.models import SystemRoleAssignment
from payor.rbac.roles import ProjectRole, SystemRole
from payor.receipts.models import Receipt, ReceiptStatus
from payor.receipts.services import receipt_render
from payor.receipts.tests.conftest import (
    FIN,
    PM,
    TREAS,
    billing,
    contract_for,
    dataroom,
    fast_password_hashing,
    one_line,
    paid,
    set_buyer,
    vendor_user_for,
    world,
)
from payor.testing.factories import ProjectRoleFactory, UserFactory, VendorFactory
from payor.vendors.tests.conftest import compliant
from payor.web.tests.test_invoice_pages import client_for

__all__ = ["billing", "dataroom", "fast_password_hashing", "flow", "media", "world"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def reads() -> list[tuple[str, str, str]]:
    return list(
        AuditEvent.objects.filter(action="dataroom.read")
        .order_by("seq")
        .values_list("actor__email", "subject_id", "after__name")
    )


def receipt_hrefs(html: str) -> list[str]:
    return re.findall(r'href="(/portal/receipts/[^"]+)"', html)


@pytest.fixture
def rendered(billing, dataroom) -> tuple[Disbursement, Receipt]:
    """Willow Creek's 1,000.00 invoice, paid by ACH and its receipt SB-000001 rendered into the data room."""
    set_buyer(billing)
    disbursement = paid(billing, one_line(billing))
    receipt = receipt_render(receipt_id=Receipt.objects.get(disbursement=disbursement).pk)
    assert receipt.status == ReceiptStatus.RENDERED
    return disbursement, receipt


@pytest.fixture
def rival(billing):
    """Another vendor of the organization on the same project, with its own user and executed contract."""
    world = billing.world
    vendor = compliant(
        VendorFactory(organization=world.project.organization, name="Rival Works"), coi_until=dt.date(2099, 1, 1)
    )
    return vendor_user_for(world, vendor, email="billing@rival.test"), contract_for(world, vendor)


def test_the_contractor_downloads_their_own_receipt_from_the_portal(billing, rendered):
    disbursement, receipt = rendered
    page = client_for(billing.vendor_user).get("/portal/")
    assert page.status_code == 200
    html = page.content.decode()
    base = f"/portal/receipts/{receipt.pk}"
    assert receipt_hrefs(html) == [f"{base}/pdf/", f"{base}/cii/", f"{base}/ubl/"]
    assert "Receipt SB-000001" in html
    assert "being prepared" not in html
    assert "will be downloadable here once they are issued" not in html
    assert reads() == []  # listing the links reads nothing

    client = client_for(billing.vendor_user)
    pdf = client.get(f"{base}/pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="SB-000001.pdf"'
    assert pdf["Cache-Control"] == "private, no-store"
    assert pdf.content.startswith(b"%PDF-")
    assert hashlib.sha256(pdf.content).hexdigest() == receipt.pdf_sha256
    cii = client.get(f"{base}/cii/")
    assert (cii.status_code, cii["Content-Type"]) == (200, "application/xml")
    assert hashlib.sha256(cii.content).hexdigest() == receipt.cii_sha256
    ubl = client.get(f"{base}/ubl/")
    assert hashlib.sha256(ubl.content).hexdigest() == receipt.ubl_sha256

    objects = {o.kind: str(o.pk) for o in DataRoomObject.objects.filter(receipt=receipt)}
    assert reads() == [
        ("billing@willow.test", objects["receipt_pdf"], "SB-000001.pdf"),
        ("billing@willow.test", objects["receipt_cii"], "SB-000001.cii.xml"),
        ("billing@willow.test", objects["receipt_ubl"], "SB-000001.ubl.xml"),
    ]
    event = AuditEvent.objects.filter(action="dataroom.read").order_by("seq").first()
    assert event is not None
    assert (event.project_id, event.after["sha256"], event.after["disbursement_id"]) == (
        billing.world.project.pk,
        receipt.pdf_sha256,
        str(disbursement.pk),
    )


def test_nobody_else_downloads_the_contractors_receipt(billing, rendered, rival):
    _, receipt = rendered
    rival_user, _ = rival
    admin = UserFactory(email="admin@example.test")
    SystemRoleAssignment.objects.create(user=admin, role=SystemRole.PLATFORM_ADMIN)
    outsider = UserFactory(email="outsider@example.test")
    base = f"/portal/receipts/{receipt.pk}"
    for user in (rival_user, billing.people["pm"], admin, outsider):
        client = client_for(user)
        for fmt in ("pdf", "cii", "ubl"):
            assert client.get(f"{base}/{fmt}/").status_code == 404, (user.email, fmt)
    # The rival's portal lists none of Willow Creek's receipts.
    assert receipt_hrefs(client_for(rival_user).get("/portal/").content.decode()) == []
    own = client_for(billing.vendor_user)
    assert own.get(f"{base}/xml/").status_code == 404  # not a receipt format
    assert own.get(f"/portal/receipts/{uuid.uuid4()}/pdf/").status_code == 404
    assert reads() == []


def test_the_links_render_only_once_the_receipt_is_rendered(billing, dataroom):
    set_buyer(billing)
    invoice = approved(billing, one_line(billing))
    tre = billing.people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate())
    client = client_for(billing.vendor_user)

    scheduled = client.get("/portal/").content.decode()
    assert receipt_hrefs(scheduled) == []
    assert "being prepared" not in scheduled
    assert "Receipt SB-" not in scheduled

    disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-TRACE-000777")
    receipt = Receipt.objects.get(disbursement=disbursement)
    assert receipt.status == ReceiptStatus.NUMBERED
    numbered = client.get("/portal/").content.decode()
    assert receipt_hrefs(numbered) == []
    assert "Receipt SB-000001 is being prepared" in numbered
    detail = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert receipt_hrefs(detail) == []
    assert "Receipt SB-000001 is being prepared" in detail
    # The download of a receipt not yet stored is a 404, and nothing is audited.
    assert client.get(f"/portal/receipts/{receipt.pk}/pdf/").status_code == 404

    receipt_render(receipt_id=receipt.pk)
    done = client.get("/portal/").content.decode()
    assert receipt_hrefs(done) == [f"/portal/receipts/{receipt.pk}/{fmt}/" for fmt in ("pdf", "cii", "ubl")]
    assert "being prepared" not in done
    # The contractor's invoice page links the receipt too, but not the data room folder.
    detail = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert receipt_hrefs(detail) == [f"/portal/receipts/{receipt.pk}/{fmt}/" for fmt in ("pdf", "cii", "ubl")]
    assert "/dataroom/" not in detail
    assert reads() == []


def test_the_contractors_milestone_payment_panel_links_the_receipt(flow, dataroom):
    set_buyer(flow)
    work_request = flow.accepted(("Site preparation", "12345.67", "1.1"))
    milestone = flow.milestone(work_request)
    flow.approve(flow.submit(milestone, files=1))
    milestone.refresh_from_db()
    invoice = Invoice.objects.get(pk=milestone.invoice_id)
    people = flow.world.people
    for name, role in (("pm2", PM), ("fin", FIN), ("tre", TREAS)):
        if invoice.status != InvoiceStatus.APPROVED:
            invoice = invoice_decide(actor=people[name], invoice=invoice, role=role, decision="approved")
    tre = people["tre"]
    disbursement = disbursement_schedule(actor=tre, invoice=invoice, scheduled_on=timezone.localdate())
    disbursement = disbursement_execute(actor=tre, disbursement=disbursement, rail_reference="ACH-MS-1")
    receipt = Receipt.objects.get(disbursement=disbursement)
    client = client_for(flow.contractor)

    panel = client.get(f"/portal/milestones/{milestone.pk}/").content.decode()
    assert "Receipt SB-000001 is being prepared" in panel
    assert receipt_hrefs(panel) == []

    receipt_render(receipt_id=receipt.pk)
    hrefs = [f"/portal/receipts/{receipt.pk}/{fmt}/" for fmt in ("pdf", "cii", "ubl")]
    panel = client.get(f"/portal/milestones/{milestone.pk}/").content.decode()
    assert receipt_hrefs(panel) == hrefs
    terms = client.get(f"/portal/work-requests/{work_request.pk}/").content.decode()
    assert receipt_hrefs(terms) == hrefs  # the work request's milestone rows (_payment.html)
    # The company's board shows the payment, not the contractor's download links.
    board = client_for(flow.pm).get(f"/projects/{flow.world.project.pk}/milestones/").content.decode()
    assert receipt_hrefs(board) == []

    pdf = client.get(hrefs[0])
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert hashlib.sha256(pdf.content).hexdigest() == Receipt.objects.get(pk=receipt.pk).pdf_sha256
    assert [(email, name) for email, _, name in reads()] == [(flow.contractor.email, "SB-000001.pdf")]


def test_finance_sees_the_data_room_in_the_navigation_and_on_its_pages(billing, rendered):
    disbursement, _ = rendered
    project = billing.world.project
    dataroom_url = f"/projects/{project.pk}/dataroom/"
    auditor = UserFactory(email="aud@example.test")
    ProjectRoleFactory(project=project, user=auditor, role=ProjectRole.AUDITOR)
    for user in (billing.people["fin"], billing.people["tre"], auditor):
        page = client_for(user).get(f"/projects/{project.pk}/").content.decode()
        assert f'href="{dataroom_url}"' in page, user.email
        assert 'data-testid="nav-dataroom"' in page

    fin = client_for(billing.people["fin"])
    home = fin.get(f"/projects/{project.pk}/finance/").content.decode()
    assert re.search(rf'<a href="{dataroom_url}" class="btn" data-testid="finance-dataroom">', home)
    detail = fin.get(f"/invoices/{disbursement.invoice_id}/").content.decode()
    assert f'href="{dataroom_url}#folder-{disbursement.pk}"' in detail
    assert receipt_hrefs(detail) == []  # finance reads the folder, not the contractor's portal links
    room = fin.get(dataroom_url)
    assert room.status_code == 200
    assert f'id="folder-{disbursement.pk}"' in room.content.decode()


def test_the_pm_vendors_and_admins_get_no_data_room_links(billing, rendered):
    disbursement, _ = rendered
    project = billing.world.project
    admin = UserFactory(email="admin@example.test")
    SystemRoleAssignment.objects.create(user=admin, role=SystemRole.PLATFORM_ADMIN)
    for user, url in (
        (billing.people["pm"], f"/projects/{project.pk}/"),
        (billing.vendor_user, "/portal/"),
        (admin, f"/projects/{project.pk}/"),
    ):
        page = client_for(user).get(url)
        assert page.status_code == 200, user.email
        assert "/dataroom/" not in page.content.decode(), user.email
        assert 'data-testid="nav-dataroom"' not in page.content.decode()
    pm = client_for(billing.people["pm"])
    assert "/dataroom/" not in pm.get(f"/projects/{project.pk}/finance/").content.decode()
    assert "/dataroom/" not in pm.get(f"/invoices/{disbursement.invoice_id}/").content.decode()
    assert pm.get(f"/projects/{project.pk}/dataroom/").status_code == 403
    assert client_for(admin).get(f"/projects/{project.pk}/dataroom/").status_code == 403
