"""Admin-facing Expensify actions: check the connection, list what still needs a mapping."""

from __future__ import annotations

from dataclasses import dataclass

from connector.expensify import client_for_company
from connector.expensify.types import PolicyCategory, PolicyData, PolicyTag
from connector.models import Company


@dataclass(frozen=True)
class PolicyOverview:
    """What the company's Expensify policies hold that has no mapping in the connector yet.

    A category listed in `unmapped_categories` may still post through its Expensify GL code
    (`PolicyCategory.gl_code`); one without a GL code will fail reports as needs-mapping.
    """

    policies: tuple[PolicyData, ...]
    unmapped_categories: tuple[PolicyCategory, ...]
    unmapped_tags: tuple[PolicyTag, ...]
    missing_policy_ids: tuple[str, ...]  # configured on the company but not returned by Expensify


def test_expensify_connection(company: Company) -> str:
    """Call Expensify with the company's credentials and return a one-line summary.

    Raises ExpensifyError (ExpensifyAuthError for refused credentials) on failure.
    """
    with client_for_company(company) as client:
        return client.test_connection()


def load_policy_data(company: Company) -> PolicyOverview:
    """Fetch the company's policies and list enabled categories and tag values with no mapping.

    Policies are the company's configured policy IDs, or every policy the partner user sees.
    """
    from mappings.models import CategoryMapping, TagMapping

    with client_for_company(company) as client:
        policy_ids = company.policy_ids or [
            str(p.get("id")) for p in client.list_policies() if p.get("id")
        ]
        policies = client.get_policy_data(policy_ids)
    mapped_categories = set(
        CategoryMapping.objects.filter(company=company).values_list("category", flat=True)
    )
    mapped_tags = set(
        TagMapping.objects.filter(company=company).values_list("tag_level", "tag_value")
    )
    categories: dict[str, PolicyCategory] = {}
    tags: dict[tuple[int, str], PolicyTag] = {}
    for policy in policies.values():
        for category in policy.categories:
            if category.enabled and category.name not in mapped_categories:
                categories.setdefault(category.name, category)
        for tag in policy.tags:
            if (tag.level, tag.name) not in mapped_tags:
                tags.setdefault((tag.level, tag.name), tag)
    return PolicyOverview(
        policies=tuple(policies[p] for p in policy_ids if p in policies),
        unmapped_categories=tuple(sorted(categories.values(), key=lambda c: c.name.lower())),
        unmapped_tags=tuple(sorted(tags.values(), key=lambda t: (t.level, t.name.lower()))),
        missing_policy_ids=tuple(p for p in policy_ids if p not in policies),
    )


__all__ = ["PolicyOverview", "load_policy_data", "test_expensify_connection"]
