"""The journal builder's inputs, results and errors: plain frozen values, integer cents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, NamedTuple

from connector.mask import AccountMask
from connector.sage100.types import JournalEntryPayload

EntryShape = Literal["summary", "detail"]
PostingDateRule = Literal["approved", "exported", "last_expense"]
ClosedPeriodRule = Literal["fail", "next_open"]
LineKind = Literal["expense", "offset"]

ENTRY_SHAPES = ("summary", "detail")
POSTING_DATE_RULES = ("approved", "exported", "last_expense")
CLOSED_PERIOD_RULES = ("fail", "next_open")
ACTIVE = "A"
# Sage amounts have at most 12 digits before the decimal point.
MAX_LINE_CENTS = 10**14 - 1
# JournalLine.mapping_source holds 200 characters.
MAPPING_SOURCE_MAX = 200
_IDS_SHOWN = 5
_STATUS_WORDS = {"I": "inactive", "D": "deleted"}
# Every entry this connector makes has a reference starting with this (reconcile searches by it).
REFERENCE_PREFIX = "EXP "


def _require_cents(value: object, what: str) -> None:
    # bool is an int subclass and float is the defect we are guarding against.
    if type(value) is not int:
        raise TypeError(f"{what} must be integer cents, got {type(value).__name__} {value!r}")


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class ExpenseInput:
    """One expense of the approved report, amount already in the report's currency."""

    transaction_id: str
    merchant: str
    category: str
    category_gl_code: str
    tag_levels: tuple[str, ...]
    amount_cents: int
    currency: str
    reimbursable: bool
    spent_on: date | None

    def __post_init__(self) -> None:
        _require_cents(self.amount_cents, f"amount of expense {self.transaction_id}")
        object.__setattr__(self, "tag_levels", tuple(self.tag_levels))


@dataclass(frozen=True)
class ReportInput:
    """The approved revision of an Expensify report, as the engine read it."""

    report_id: str
    report_name: str
    employee_email: str
    policy_id: str
    currency: str
    total_cents: int
    approved_on: date | None
    expenses: tuple[ExpenseInput, ...]

    def __post_init__(self) -> None:
        _require_cents(self.total_cents, f"total of report {self.report_id}")
        object.__setattr__(self, "expenses", tuple(self.expenses))

    @property
    def net_cents(self) -> int:
        """The report total recomputed from its expenses (refunds negative)."""
        return sum(e.amount_cents for e in self.expenses)


@dataclass(frozen=True)
class CompanyRules:
    """The company settings the builder needs; the engine copies them from `Company`."""

    code: str
    mask: AccountMask
    home_currency: str
    allow_foreign_currency: bool
    reimbursable_offset_account: str
    card_offset_account: str
    entry_shape: EntryShape = "summary"
    posting_date_rule: PostingDateRule = "approved"
    closed_period_rule: ClosedPeriodRule = "fail"
    source_journal: str = "GJ"
    required_segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("entry_shape", self.entry_shape, ENTRY_SHAPES),
            ("posting_date_rule", self.posting_date_rule, POSTING_DATE_RULES),
            ("closed_period_rule", self.closed_period_rule, CLOSED_PERIOD_RULES),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        object.__setattr__(self, "required_segments", tuple(self.required_segments))


@dataclass(frozen=True)
class MappingTables:
    """The company's mappings, keyed for lookup.

    `categories`: category name -> formatted account. `tags`: (tag level from 1, tag value
    casefolded) -> (segment name or number, code). `employee_offsets`: email lowercased ->
    account. `card_offsets`: Expensify policy ID -> card clearing account.
    """

    categories: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[tuple[int, str], tuple[str, str]] = field(default_factory=dict)
    employee_offsets: Mapping[str, str] = field(default_factory=dict)
    card_offsets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    """The company's cached Sage chart: formatted account -> status ("A", "I" or "D")."""

    accounts: Mapping[str, str]


class Period(NamedTuple):
    start: date
    end: date
    open: bool


@dataclass(frozen=True)
class Periods:
    """The Sage fiscal periods known for the company; a date in none of them is closed."""

    periods: tuple[Period, ...]

    def __init__(self, periods: Iterable[tuple[date, date, bool]]) -> None:
        items = tuple(sorted(Period(*p) for p in periods))
        for p in items:
            if p.start > p.end:
                raise ValueError(f"period {p.start} to {p.end} ends before it starts")
        object.__setattr__(self, "periods", items)

    def containing(self, day: date) -> Period | None:
        return next((p for p in self.periods if p.start <= day <= p.end), None)

    def next_open_after(self, day: date) -> Period | None:
        return next((p for p in self.periods if p.open and p.start > day), None)


# ---------------------------------------------------------------------------------------------
# Results and errors


@dataclass(frozen=True)
class EntryLine:
    """One journal line: exactly one of debit_cents / credit_cents is positive."""

    account: str
    debit_cents: int
    credit_cents: int
    comment: str
    kind: LineKind
    source_transactions: tuple[str, ...]
    mapping_source: str

    @property
    def net_cents(self) -> int:
        return self.debit_cents - self.credit_cents


@dataclass(frozen=True)
class BuiltEntry:
    """A balanced entry ready to post, with what the preview page and the audit trail show."""

    company_code: str
    report_id: str
    currency: str
    source_journal: str
    posting_date: date
    reference: str
    comment: str
    lines: tuple[EntryLine, ...]
    net_total_cents: int
    expense_accounts: dict[str, str]
    offset_accounts: dict[str, str]
    zero_expenses: tuple[str, ...]
    notes: list[str]

    @property
    def total_debit_cents(self) -> int:
        return sum(line.debit_cents for line in self.lines)

    @property
    def total_credit_cents(self) -> int:
        return sum(line.credit_cents for line in self.lines)

    def payload(self) -> JournalEntryPayload:
        """The body sent to Sage (either transport)."""
        return JournalEntryPayload.from_lines(
            source_journal=self.source_journal,
            posting_date=self.posting_date,
            reference=self.reference,
            comment=self.comment,
            lines=self.lines,
        )


@dataclass(frozen=True)
class NothingToPost:
    """Every line nets to zero: nothing goes to Sage, and the audit says so."""

    reason: str
    zero_expenses: tuple[str, ...]
    expense_accounts: dict[str, str] = field(default_factory=dict)


class JournalError(Exception):
    """The report cannot become a journal entry as it stands."""


class NeedsMapping(JournalError):
    """Mappings are missing or wrong; `problems` lists every one found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("needs mapping: " + "; ".join(self.problems))


class ReportRejected(JournalError):
    """The report fails validation (total, currency, accounts, period ...); `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BuildBug(AssertionError):
    """The builder produced an unbalanced or malformed entry: a defect, never posted."""
