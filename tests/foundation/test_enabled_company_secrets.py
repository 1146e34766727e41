"""Issue 12: an enabled company needs all its secrets; the company page says each missing one."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from connector.models import Company, ExpensifyCredential, SageConnection
from connector.roles import ADMINISTRATOR
from tests.factories import CompanyFactory, ExpensifyCredentialFactory, SageConnectionFactory
from tests.foundation.test_admin import company_form_data, staff_client

pytestmark = pytest.mark.django_db

EXPENSIFY_DEFAULT_URL = "https://integrations.expensify.com/Integration-Server/ExpensifyIntegrations"
NEEDS_PARTNER_ID = "An enabled company needs the Expensify partner user ID."
NEEDS_PARTNER_SECRET = (
    "An enabled company needs the Expensify partner user secret: type it (it is stored encrypted and "
    "never shown again)."
)
NEEDS_AGENT_URL = "An enabled company needs the Sage 100 agent URL (https://host:port)."
NEEDS_AGENT_KEY = (
    "An enabled company needs the Sage 100 agent API key: type it (it is stored encrypted and never "
    "shown again)."
)
NEEDS_USERNAME = "An enabled company needs the Sage 100 username."
NEEDS_PASSWORD = (
    "An enabled company needs the Sage 100 password: type it (it is stored encrypted and never shown again)."
)
ALL_NEEDS = (
    NEEDS_PARTNER_ID,
    NEEDS_PARTNER_SECRET,
    NEEDS_AGENT_URL,
    NEEDS_AGENT_KEY,
    NEEDS_USERNAME,
    NEEDS_PASSWORD,
)


@pytest.fixture
def admin() -> Client:
    return staff_client(ADMINISTRATOR)


def blank_inlines() -> dict[str, str]:
    """Both inlines as the add page shows them, untouched: only their initial values."""
    return {
        "expensify-TOTAL_FORMS": "1",
        "expensify-INITIAL_FORMS": "0",
        "expensify-MIN_NUM_FORMS": "0",
        "expensify-MAX_NUM_FORMS": "1",
        "expensify-0-base_url": EXPENSIFY_DEFAULT_URL,
        "expensify-0-partner_user_id": "",
        "expensify-0-partner_user_secret": "",
        "expensify-0-timeout_seconds": "60",
        "sage-TOTAL_FORMS": "1",
        "sage-INITIAL_FORMS": "0",
        "sage-MIN_NUM_FORMS": "0",
        "sage-MAX_NUM_FORMS": "1",
        "sage-0-transport": "agent",
        "sage-0-base_url": "",
        "sage-0-agent_api_key": "",
        "sage-0-sage_username": "",
        "sage-0-sage_password": "",
        "sage-0-agent_certificate": "",
        "sage-0-connect_timeout": "10",
        "sage-0-read_timeout": "60",
    }


def company_fields(company: Company | None = None) -> dict[str, str]:
    """The company page's own fields (no inlines), for `company` or a new company NEW."""
    shown = company or SimpleNamespace(name="New Co", code="NEW", account_mask="####-##-###", pk="")
    stand_in = SimpleNamespace(
        name=shown.name,
        code=shown.code,
        account_mask=shown.account_mask,
        pk=shown.pk,
        expensify=SimpleNamespace(pk=""),
        sage=SimpleNamespace(pk=""),
    )
    data = company_form_data(stand_in)  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if not k.startswith(("expensify-", "sage-"))}


def new_company_data(*, enabled: bool = True) -> dict[str, str]:
    data = company_fields()
    if not enabled:
        del data["enabled"]
    return {**data, **blank_inlines()}


def page(response: object) -> str:
    return response.content.decode()  # type: ignore[attr-defined]


def test_an_enabled_company_with_blank_connections_is_refused_naming_every_value(admin: Client) -> None:
    response = admin.post("/admin/connector/company/add/", new_company_data())

    assert response.status_code == 200
    html = page(response)
    for message in ALL_NEEDS:
        assert message in html, message
    assert not Company.objects.filter(code="NEW").exists()


def test_the_missing_secrets_are_shown_with_the_pages_other_errors(admin: Client) -> None:
    data = new_company_data()
    data["code"] = "n!"
    data["card_offset_account"] = "2150-XX-000"

    html = page(admin.post("/admin/connector/company/add/", data))

    assert "Exactly 3 uppercase letters or digits." in html
    assert "must be digits only" in html
    for message in ALL_NEEDS:
        assert message in html, message
    assert Company.objects.count() == 0


def test_a_disabled_company_may_be_saved_without_connections(admin: Client) -> None:
    response = admin.post("/admin/connector/company/add/", new_company_data(enabled=False))

    assert response.status_code == 302, page(response)[:3000]
    company = Company.objects.get(code="NEW")
    assert not company.enabled
    assert not ExpensifyCredential.objects.exists() and not SageConnection.objects.exists()


def test_a_complete_new_company_is_saved_with_its_connections(admin: Client) -> None:
    data = new_company_data()
    data.update(
        {
            "expensify-0-partner_user_id": "aa_api_new",
            "expensify-0-partner_user_secret": "expensify-new-Hh3",
            "sage-0-base_url": "https://sage.example.com:8443",
            "sage-0-agent_api_key": "agent-new-Jj4",
            "sage-0-sage_username": "connector",
            "sage-0-sage_password": "sage-new-Kk5",
        }
    )

    response = admin.post("/admin/connector/company/add/", data)

    assert response.status_code == 302, page(response)[:3000]
    company = Company.objects.get(code="NEW")
    assert company.expensify.partner_user_secret == "expensify-new-Hh3"
    assert company.sage.sage_password == "sage-new-Kk5"


def test_enabling_a_company_without_connections_is_refused(admin: Client) -> None:
    company = CompanyFactory(code="DIS", enabled=False)
    data = {**company_fields(company), **blank_inlines()}

    html = page(admin.post(f"/admin/connector/company/{company.pk}/change/", data))

    for message in ALL_NEEDS:
        assert message in html, message
    assert not Company.objects.get(pk=company.pk).enabled


def test_secrets_stored_earlier_keep_an_enabled_company_valid(admin: Client) -> None:
    company = CompanyFactory(code="OLD", enabled=False)
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    data = company_form_data(company)  # every secret box blank: keep what is stored

    response = admin.post(f"/admin/connector/company/{company.pk}/change/", data)

    assert response.status_code == 302, page(response)[:3000]
    assert Company.objects.get(pk=company.pk).enabled
    assert SageConnection.objects.get().sage_password == "sage-password-Wm2"
    assert ExpensifyCredential.objects.get().partner_user_secret == "expensify-secret-Qx7"


def test_a_blank_value_of_a_stored_connection_is_named(admin: Client) -> None:
    company = CompanyFactory(code="SOA")
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company, transport="soap", agent_api_key="", sage_password="")
    data = company_form_data(company)
    data["sage-0-transport"] = "soap"
    data["sage-0-base_url"] = ""
    data["sage-0-sage_username"] = ""
    data["expensify-0-partner_user_id"] = ""

    html = page(admin.post(f"/admin/connector/company/{company.pk}/change/", data))

    assert "Enter the Sage 100 SOAP service URL (masservice.svc)." in html
    assert "Enter the Sage 100 username." in html
    assert "Enter the Expensify partner user ID." in html
    assert NEEDS_PASSWORD in html
    assert NEEDS_AGENT_KEY not in html  # the SOAP transport has no agent key
    assert SageConnection.objects.get().sage_username == "connector"


def test_a_secret_typed_on_a_refused_page_is_reported_as_not_saved(admin: Client) -> None:
    data = new_company_data()
    data["sage-0-sage_password"] = "typed-but-lost-Pq7"

    html = page(admin.post("/admin/connector/company/add/", data))

    assert "what you typed in Sage password was not stored" in html
    assert "typed-but-lost-Pq7" not in html
    assert NEEDS_PASSWORD not in html and NEEDS_AGENT_KEY in html
