"""Is a tag mapping's value one of the company's Expensify policy tags? Checked against the tag
lists kept by the last policy fetch (mappings/policy.py), never by calling Expensify.

A value matches as the journal builder matches an expense's tag: trimmed and case-insensitive, at
its level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from connector.models import Company
from mappings.models import PolicyTag, PolicyTagList


def tag_key(value: str) -> str:
    """A tag value as it is compared: trimmed, case folded."""
    return value.strip().casefold()


@dataclass(frozen=True)
class KnownTags:
    """The tags of a company's policies as last fetched; `fetched_at` None when never fetched."""

    company_code: str
    fetched_at: datetime | None
    values: frozenset[tuple[int, str]]  # (level, tag_key(name))

    def knows(self, level: int, value: str) -> bool:
        return (level, tag_key(value)) in self.values


@dataclass(frozen=True)
class UnknownTag:
    """A mapped tag value the kept lists do not hold (or could not be checked against)."""

    company_id: int
    company_code: str
    level: int
    value: str
    fetched_at: datetime | None

    def text(self) -> str:
        """The warning in one sentence, naming the tag, its level and when the list was fetched."""
        tag = f"Tag “{self.value}” (level {self.level})"
        if self.fetched_at is None:
            return (
                f"{tag} could not be checked: the tag list of company {self.company_code}'s Expensify "
                "policies was never fetched. Open the company's Policy data page to fetch it."
            )
        when = timezone.localtime(self.fetched_at).strftime("%Y-%m-%d %H:%M %Z")
        return (
            f"{tag} is not among the tags of company {self.company_code}'s Expensify policies (list "
            f"fetched {when}): check its spelling, or refresh the policy tags if it was added since."
        )


def known_tags(company: Company) -> KnownTags:
    """The company's kept tag lists (one query each for the list and its values)."""
    kept = PolicyTagList.objects.filter(company=company).first()
    values = PolicyTag.objects.filter(company=company).values_list("level", "name")
    return KnownTags(
        company_code=company.code,
        fetched_at=kept.fetched_at if kept else None,
        values=frozenset((level, tag_key(name)) for level, name in values) if kept else frozenset(),
    )


def unknown_tag(known: KnownTags, *, company: Company, level: int, value: str) -> UnknownTag | None:
    """The warning for a tag value at a level, or None when the kept list holds it."""
    if known.fetched_at is not None and known.knows(level, value):
        return None
    return UnknownTag(company.pk, company.code, level, value.strip(), known.fetched_at)
