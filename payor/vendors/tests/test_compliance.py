"""The compliance gate: each failure's code, the checklist, and the date edges."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from payor.testing.factories import VendorFactory
from payor.vendors.compliance import vendor_compliance_check, vendor_compliance_status
from payor.vendors.errors import (
    VendorCoiExpired,
    VendorCoiMissing,
    VendorComplianceFailed,
    VendorKycNotPassed,
    VendorTaxFormExpired,
    VendorTaxFormMissing,
)
from payor.vendors.models import DocumentKind, DocumentStatus, KycStatus, Vendor, VendorDocument
from payor.vendors.tests.conftest import compliant, on_file

pytestmark = pytest.mark.django_db

ON = dt.date(2026, 6, 15)


def passed(vendor: Vendor) -> Vendor:
    Vendor.objects.filter(pk=vendor.pk).update(kyc_status=KycStatus.PASSED, kyc_reviewed_at=vendor.created_at)
    vendor.refresh_from_db()
    return vendor


def test_a_compliant_vendor_passes(vendor):
    compliant(vendor, coi_until=dt.date(2026, 12, 31))
    status = vendor_compliance_check(vendor=vendor, on=ON)
    assert status.ok
    assert status.failed == []
    assert [(item.key, item.ok, item.code) for item in status.items] == [
        ("kyc", True, None),
        ("tax_form", True, None),
        ("coi", True, None),
    ]
    assert status.items[2].message == "Insured through 2026-12-31"


def test_a_new_vendor_fails_everything_and_says_so(vendor):
    status = vendor_compliance_status(vendor=vendor, on=ON)
    assert not status.ok
    assert status.failed == ["vendor_kyc_not_passed", "vendor_tax_form_missing", "vendor_coi_missing"]
    assert [item.message for item in status.items] == [
        "KYC review is pending",
        "No verified W-9 on file",
        "No verified certificate of insurance",
    ]
    with pytest.raises(VendorKycNotPassed) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert (refused.value.code, refused.value.status) == ("vendor_kyc_not_passed", 409)
    assert refused.value.extra == {"failed": status.failed, "vendor_id": str(vendor.pk)}
    assert isinstance(refused.value, VendorComplianceFailed)


@pytest.mark.parametrize("kyc", [KycStatus.PENDING, KycStatus.FAILED])
def test_kyc_must_have_passed(vendor, kyc):
    compliant(vendor, coi_until=dt.date(2026, 12, 31))
    Vendor.objects.filter(pk=vendor.pk).update(kyc_status=kyc)
    vendor.refresh_from_db()
    with pytest.raises(VendorKycNotPassed) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert refused.value.extra["failed"] == ["vendor_kyc_not_passed"]


def test_the_tax_form_must_be_the_one_the_tax_status_needs(org):
    vendor = passed(VendorFactory(organization=org, kind="individual", country="GB", tax_status="w8ben"))
    on_file(vendor, DocumentKind.COI, valid_until=dt.date(2026, 12, 31))
    on_file(vendor, DocumentKind.W9)  # a W-9 is no W-8BEN
    with pytest.raises(VendorTaxFormMissing) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert str(refused.value) == "No verified W-8BEN on file"
    on_file(vendor, DocumentKind.W8BEN, valid_until=dt.date(2028, 12, 31))
    assert vendor_compliance_check(vendor=vendor, on=ON).ok


def test_an_unknown_tax_status_has_no_tax_form(vendor):
    compliant(vendor, coi_until=dt.date(2026, 12, 31))
    Vendor.objects.filter(pk=vendor.pk).update(tax_status="unknown")
    vendor.refresh_from_db()
    with pytest.raises(VendorTaxFormMissing) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert "No tax status declared" in str(refused.value)


@pytest.mark.parametrize("status", [DocumentStatus.PENDING, DocumentStatus.REJECTED])
def test_unreviewed_or_rejected_forms_do_not_count(vendor, status):
    passed(vendor)
    on_file(vendor, DocumentKind.W9, status=status)
    on_file(vendor, DocumentKind.COI, valid_until=dt.date(2026, 12, 31), status=status)
    assert vendor_compliance_status(vendor=vendor, on=ON).failed == ["vendor_tax_form_missing", "vendor_coi_missing"]


def test_an_expired_w8_is_its_own_failure(org):
    vendor = passed(VendorFactory(organization=org, country="DE", tax_status="w8bene"))
    on_file(vendor, DocumentKind.COI, valid_until=dt.date(2026, 12, 31))
    form = on_file(vendor, DocumentKind.W8BENE, valid_until=dt.date(2025, 12, 31))
    with pytest.raises(VendorTaxFormExpired) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert refused.value.code == "vendor_tax_form_expired"
    item = vendor_compliance_status(vendor=vendor, on=ON).items[1]
    assert (item.document_id, item.valid_until) == (form.pk, dt.date(2025, 12, 31))


def test_coi_expiring_today_passes_and_yesterday_fails(vendor):
    compliant(vendor, coi_until=ON)
    assert vendor_compliance_check(vendor=vendor, on=ON).ok
    with pytest.raises(VendorCoiExpired) as refused:
        vendor_compliance_check(vendor=vendor, on=ON + dt.timedelta(days=1))
    assert (refused.value.code, refused.value.status) == ("vendor_coi_expired", 409)
    assert str(refused.value) == f"The certificate of insurance expired on {ON.isoformat()}"


def test_a_missing_coi(vendor):
    passed(vendor)
    on_file(vendor, DocumentKind.W9)
    with pytest.raises(VendorCoiMissing) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert refused.value.extra["failed"] == ["vendor_coi_missing"]


def test_the_current_coi_is_the_newest_verified_one(vendor):
    compliant(vendor, coi_until=dt.date(2026, 6, 30))
    renewal = on_file(vendor, DocumentKind.COI, valid_until=dt.date(2027, 6, 30), status=DocumentStatus.PENDING)
    # Uploaded but not reviewed: the old certificate still counts, until it lapses.
    assert vendor_compliance_check(vendor=vendor, on=dt.date(2026, 6, 30)).ok
    assert vendor_compliance_status(vendor=vendor, on=dt.date(2026, 7, 1)).failed == ["vendor_coi_expired"]
    VendorDocument.objects.filter(vendor=vendor, kind="coi").exclude(pk=renewal.pk).update(
        superseded_by=renewal, superseded_at=renewal.created_at
    )
    VendorDocument.objects.filter(pk=renewal.pk).update(
        status="verified", verified_by=renewal.uploaded_by, verified_at=renewal.created_at
    )
    assert vendor_compliance_check(vendor=vendor, on=dt.date(2026, 7, 1)).ok


def test_failures_are_reported_in_order_with_all_codes(vendor):
    on_file(vendor, DocumentKind.COI, valid_until=dt.date(2026, 1, 31))
    with pytest.raises(VendorKycNotPassed) as refused:
        vendor_compliance_check(vendor=vendor, on=ON)
    assert refused.value.extra["failed"] == ["vendor_kyc_not_passed", "vendor_tax_form_missing", "vendor_coi_expired"]


def test_the_gate_can_lock_the_vendor_inside_a_transaction(vendor):
    compliant(vendor, coi_until=dt.date(2026, 12, 31))
    stale = Vendor.objects.get(pk=vendor.pk)
    Vendor.objects.filter(pk=vendor.pk).update(kyc_status=KycStatus.FAILED)
    with transaction.atomic(), pytest.raises(VendorKycNotPassed):
        vendor_compliance_check(vendor=stale, on=ON, lock=True)  # re-read under the lock: sees the failure


def test_on_must_be_a_date(vendor):
    with pytest.raises(TypeError):
        vendor_compliance_status(vendor=vendor, on=dt.datetime(2026, 6, 15, tzinfo=dt.UTC))
