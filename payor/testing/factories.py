"""factory_boy factories shared by the test suites."""

from __future__ import annotations

import datetime as dt

import factory

from payor.accounts.models import Membership, Organization, User
from payor.projects.models import FundingBucket, Project

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
