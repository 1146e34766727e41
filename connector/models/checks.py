"""The system check for policies the upgrade gave to one company and took from another.

Registered with Django's checks when this module is imported (by `connector.models`).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning, register
from django.db import DatabaseError

from connector.models.company import Company
from connector.models.policies import CompanyPolicy


def policies_lost_in_upgrade() -> list[str]:
    """Sentences naming each policy the upgrade kept for one company and took from another."""
    problems: list[str] = []
    for company in Company.objects.exclude(legacy_policy_ids="").prefetch_related("policies"):
        mine = set(company.policy_ids)
        for policy_id in (p.strip() for p in company.legacy_policy_ids.split(",")):
            if not policy_id or policy_id in mine:
                continue
            owner = CompanyPolicy.objects.filter(policy_id=policy_id).select_related("company").first()
            holder = f"company {owner.company.code} ({owner.company.name})" if owner else "no company"
            problems.append(
                f"Company {company.code} ({company.name}) listed Expensify policy {policy_id}, "
                f"which {holder} also listed; the upgrade kept it for {holder} only."
            )
    return problems


@register()
def check_shared_policies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about policies two companies listed before one policy could belong to one company."""
    try:
        problems = policies_lost_in_upgrade()
    except DatabaseError:
        return []  # no tables yet (before migrate) or no database
    return [
        Warning(
            problem,
            hint="Decide which company owns the policy and save that company's page (or import "
            "its company file); saving clears this warning.",
            id="connector.W110",
        )
        for problem in problems
    ]
