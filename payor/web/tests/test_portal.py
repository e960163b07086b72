"""The vendor portal through the test client: a vendor's user sees only their own contracts, invoices and payments,
enters invoices with server-priced live totals, and gets 404 for anything of another vendor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from payor.invoices.models import Invoice, InvoiceAttachment, InvoiceStatus
from payor.invoices.tests.conftest import (
    billing,
    contract_for,
    fast_password_hashing,
    media,
    state,
    vendor_user_for,
    world,
)
from payor.testing.factories import UserFactory, VendorFactory
from payor.vendors.tests.conftest import compliant, pdf_bytes
from payor.web.tests.test_invoice_pages import client_for, submitted, text

__all__ = ["billing", "fast_password_hashing", "media", "world"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def form(billing, *rows: tuple[str, str, str, str, str], coding: dict[str, str], **fields: str) -> dict[str, str]:
    """The new-invoice form as the browser posts it; ``rows`` are (item, description, scheduled, this period, %)."""
    data = {
        "rows": str(len(rows)),
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "vendor_reference": fields.pop("vendor_reference", ""),
        "description": "",
        "taxes": fields.pop("taxes", ""),
        "withholds": fields.pop("withholds", ""),
        **fields,
    }
    for index, row in enumerate(rows):
        for name, value in zip(
            ("item_code", "description", "scheduled_value", "this_period", "percent_complete"), row, strict=True
        ):
            data[f"line-{index}-{name}"] = value
    for code, amount in coding.items():
        data[f"coding-{billing.line_id(code)}"] = amount
    return data


@pytest.fixture
def rival(billing):
    """Another vendor of the organization on the same project, with its own user and executed contract."""
    world = billing.world
    vendor = compliant(
        VendorFactory(organization=world.project.organization, name="Rival Works"), coi_until=dt.date(2099, 1, 1)
    )
    user = vendor_user_for(world, vendor, email="billing@rival.test")
    return vendor, user, contract_for(world, vendor)


def test_the_portal_shows_own_contracts_invoices_and_payments_only(billing, rival):
    _, rival_user, rival_contract = rival
    mine = submitted(billing, "1000.00")
    theirs = submitted(billing, "700.00", contract=rival_contract, actor=rival_user)
    page = client_for(billing.vendor_user).get("/portal/")
    assert page.status_code == 200
    body = text(page)
    assert "Willow Creek Restoration" in body
    assert "PO-0001" in body
    assert rival_contract.number not in body
    # NTE 45,000.00; invoiced 1,000.00; remaining commitment 44,000.00.
    assert "$45,000.00 $1,000.00 $44,000.00" in body
    assert mine.number in body
    assert theirs.number not in body
    assert "No payments yet" in body
    # A vendor never sees the finance menus.
    html = page.content.decode()
    assert 'href="/invoices/"' not in html
    assert 'href="/audit/"' not in html
    assert 'href="/vendors/"' not in html


def test_someone_acting_for_no_vendor_sees_an_empty_portal(billing):
    body = text(client_for(billing.people["fin"]).get("/portal/"))
    assert "You do not act for a vendor" in body


def test_the_form_offers_the_contracts_lines_and_earlier_items(billing):
    submitted(billing, "1000.00")  # bills item S<n> at 1,000.00
    page = client_for(billing.vendor_user).get(f"/portal/contracts/{billing.contract.pk}/invoices/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'name="coding-{billing.line_id("1.1")}"' in html
    assert f'name="coding-{billing.line_id("1.2")}"' in html
    assert 'value="1000.00"' in html  # the earlier item's scheduled value, prefilled


def test_the_preview_prices_with_the_invoice_math(billing):
    data = form(
        billing,
        ("1", "Site preparation", "10,000.00", "", "45"),
        ("2", "Planting", "20000.00", "3000.00", ""),
        coding={"1.1": "5500.00", "1.2": "2000.00"},
        taxes="75.00",
    )
    response = client_for(billing.vendor_user).post(f"/portal/contracts/{billing.contract.pk}/invoices/preview/", data)
    assert response.status_code == 200
    body = text(response)
    assert "Subtotal $7,500.00" in body
    assert "Total $7,575.00" in body
    assert "Retention (10.00 %) − $750.00" in body
    assert "Early-pay discount − $135.00" in body  # 2 % of (7,500.00 - 750.00)
    assert "Net payable $6,690.00" in body
    assert "1 45.00 % complete $4,500.00" in body

    data["coding-" + str(billing.line_id("1.2"))] = "1000.00"
    mismatch = text(
        client_for(billing.vendor_user).post(f"/portal/contracts/{billing.contract.pk}/invoices/preview/", data)
    )
    assert "the coding adds up to 6500.00; the subtotal is 7500.00" in mismatch
    assert "invoice_coding_mismatch" in mismatch


def test_the_preview_totals_an_uncoded_invoice_and_writes_nothing(billing):
    before = state(billing)
    data = form(billing, ("1", "Site preparation", "10000.00", "2000.00", ""), coding={})
    body = text(
        client_for(billing.vendor_user).post(f"/portal/contracts/{billing.contract.pk}/invoices/preview/", data)
    )
    assert "Subtotal $2,000.00" in body
    assert "Net payable $1,764.00" in body  # 2,000.00 - 200.00 retention - 36.00 early-pay discount
    assert "Code the subtotal of $2,000.00 to the budget lines." in body
    assert state(billing) == before


def test_submitting_creates_encumbers_and_attaches(billing):
    before = Invoice.objects.count()
    data = form(
        billing,
        ("1", "Site preparation", "10000.00", "2500.00", ""),
        coding={"1.1": "2500.00"},
        vendor_reference="WC-1001",
    )
    data["attachments"] = SimpleUploadedFile("sov.pdf", pdf_bytes(), content_type="application/pdf")
    data["intent"] = "submit"
    client = client_for(billing.vendor_user)
    response = client.post(f"/portal/contracts/{billing.contract.pk}/invoices/new/", data)
    assert response.status_code == 302
    invoice = Invoice.objects.get(vendor_reference="WC-1001")
    assert response["Location"] == f"/invoices/{invoice.pk}/"
    assert Invoice.objects.count() == before + 1
    assert invoice.status == InvoiceStatus.SUBMITTED
    assert (invoice.subtotal.amount_str(), invoice.retention.amount_str(), invoice.net_payable.amount_str()) == (
        "2500.00",
        "250.00",
        "2205.00",
    )
    assert list(InvoiceAttachment.objects.filter(invoice=invoice).values_list("original_filename", flat=True)) == [
        "sov.pdf"
    ]
    page = text(client.get(response["Location"]))
    assert "submitted: $2,500.00 is now reserved for it" in page
    assert "sov.pdf" in page


def test_a_draft_is_saved_then_submitted_from_its_page(billing):
    data = form(
        billing, ("1", "Site preparation", "10000.00", "1000.00", ""), coding={"1.1": "1000.00"}, intent="draft"
    )
    client = client_for(billing.vendor_user)
    response = client.post(f"/portal/contracts/{billing.contract.pk}/invoices/new/", data)
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.DRAFT
    assert "saved as a draft" in text(client.get(response["Location"]))
    client.post(f"/invoices/{invoice.pk}/action/", {"action": "submit"})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SUBMITTED


@pytest.mark.parametrize(
    ("change", "status", "code", "message"),
    [
        (
            {"coding-1.1": "900.00"},
            422,
            "invoice_coding_mismatch",
            "the coding adds up to 900.00; the subtotal is 1000.00",
        ),
        ({"line-0-this_period": "12,000.00"}, 422, "invoice_sov_over_scheduled", "exceeds the scheduled 10000.00"),
        ({"line-0-this_period": "ten"}, 422, "validation_error", "line 1, this period: enter an amount like 1250.00"),
        ({"period_end": "2099-01-31"}, 422, "invoice_period_invalid", "the billing period cannot end in the future"),
    ],
    ids=["coding", "over-scheduled", "bad-amount", "future-period"],
)
def test_refusals_show_inline_and_write_nothing(billing, change, status, code, message):
    data = form(
        billing, ("1", "Site preparation", "10000.00", "1000.00", ""), coding={"1.1": "1000.00"}, intent="submit"
    )
    for key, value in change.items():
        if key.startswith("coding-"):
            data[f"coding-{billing.line_id(key.removeprefix('coding-'))}"] = value
        else:
            data[key] = value
    before = state(billing)
    response = client_for(billing.vendor_user).post(f"/portal/contracts/{billing.contract.pk}/invoices/new/", data)
    assert response.status_code == status
    body = text(response)
    assert code in body
    assert message in body
    assert "Nothing was saved" in body
    assert state(billing) == before
    assert 'value="Site preparation"' in response.content.decode()  # what was typed is kept


def test_a_refused_file_rolls_back_the_whole_invoice(billing, media):
    data = form(
        billing, ("1", "Site preparation", "10000.00", "1000.00", ""), coding={"1.1": "1000.00"}, intent="submit"
    )
    data["attachments"] = [
        SimpleUploadedFile("sov.pdf", pdf_bytes(), content_type="application/pdf"),
        SimpleUploadedFile("notes.exe", b"MZ\x90\x00 not allowed", content_type="application/octet-stream"),
    ]
    before = state(billing)
    response = client_for(billing.vendor_user).post(f"/portal/contracts/{billing.contract.pk}/invoices/new/", data)
    assert response.status_code == 415
    assert "file_type_not_allowed" in text(response)
    assert state(billing) == before
    assert [path for path in (media / "invoices").rglob("*") if path.is_file()] == []


def test_another_vendors_pages_are_not_found(billing, rival):
    _, rival_user, rival_contract = rival
    theirs = submitted(billing, "700.00", contract=rival_contract, actor=rival_user)
    client = client_for(billing.vendor_user)
    data = form(billing, ("1", "x", "100.00", "10.00", ""), coding={})
    assert client.get(f"/portal/contracts/{rival_contract.pk}/invoices/new/").status_code == 404
    assert client.post(f"/portal/contracts/{rival_contract.pk}/invoices/new/", data).status_code == 404
    assert client.post(f"/portal/contracts/{rival_contract.pk}/invoices/preview/", data).status_code == 404
    assert client.get(f"/invoices/{theirs.pk}/").status_code == 404
    assert Invoice.objects.filter(contract=rival_contract).count() == 1
    # Finance users reach no vendor's form either: the portal is for the vendor's own users.
    assert (
        client_for(billing.people["fin"]).get(f"/portal/contracts/{billing.contract.pk}/invoices/new/").status_code
        == 404
    )


def test_a_returned_draft_is_revised_and_resubmitted(billing):
    invoice = submitted(billing, "1000.00")
    client_for(billing.people["pm"]).post(
        f"/invoices/{invoice.pk}/action/",
        {"action": "returned", "role": "PROJECT_MANAGER", "note": "Bill 800.00: the rest is next month"},
    )
    client = client_for(billing.vendor_user)
    page = client.get(f"/portal/invoices/{invoice.pk}/edit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Returned for revision:</strong> Bill 800.00" in html
    assert 'value="1000.00"' in html  # this period and coding as entered
    line = invoice.lines.get()
    data = form(
        billing,
        (line.item_code, line.description, "1000.00", "800.00", ""),
        coding={"1.1": "800.00"},
        intent="submit",
    )
    response = client.post(f"/portal/invoices/{invoice.pk}/edit/", data)
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.round, invoice.subtotal.amount_str()) == ("submitted", 2, "800.00")
    # Another vendor's user cannot open it; a submitted invoice is not edited.
    assert client.get(f"/portal/invoices/{invoice.pk}/edit/").status_code == 302
    stranger = UserFactory(email="nobody@example.test")
    assert client_for(stranger).get(f"/portal/invoices/{invoice.pk}/edit/").status_code == 404
