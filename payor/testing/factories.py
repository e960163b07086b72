"""factory_boy factories shared by the test suites."""

from __future__ import annotations

import datetime as dt

import factory

from payor.accounts.models import Membership, Organization, User
from payor.projects.models import FundingBucket, Project
from payor.rbac.models import ProjectRoleAssignment
from payor.rbac.roles import ProjectRole
from payor.vendors.models import BankMethod, TaxStatus, Vendor, VendorKind, VendorUser

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    kind = Organization.Kind.COMPANY


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Restoration project {n}")
    description = "Riparian planting and monitoring"
    currency = "USD"
    start_date = dt.date(2026, 1, 1)
    end_date = dt.date(2027, 12, 31)

    @factory.post_generation
    def bucket(obj, create, extracted, **kwargs):
        if create:
            FundingBucket.objects.get_or_create(
                project=obj, kind=FundingBucket.Kind.LIFT_FORWARD, currency=obj.currency
            )


class VendorFactory(factory.django.DjangoModelFactory):
    """A vendor of an organization's vendor master (test setup only: real onboarding is ``vendor_create``).

    A US company with a W-9 tax status, paid by ACH, KYC pending, no documents.
    """

    class Meta:
        model = Vendor

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Vendor {n}")
    legal_name = factory.LazyAttribute(lambda o: f"{o.name} LLC")
    kind = VendorKind.COMPANY
    email = factory.Sequence(lambda n: f"ap{n}@vendor.example.test")
    address_line1 = "100 River Road"
    city = "Eugene"
    region = "OR"
    postal_code = "97401"
    country = "US"
    tax_status = TaxStatus.W9
    bank_method = BankMethod.ACH


class VendorUserFactory(factory.django.DjangoModelFactory):
    """``user`` acts for ``vendor``."""

    class Meta:
        model = VendorUser

    vendor = factory.SubFactory(VendorFactory)
    user = factory.SubFactory(UserFactory)


class ProjectRoleFactory(factory.django.DjangoModelFactory):
    """A project role granted directly (test setup only: real grants go through ``rbac.services.role_assign``).

    ``ProjectRoleFactory(project=p, user=u, role=ProjectRole.AUDITOR)``; approver roles take ``limit=Money``.
    A VENDOR role gets a new vendor of the project's organization (or ``vendor=v``), and its user is linked to it.
    """

    class Meta:
        model = ProjectRoleAssignment
        exclude = ("limit",)
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = ProjectRole.PROJECT_MANAGER
    currency = factory.SelfAttribute("project.currency")
    vendor = factory.Maybe(
        factory.LazyAttribute(lambda o: o.role == ProjectRole.VENDOR),
        yes_declaration=factory.SubFactory(VendorFactory, organization=factory.SelfAttribute("..project.organization")),
        no_declaration=None,
    )
    limit = None
    approval_limit = factory.SelfAttribute("limit")

    @factory.post_generation
    def vendor_link(obj, create, extracted, **kwargs):
        if create and obj.vendor_id is not None:
            VendorUser.objects.get_or_create(vendor_id=obj.vendor_id, user=obj.user)
