"""factory_boy factories for the connector's models."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from connector.models import Company, ExpensifyCredential, GLAccount, SageConnection
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Company {n}")
    code = factory.Sequence(lambda n: f"C{n:02d}"[-3:].upper())
    account_mask = "####-##-###"
    segment_names = ["Main", "Department", "Location"]
    reimbursable_offset_account = "2100-00-000"
    card_offset_account = "2150-00-000"
    export_start_date = factory.LazyFunction(lambda: datetime.date.today() - datetime.timedelta(days=90))
    schedule_kind = "manual"


class ExpensifyCredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExpensifyCredential

    company = factory.SubFactory(CompanyFactory)
    base_url = "http://127.0.0.1:9/Integration-Server/ExpensifyIntegrations"
    partner_user_id = factory.Sequence(lambda n: f"partner_{n}")
    partner_user_secret = "expensify-secret-Qx7"


class SageConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SageConnection

    company = factory.SubFactory(CompanyFactory)
    transport = "agent"
    base_url = "http://127.0.0.1:9"
    agent_api_key = "agent-key-Zr4"
    sage_username = "connector"
    sage_password = "sage-password-Wm2"


class GLAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GLAccount

    company = factory.SubFactory(CompanyFactory)
    account = factory.Sequence(lambda n: f"{6000 + n:04d}-00-000")
    description = "Expense account"
    status = "A"
    refreshed_at = factory.LazyFunction(timezone.now)


class CategoryMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CategoryMapping

    company = factory.SubFactory(CompanyFactory)
    category = factory.Sequence(lambda n: f"Category {n}")
    account = "6100-00-000"


class TagMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TagMapping

    company = factory.SubFactory(CompanyFactory)
    tag_level = 1
    tag_value = factory.Sequence(lambda n: f"Department {n}")
    segment = "Department"
    code = "01"


class EmployeeMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmployeeMapping

    company = factory.SubFactory(CompanyFactory)
    employee_email = factory.Sequence(lambda n: f"employee{n}@example.com")
    reimbursable_offset_account = "2110-00-000"
