"""Admin-facing services and client_for_company, with the company's stored credentials."""

from __future__ import annotations

import pytest

from connector.expensify import ExpensifyAuthError, ExpensifyClient, client_for_company
from connector.logs import redact
from mappings import policy as services
from tests.expensify.conftest import PARTNER_ID, SECRET, sim_control
from tests.expensify.test_client import POLICY
from tests.factories import CategoryMappingFactory, ExpensifyCredentialFactory, TagMappingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def credential(company, sim):
    return ExpensifyCredentialFactory(company=company, base_url=sim.base_url,
                                      partner_user_id=PARTNER_ID, partner_user_secret=SECRET)


def test_client_for_company_uses_the_stored_credentials(company, credential):
    with client_for_company(company) as client:
        assert isinstance(client, ExpensifyClient)
        assert client.base_url == credential.base_url
        assert client.partner_user_id == PARTNER_ID
        assert client.timeout == 60.0
        assert client.max_retry_seconds == company.max_retry_seconds
    assert redact(f"x {SECRET} y") == "x ******** y"  # registered for the log filter


def test_company_without_credentials_is_an_auth_error(company):
    with pytest.raises(ExpensifyAuthError, match="no Expensify credentials"):
        client_for_company(company)


def test_connection_summary(company, credential, sim):
    sim_control(sim, "/_sim/load", {"policies": {"POL1": POLICY}})
    assert services.test_expensify_connection(company) == (
        f"Connected to Expensify as partner user '{PARTNER_ID}': 1 policy visible: Acme (POL1).")


def test_connection_with_a_wrong_secret(company, credential):
    credential.partner_user_secret = "not-the-secret"
    credential.save()
    with pytest.raises(ExpensifyAuthError, match="check the partnerUserID and partnerUserSecret"):
        services.test_expensify_connection(company)


def test_policy_overview_lists_what_has_no_mapping(company, credential, sim):
    policy = {
        "name": "Acme",
        "categories": [
            {"name": "Meals", "glCode": "6130", "enabled": True},
            {"name": "Team Offsite", "glCode": "", "enabled": True},
            {"name": "Client Gifts", "glCode": "", "enabled": True},
            {"name": "Retired", "glCode": "", "enabled": False},
        ],
        "tags": [
            {"name": "Department", "tags": [{"name": "Sales"}, {"name": "Field Ops"}]},
            {"name": "Project", "tags": [{"name": "Project\\: Phoenix"}]},
        ],
    }
    sim_control(sim, "/_sim/load", {"policies": {"POL1": policy, "POL2": {"name": "Other"}}})
    company.expensify_policy_ids = "POL1, GONE"
    company.save()
    CategoryMappingFactory(company=company, category="Client Gifts", account="6300-00-000")
    TagMappingFactory(company=company, tag_level=1, tag_value="Sales")
    overview = services.load_policy_data(company)
    assert [p.policy_id for p in overview.policies] == ["POL1"]
    assert [c.name for c in overview.unmapped_categories] == ["Meals", "Team Offsite"]
    assert overview.unmapped_categories[0].gl_code == "6130"
    assert [(t.level, t.name) for t in overview.unmapped_tags] == [(1, "Field Ops"), (2, "Project: Phoenix")]
    assert overview.missing_policy_ids == ("GONE",)


def test_policy_overview_without_configured_policies_uses_every_visible_one(company, credential, sim):
    sim_control(sim, "/_sim/load", {"policies": {"POL1": POLICY, "POL2": {"name": "Beta"}}})
    overview = services.load_policy_data(company)
    assert [p.policy_id for p in overview.policies] == ["POL1", "POL2"]
