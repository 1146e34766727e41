"""A company's Expensify policies: one row per policy, a policy belonging to one company."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import models

if TYPE_CHECKING:
    from connector.models.company import Company


class CompanyPolicy(models.Model):
    """One Expensify policy (workspace) of a company: the unique key keeps it to one company."""

    company = models.ForeignKey("connector.Company", on_delete=models.CASCADE, related_name="policies")
    policy_id = models.CharField("Expensify policy ID", max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "Expensify policy"
        ordering = ["company", "position", "id"]

    def __str__(self) -> str:
        return f"{self.policy_id} ({self.company.code})"


class PolicyTakenError(ValidationError):
    """A policy ID is already listed by another company."""


def replace_company_policies(*, company: Company, policy_ids: Sequence[str]) -> None:
    """Make the company's policy rows exactly `policy_ids` (in order); the caller holds a transaction.

    Raises PolicyTakenError naming the other company when one already lists a policy (checked
    here for a clear message; the unique constraint holds it under concurrent saves too).
    """
    ids = list(dict.fromkeys(p.strip() for p in policy_ids if p.strip()))
    taken = CompanyPolicy.objects.filter(policy_id__in=ids).exclude(company=company).select_related("company")
    for other in taken:
        raise PolicyTakenError(
            {
                "expensify_policy_ids": (
                    f"Expensify policy {other.policy_id} already belongs to company "
                    f"{other.company.code} ({other.company.name}): a policy belongs to one company."
                )
            }
        )
    CompanyPolicy.objects.filter(company=company).exclude(policy_id__in=ids).delete()
    existing = {row.policy_id: row for row in CompanyPolicy.objects.filter(company=company)}
    for position, policy_id in enumerate(ids):
        row = existing.get(policy_id)
        if row is None:
            CompanyPolicy.objects.create(company=company, policy_id=policy_id, position=position)
        elif row.position != position:
            CompanyPolicy.objects.filter(pk=row.pk).update(position=position)
