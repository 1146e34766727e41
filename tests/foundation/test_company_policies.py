"""One Expensify policy, one company (issue 11 item 5); the company fields the engine needs (item 7)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from connector.models import Company, CompanyPolicy, PolicyTakenError, policies_lost_in_upgrade
from connector.roles import ADMINISTRATOR
from tests.factories import CompanyFactory, ExpensifyCredentialFactory, SageConnectionFactory
from tests.foundation.test_admin import company_form_data, staff_client

pytestmark = pytest.mark.django_db


def test_policy_ids_are_rows_in_order(company: Company) -> None:
    company.policy_ids = ["POL2", " POL1 ", "", "POL2"]
    company.save()
    assert list(CompanyPolicy.objects.filter(company=company).values_list("policy_id", flat=True)) == [
        "POL2", "POL1"]
    assert Company.objects.get(pk=company.pk).policy_ids == ["POL2", "POL1"]
    company.expensify_policy_ids = "POL1,POL3"
    company.save()
    fresh = Company.objects.prefetch_related("policies").get(pk=company.pk)
    assert fresh.policy_ids == ["POL1", "POL3"] and fresh.expensify_policy_ids == "POL1,POL3"


def test_the_database_holds_one_policy_to_one_company(company: Company) -> None:
    other = CompanyFactory(code="OTH")
    CompanyPolicy.objects.create(company=company, policy_id="POL1")
    with pytest.raises(IntegrityError), transaction.atomic():
        CompanyPolicy.objects.create(company=other, policy_id="POL1")


def test_clean_names_the_company_that_has_the_policy(company: Company) -> None:
    company.policy_ids = ["POL1"]
    company.save()
    other = CompanyFactory.build(code="OTH", name="Other Co", export_start_date="2026-01-01")
    other.policy_ids = ["POL9", "POL1"]
    with pytest.raises(ValidationError) as caught:
        other.full_clean()
    assert caught.value.message_dict["expensify_policy_ids"] == [
        "Expensify policy POL1 already belongs to company ABC (Acme Field Services): a policy belongs "
        "to one company."]


def test_saving_a_taken_policy_is_refused_and_changes_nothing(company: Company) -> None:
    company.policy_ids = ["POL1"]
    company.save()
    other = CompanyFactory(code="OTH", policy_ids=["POL5"])
    other.policy_ids = ["POL1"]
    with pytest.raises(PolicyTakenError, match="company ABC"):
        other.save()
    assert Company.objects.get(pk=other.pk).policy_ids == ["POL5"]


def test_an_enabled_company_needs_an_export_start_date(company: Company) -> None:
    company.enabled = True
    company.export_start_date = None
    with pytest.raises(ValidationError) as caught:
        company.full_clean()
    assert "export start date" in caught.value.message_dict["export_start_date"][0]
    company.enabled = False
    company.full_clean()  # a disabled company may wait for its date


def test_new_fields_default_for_the_engine(company: Company) -> None:
    fresh = Company.objects.get(pk=company.pk)
    assert (fresh.include_archived, fresh.degraded_reason, fresh.failure_streak) == (False, "", 0)


# --- the company page -------------------------------------------------------------------------------


@pytest.fixture
def admin() -> Client:
    return staff_client(ADMINISTRATOR)


@pytest.fixture
def wired(company: Company) -> Company:
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    return company


def test_the_page_saves_policies_as_rows(admin: Client, wired: Company) -> None:
    data = company_form_data(wired)
    data["expensify_policy_ids"] = "POL1, POL2"
    data["include_archived"] = "on"
    response = admin.post(f"/admin/connector/company/{wired.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = Company.objects.get(pk=wired.pk)
    assert fresh.policy_ids == ["POL1", "POL2"] and fresh.include_archived is True
    html = admin.get(f"/admin/connector/company/{wired.pk}/change/").content.decode()
    assert 'value="POL1, POL2"' in html


def test_the_page_refuses_a_policy_of_another_company_naming_it(admin: Client, wired: Company) -> None:
    CompanyFactory(code="OTH", name="Other Co", policy_ids=["POL7"])
    data = company_form_data(wired)
    data["expensify_policy_ids"] = "POL7"
    response = admin.post(f"/admin/connector/company/{wired.pk}/change/", data)
    assert response.status_code == 200
    assert "Expensify policy POL7 already belongs to company OTH (Other Co)" in response.content.decode()
    assert Company.objects.get(pk=wired.pk).policy_ids == []


def test_the_page_refuses_an_enabled_company_without_a_start_date(admin: Client, wired: Company) -> None:
    data = company_form_data(wired)
    data["export_start_date"] = ""
    html = admin.post(f"/admin/connector/company/{wired.pk}/change/", data).content.decode()
    assert "An enabled company needs an export start date" in html


def test_the_page_shows_the_start_date_and_the_engine_fields(admin: Client, wired: Company) -> None:
    Company.objects.filter(pk=wired.pk).update(
        degraded_reason="Sage answered garbage twice", failure_streak=2
    )
    html = admin.get(f"/admin/connector/company/{wired.pk}/change/").content.decode()
    assert "on or after this date (inclusive)" in html and "the first run starts here" in html
    assert "submit-and-close" in html and 'name="include_archived"' in html
    assert "Degraded (2 failed run(s) in a row): Sage answered garbage twice" in html
    assert "Runs in a row that failed the same way" in html
    listing = admin.get("/admin/connector/company/").content.decode()
    assert "Degraded: Sage answered garbage twice" in listing


# --- the upgrade of companies that shared a policy -----------------------------------------------


def test_a_policy_two_companies_shared_before_the_upgrade_is_named_by_check(company: Company) -> None:
    from django.core import checks

    # As the data migration leaves it: kept for ABC, OTH keeps its old list for the warning.
    company.policy_ids = ["POL1"]
    company.save()
    other = CompanyFactory(code="OTH", name="Other Co", policy_ids=["POL2"])
    Company.objects.filter(pk=other.pk).update(legacy_policy_ids="POL1,POL2")
    assert policies_lost_in_upgrade() == [
        "Company OTH (Other Co) listed Expensify policy POL1, which company ABC (Acme Field Services) "
        "also listed; the upgrade kept it for company ABC (Acme Field Services) only."]
    warnings = [m for m in checks.run_checks() if m.id == "connector.W110"]
    assert len(warnings) == 1 and warnings[0].level == checks.WARNING
    other.refresh_from_db()
    other.policy_ids = ["POL2"]
    other.save()  # a person decided: the warning goes
    assert policies_lost_in_upgrade() == []
