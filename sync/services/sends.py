"""What passes between the three steps of a post: a claimed Send, and Sage's Answer to it."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from connector.sage100.errors import SageCompanyError
from connector.sage100.retry import PostOutcome
from connector.sage100.types import FoundEntry, JournalEntryPayload
from sync.models import Expense, ExpenseReport, JournalEntry


class CompanyStopped(Exception):
    """A company-level failure (credentials, access, configuration): the run stops."""

    def __init__(self, error: SageCompanyError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Send:
    """A claimed report and the one entry it may send now."""

    report: ExpenseReport
    entry: JournalEntry
    payload: JournalEntryPayload
    settling: bool  # the entry was open already: lookup, then the same key and body
    eligible: bool  # this run's export shows the report approved (else: lookup only)
    lines: Sequence[Any] | None = None
    expenses: list[Expense] | None = None
    # A fresh key's search by reference, started ahead by the pipeline while other posts are in
    # Sage (transmit waits for it); None: transmit searches itself.
    searched: Future[list[FoundEntry]] | None = None


@dataclass
class Answer:
    """What Sage said to one Send (transmit's result; no database work done yet)."""

    outcome: PostOutcome | None = None
    found: FoundEntry | None = None  # settled by lookup
    in_sage: list[FoundEntry] = field(default_factory=list)  # found by reference before a first post
    not_resent: bool = False  # open, not found, and not eligible: left open
    error: Exception | None = None
    unknown_seen: bool = False  # some post in this send had an unknown outcome
