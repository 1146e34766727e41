"""Issue 12: a tag mapping value unknown to the company's Expensify policy tags gets a warning.

The tag lists are kept when the policy data is fetched (the company's Policy data page, or "Refresh
policy tags" from the tag mapping list), from the Expensify simulator over loopback HTTP; saving a
mapping or importing a file only reads what was kept and never calls Expensify.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from connector.models import Company
from mappings import policy
from mappings.models import PolicyTag, PolicyTagList, TagMapping
from simulators.expensify import ExpensifySimulator
from tests.expensify.conftest import PARTNER_ID, SECRET, sim_control
from tests.factories import ExpensifyCredentialFactory
from tests.mappings.conftest import csv_file, staff_client_with

pytestmark = pytest.mark.django_db

TAG_ADD = "/admin/mappings/tagmapping/add/"
TAG_IMPORT = "/admin/mappings/tagmapping/import/"
TAG_CONFIRM = "/admin/mappings/tagmapping/process_import/"
REFRESH = "/admin/mappings/tagmapping/refresh-tags/"
POLICY = {
    "name": "Acme",
    "categories": [{"name": "Meals", "glCode": "6130", "enabled": True}],
    "tags": [
        {"name": "Department", "tags": [{"name": "Sales"}, {"name": "Field Ops"}]},
        {"name": "Project", "tags": [{"name": "Project\\: Phoenix"}]},
    ],
}


@pytest.fixture
def sim() -> Iterator[ExpensifySimulator]:
    with ExpensifySimulator(credentials={PARTNER_ID: SECRET}, rates=[(10_000, 1.0)]) as simulator:
        sim_control(simulator, "/_sim/load", {"policies": {"POL1": POLICY}})
        yield simulator


@pytest.fixture
def wired(company: Company, sim: ExpensifySimulator) -> Company:
    """Company ABC with Expensify credentials for the simulator and policy POL1 configured."""
    ExpensifyCredentialFactory(
        company=company, base_url=sim.base_url, partner_user_id=PARTNER_ID, partner_user_secret=SECRET
    )
    company.expensify_policy_ids = "POL1"
    company.save()
    return Company.objects.get(pk=company.pk)


def expensify_calls(sim: ExpensifySimulator) -> int:
    return len(sim_control(sim, "/_sim/requests")["requests"])


def warnings(response: Any) -> list[str]:
    return [html.unescape(str(m)) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]


def add_tag_mapping(client: Client, company: Company, value: str, level: int = 1) -> Any:
    data = {"company": company.pk, "tag_level": level, "tag_value": value, "segment": "Department"}
    response = client.post(TAG_ADD, {**data, "code": "1"}, follow=True)  # the list shows the messages
    assert response.redirect_chain, response.content[:2000]
    return response


def test_fetching_policy_data_keeps_each_policys_tags_and_replaces_them_next_time(
    wired: Company, sim: ExpensifySimulator
) -> None:
    policy.load_policy_data(wired)

    kept = set(PolicyTag.objects.filter(company=wired).values_list("policy_id", "level", "name"))
    assert kept == {("POL1", 1, "Sales"), ("POL1", 1, "Field Ops"), ("POL1", 2, "Project: Phoenix")}
    first = PolicyTagList.objects.get(company=wired)
    assert first.policy_ids == ["POL1"]

    changed = {**POLICY, "tags": [{"name": "Department", "tags": [{"name": "Marketing"}]}]}
    sim_control(sim, "/_sim/load", {"policies": {"POL1": changed}})
    policy.load_policy_data(wired)

    assert list(PolicyTag.objects.filter(company=wired).values_list("name", flat=True)) == ["Marketing"]
    assert PolicyTagList.objects.get(company=wired).fetched_at >= first.fetched_at


def test_a_value_in_the_policy_saves_without_warning_trimmed_and_in_any_case(
    superuser_client: Client, wired: Company, sim: ExpensifySimulator
) -> None:
    policy.load_policy_data(wired)
    calls = expensify_calls(sim)

    assert warnings(add_tag_mapping(superuser_client, wired, "  field ops ")) == []
    assert warnings(add_tag_mapping(superuser_client, wired, "PROJECT: PHOENIX", level=2)) == []
    assert expensify_calls(sim) == calls  # saving never calls Expensify


def test_a_value_unknown_to_the_policy_warns_naming_tag_level_and_fetch_time(
    superuser_client: Client, wired: Company, sim: ExpensifySimulator
) -> None:
    policy.load_policy_data(wired)
    fetched = PolicyTagList.objects.get(company=wired).fetched_at
    calls = expensify_calls(sim)

    (misspelt,) = warnings(add_tag_mapping(superuser_client, wired, "Feild Ops"))
    (wrong_level,) = warnings(add_tag_mapping(superuser_client, wired, "Sales", level=2))

    assert "Tag “Feild Ops” (level 1) is not among the tags of company ABC's Expensify policies" in misspelt
    assert f"fetched {fetched:%Y-%m-%d %H:%M}" in misspelt
    assert f'href="{REFRESH}?company={wired.pk}"' in misspelt
    assert "Tag “Sales” (level 2)" in wrong_level
    assert TagMapping.objects.filter(company=wired).count() == 2  # a warning, not a refusal
    assert expensify_calls(sim) == calls


def test_when_no_list_was_ever_fetched_the_warning_says_so_and_links_the_policy_data_page(
    superuser_client: Client, wired: Company, sim: ExpensifySimulator
) -> None:
    (warning,) = warnings(add_tag_mapping(superuser_client, wired, "Sales"))

    assert "could not be checked: the tag list of company ABC's Expensify policies" in warning
    assert "was never fetched" in warning
    assert f'href="/admin/connector/company/{wired.pk}/policy-data/"' in warning
    assert expensify_calls(sim) == 0


def test_an_import_warns_of_unknown_tags_in_the_preview_and_after_confirming(
    superuser_client: Client, wired: Company, sim: ExpensifySimulator
) -> None:
    policy.load_policy_data(wired)
    calls = expensify_calls(sim)
    rows = [
        ["company", "tag_level", "tag_value", "segment", "code"],
        ["ABC", "1", "sales", "Department", "1"],
        ["ABC", "1", "Salse", "Department", "2"],
    ]

    response = superuser_client.post(TAG_IMPORT, {"format": "0", "import_file": csv_file(rows)})
    (preview_warning,) = warnings(response)
    assert preview_warning.startswith("Row 3: Tag “Salse” (level 1) is not among the tags")
    assert TagMapping.objects.count() == 0

    form = response.context["confirm_form"]
    done = superuser_client.post(TAG_CONFIRM, dict(form.initial))
    (confirmed_warning,) = warnings(done)
    assert confirmed_warning.startswith("Row 3: Tag “Salse” (level 1)")
    assert sorted(TagMapping.objects.values_list("tag_value", flat=True)) == ["Salse", "sales"]
    assert expensify_calls(sim) == calls  # neither step called Expensify


def test_an_import_before_any_fetch_says_the_list_was_never_fetched(
    superuser_client: Client, wired: Company
) -> None:
    rows = [
        ["company", "tag_level", "tag_value", "segment", "code"],
        ["ABC", "1", "Sales", "Department", "2"],
    ]

    response = superuser_client.post(TAG_IMPORT, {"format": "0", "import_file": csv_file(rows)})

    (warning,) = warnings(response)
    assert "was never fetched" in warning
    assert f"/admin/connector/company/{wired.pk}/policy-data/" in warning


def test_refresh_policy_tags_from_the_tag_mapping_list(
    superuser_client: Client, wired: Company, sim: ExpensifySimulator
) -> None:
    listing = superuser_client.get("/admin/mappings/tagmapping/")
    assert REFRESH.encode() in listing.content

    page = superuser_client.get(REFRESH)
    assert page.status_code == 200
    assert b"never" in page.content

    done = superuser_client.post(REFRESH, {"company": wired.pk})

    assert done.status_code == 302
    assert done["Location"] == "/admin/mappings/tagmapping/"
    assert PolicyTag.objects.filter(company=wired).count() == 3
    (message,) = [str(m) for m in get_messages(done.wsgi_request)]
    assert message == "ABC: policy tags refreshed from Expensify (3 tag value(s) in 1 policy)."


def test_a_failed_refresh_says_why_in_one_sentence_and_keeps_the_old_list(
    superuser_client: Client, wired: Company
) -> None:
    PolicyTagList.objects.create(company=wired, fetched_at="2026-01-01T00:00:00Z", policy_ids=["POL1"])
    credential = wired.expensify
    credential.partner_user_secret = "not-the-secret"
    credential.save()

    done = superuser_client.post(REFRESH, {"company": wired.pk})

    (message,) = [str(m) for m in get_messages(done.wsgi_request)]
    assert message == "ABC: Expensify: credentials refused"
    assert "not-the-secret" not in message
    assert PolicyTagList.objects.get(company=wired).policy_ids == ["POL1"]


def test_refreshing_needs_the_change_permission(wired: Company) -> None:
    viewer = staff_client_with("view_tagmapping")

    assert viewer.get("/admin/mappings/tagmapping/").status_code == 200
    assert REFRESH.encode() not in viewer.get("/admin/mappings/tagmapping/").content
    assert viewer.post(REFRESH, {"company": wired.pk}).status_code == 403
    assert not PolicyTagList.objects.exists()
