"""The company's Expensify policies as the mappings see them: check the connection, fetch the policy
data (keeping each policy's tag list for the tag mapping checks), list what still needs a mapping.

These are the only functions here that call Expensify; the tag checks (mappings/tag_check.py) read
the kept list and never do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from connector.expensify import client_for_company
from connector.expensify.types import PolicyCategory, PolicyData
from connector.expensify.types import PolicyTag as ExpensifyTag
from connector.models import Company
from mappings.models import CategoryMapping, PolicyTag, PolicyTagList, TagMapping

NAME_LENGTH = PolicyTag._meta.get_field("name").max_length or 200


@dataclass(frozen=True)
class PolicyOverview:
    """What the company's Expensify policies hold that has no mapping in the connector yet.

    A category listed in `unmapped_categories` may still post through its Expensify GL code
    (`PolicyCategory.gl_code`); one without a GL code will fail reports as needs-mapping.
    """

    policies: tuple[PolicyData, ...]
    unmapped_categories: tuple[PolicyCategory, ...]
    unmapped_tags: tuple[ExpensifyTag, ...]
    missing_policy_ids: tuple[str, ...]  # configured on the company but not returned by Expensify


def test_expensify_connection(company: Company) -> str:
    """Call Expensify with the company's credentials and return a one-line summary.

    Raises ExpensifyError (ExpensifyAuthError for refused credentials) on failure.
    """
    with client_for_company(company) as client:
        return client.test_connection()


def fetch_policies(company: Company) -> tuple[list[str], dict[str, PolicyData]]:
    """The company's policy IDs (configured, or every policy the partner user sees) and their data;
    the tag lists are kept (keep_policy_tags) as soon as they arrive."""
    with client_for_company(company) as client:
        policy_ids = company.policy_ids or [str(p.get("id")) for p in client.list_policies() if p.get("id")]
        policies = client.get_policy_data(policy_ids)
    keep_policy_tags(company=company, policies=policies.values())
    return policy_ids, policies


def keep_policy_tags(*, company: Company, policies: Iterable[PolicyData], at: datetime | None = None) -> int:
    """Replace the company's kept tag lists with these policies' tags; returns how many were kept."""
    fetched_at = at or timezone.now()
    policies = list(policies)
    rows = {
        (policy.policy_id, tag.level, tag.name): PolicyTag(
            company=company, policy_id=policy.policy_id, level=tag.level, name=tag.name, fetched_at=fetched_at
        )
        for policy in policies
        for tag in policy.tags
        if len(tag.name) <= NAME_LENGTH  # longer than any tag mapping's value: never matched
    }
    with transaction.atomic():
        PolicyTag.objects.filter(company=company).delete()
        PolicyTag.objects.bulk_create(rows.values())
        PolicyTagList.objects.update_or_create(
            company=company,
            defaults={"fetched_at": fetched_at, "policy_ids": [p.policy_id for p in policies]},
        )
    return len(rows)


def load_policy_data(company: Company) -> PolicyOverview:
    """Fetch the company's policies and list enabled categories and tag values with no mapping."""
    policy_ids, policies = fetch_policies(company)
    mapped_categories = set(
        CategoryMapping.objects.filter(company=company).values_list("category", flat=True)
    )
    mapped_tags = set(TagMapping.objects.filter(company=company).values_list("tag_level", "tag_value"))
    categories: dict[str, PolicyCategory] = {}
    tags: dict[tuple[int, str], ExpensifyTag] = {}
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


__all__ = [
    "PolicyOverview",
    "fetch_policies",
    "keep_policy_tags",
    "load_policy_data",
    "test_expensify_connection",
]
