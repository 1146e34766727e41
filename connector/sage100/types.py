"""Plain values exchanged with Sage 100, shared by both transports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connector.money import format_amount


@dataclass(frozen=True)
class JournalLinePayload:
    account: str
    debit_cents: int
    credit_cents: int
    comment: str = ""

    def to_json(self) -> dict[str, str]:
        """The contract's line object: both amounts as 2-place strings."""
        return {
            "account": self.account,
            "debit": format_amount(self.debit_cents),
            "credit": format_amount(self.credit_cents),
            "comment": self.comment,
        }


@dataclass(frozen=True)
class JournalEntryPayload:
    source_journal: str
    posting_date: date
    reference: str
    comment: str
    lines: tuple[JournalLinePayload, ...]

    def to_json(self) -> dict[str, Any]:
        """The contract's `entry` object, exactly as the agent expects it."""
        return {
            "sourceJournal": self.source_journal,
            "postingDate": self.posting_date.isoformat(),
            "reference": self.reference,
            "comment": self.comment,
            "lines": [line.to_json() for line in self.lines],
        }

    @property
    def total_debit_cents(self) -> int:
        return sum(line.debit_cents for line in self.lines)

    @classmethod
    def from_lines(
        cls, *, source_journal: str, posting_date: date, reference: str, comment: str, lines: Iterable[Any]
    ) -> JournalEntryPayload:
        """The body from an entry's header and any lines with account, debit/credit cents, comment."""
        return cls(
            source_journal=source_journal,
            posting_date=posting_date,
            reference=reference,
            comment=comment,
            lines=tuple(
                JournalLinePayload(
                    account=line.account,
                    debit_cents=line.debit_cents,
                    credit_cents=line.credit_cents,
                    comment=line.comment,
                )
                for line in lines
            ),
        )


@dataclass(frozen=True)
class PostResult:
    entry_no: str
    batch_no: str
    posting_date: date
    reference: str
    replayed: bool


@dataclass(frozen=True)
class FoundEntry(PostResult):
    source_journal: str = ""
    comment: str = ""
    idempotency_key: str = ""
    lines: tuple[JournalLinePayload, ...] = field(default_factory=tuple)

    def as_result(self) -> PostResult:
        """The entry as a post result (what the engine records)."""
        return PostResult(
            entry_no=self.entry_no,
            batch_no=self.batch_no,
            posting_date=self.posting_date,
            reference=self.reference,
            replayed=self.replayed,
        )


@dataclass(frozen=True)
class GLAccountInfo:
    account: str
    account_key: str
    description: str
    main_account_code: str
    status: str


@dataclass(frozen=True)
class StructureSegment:
    name: str
    length: int
    type: str  # "numeric" or "alphanumeric"


@dataclass(frozen=True)
class AccountStructure:
    mask: str
    separator: str
    segments: tuple[StructureSegment, ...]

    @property
    def derived_mask(self) -> str:
        """The mask text the segments describe: numeric -> '#', alphanumeric -> 'A'."""
        return self.separator.join(("#" if s.type == "numeric" else "A") * s.length for s in self.segments)

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self.segments]


@dataclass(frozen=True)
class FiscalPeriod:
    period: int
    start: date
    end: date
    status: str  # "open" or "closed"


@dataclass(frozen=True)
class PingInfo:
    agent_version: str
    sage_version: str
    max_concurrent_writes: int | None
