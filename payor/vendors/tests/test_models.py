"""The database refuses malformed vendor rows even when a code path skips the services."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from payor.testing.factories import UserFactory, VendorFactory
from payor.vendors.models import DocumentKind, Vendor, VendorDocument, VendorUser
from payor.vendors.tests.conftest import on_file

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"name": ""}, "vendors_vendor_name_not_blank"),
        ({"legal_name": ""}, "vendors_vendor_legal_name_not_blank"),
        ({"kind": "trust"}, "vendors_vendor_kind_valid"),
        ({"tax_status": "w7"}, "vendors_vendor_tax_status_valid"),
        ({"tax_status": "w8ben"}, "vendors_vendor_tax_form_matches_kind"),  # the factory's vendor is a company
        ({"bank_method": "cheque"}, "vendors_vendor_bank_method_valid"),
        ({"kyc_status": "maybe"}, "vendors_vendor_kyc_(status_valid|decision_reviewed)"),
        ({"kyc_status": "passed"}, "vendors_vendor_kyc_decision_reviewed"),
        ({"country": "us"}, "vendors_vendor_country_iso"),
        ({"vat_id": "de 123"}, "vendors_vendor_vat_id_normalized"),
    ],
)
def test_vendor_checks(vendor, changes, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Vendor.objects.filter(pk=vendor.pk).update(**changes)


def test_names_are_unique_per_organization_in_any_case(vendor):
    with pytest.raises(IntegrityError, match="vendors_vendor_name_ci_unique_per_org"), transaction.atomic():
        VendorFactory(organization=vendor.organization, name=vendor.name.upper())
    VendorFactory(name=vendor.name)  # another organization


def test_a_user_is_linked_once(vendor):
    user = UserFactory()
    VendorUser.objects.create(vendor=vendor, user=user)
    with pytest.raises(IntegrityError, match="vendors_vendor_user_unique"), transaction.atomic():
        VendorUser.objects.create(vendor=vendor, user=user)


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"status": "approved"}, "vendors_document_(status_valid|review_consistent)"),
        ({"kind": "w10"}, "vendors_document_kind_valid"),
        ({"size": 0}, "vendors_document_size_positive"),
        ({"sha256": "ABC"}, "vendors_document_sha256_hex"),
        ({"status": "pending"}, "vendors_document_review_consistent"),  # still carries verified_at
        ({"verified_by": None}, "vendors_document_review_consistent"),
        ({"rejected_at": Now()}, "vendors_document_review_consistent"),
        ({"kind": "coi", "valid_until": None}, "vendors_document_verified_coi_has_expiry"),
        ({"superseded_at": Now()}, "vendors_document_supersession_complete"),
    ],
)
def test_document_checks(vendor, changes, constraint):
    document = on_file(vendor, DocumentKind.W9)
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        VendorDocument.objects.filter(pk=document.pk).update(**changes)


def test_a_stored_file_is_referenced_once(vendor):
    document, twin = on_file(vendor, DocumentKind.W9), on_file(vendor, DocumentKind.W9)
    with pytest.raises(IntegrityError, match="vendors_document_file_unique"), transaction.atomic():
        VendorDocument.objects.filter(pk=twin.pk).update(file=document.file.name)
