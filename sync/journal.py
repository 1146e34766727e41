"""From an approved expense report to a balanced Sage 100 journal entry: pure, no models, no I/O.

The sync engine reads the report, the company's rules, mappings, chart and periods, and calls
`build_entry`. It gets back a `BuiltEntry` ready to post (plus what the preview page and the
audit trail need), or `NothingToPost`, or one of the typed errors: `NeedsMapping` (a person
must add or fix mappings), `ReportRejected` (the report cannot be posted as it is) and
`BuildBug` (this module got it wrong; never expected).

Money is integer cents throughout (see `docs/accounting.md`); accounts are formatted only
through the company's `AccountMask`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, NamedTuple, TypeVar

from connector.money import display
from connector.sage100.mask import AccountFormatError, AccountMask
from connector.sage100.types import JournalEntryPayload
from sync.text import (
    ENTRY_COMMENT_MAX,
    LINE_COMMENT_MAX,
    REFERENCE_MAX,
    sage_text,
    to_sage_text,
    truncate,
)

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


# ---------------------------------------------------------------------------------------------
# Building


@dataclass(frozen=True)
class _Resolved:
    expense: ExpenseInput
    account: str
    source: str
    offset: str
    offset_source: str


class _Problems:
    """Mapping problems, each said once with the expenses it concerns."""

    def __init__(self) -> None:
        self._items: dict[str, list[str]] = {}

    def add(self, message: str, transaction_id: str) -> None:
        ids = self._items.setdefault(message, [])
        if transaction_id not in ids:
            ids.append(transaction_id)

    def __bool__(self) -> bool:
        return bool(self._items)

    def render(self) -> list[str]:
        return [f"{message} ({_expense_ids(ids)})" for message, ids in self._items.items()]


def _expense_ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_IDS_SHOWN])
    more = f" and {len(ids) - _IDS_SHOWN} more" if len(ids) > _IDS_SHOWN else ""
    return f"{'expense' if len(ids) == 1 else 'expenses'} {shown}{more}"


def _order_key(expense: ExpenseInput) -> tuple[date, str]:
    return (expense.spent_on or date.min, expense.transaction_id)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_T = TypeVar("_T")


def _unique(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


def _side(amount: int) -> tuple[int, int]:
    """Debit/credit cents for a net amount: positive debits, negative credits."""
    return (amount, 0) if amount > 0 else (0, -amount)


def _check_report(report: ReportInput, rules: CompanyRules) -> None:
    if not report.report_id.strip():
        raise ReportRejected("the report has no Expensify report ID")
    ids = [e.transaction_id for e in report.expenses]
    if any(not t.strip() for t in ids):
        raise ReportRejected(f"report {report.report_id} has an expense without a transaction ID")
    duplicates = sorted(t for t, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise ReportRejected(
            f"report {report.report_id} lists transaction(s) {', '.join(duplicates)} more than once"
        )
    currency, home = report.currency.strip().upper(), rules.home_currency.strip().upper()
    if currency != home and not rules.allow_foreign_currency:
        raise ReportRejected(
            f"report {report.report_id} is in {currency}; company {rules.code} posts in {home} "
            "and does not allow other currencies"
        )
    recomputed = report.net_cents
    if abs(recomputed) != abs(report.total_cents):
        raise ReportRejected(
            f"report {report.report_id} total mismatch: Expensify says "
            f"{display(abs(report.total_cents), currency)}, its {len(report.expenses)} expense(s) "
            f"add up to {display(abs(recomputed), currency)}"
        )
    if len(rules.source_journal) != 2:
        raise ReportRejected(
            f"company {rules.code} source journal {rules.source_journal!r} must be 2 characters"
        )


def _required_indexes(rules: CompanyRules) -> list[int]:
    indexes = []
    for name in rules.required_segments:
        try:
            indexes.append(rules.mask.segment_index(str(name)))
        except AccountFormatError as exc:
            raise ReportRejected(f"company {rules.code} required segment setting: {exc}") from None
    return _unique(indexes)


def _tags_text(expense: ExpenseInput) -> str:
    tags = [(i, v.strip()) for i, v in enumerate(expense.tag_levels, start=1) if v.strip()]
    if not tags:
        return "no tag"
    word = "tag" if len(tags) == 1 else "tags"
    return f"{word} " + ", ".join(f"{v!r} at level {i}" for i, v in tags)


def _category_account(
    expense: ExpenseInput, mask: AccountMask, mappings: MappingTables, problems: _Problems
) -> tuple[str, str] | None:
    category = expense.category.strip()
    tid = expense.transaction_id
    label = f"category {category}" if category else "uncategorized expense"
    mapped = mappings.categories.get(category) if category else None
    if mapped is not None:
        try:
            account = mask.format(mapped)
        except AccountFormatError as exc:
            problems.add(f"{label}: category mapping {mapped!r} does not fit mask {mask.text}: {exc}", tid)
            return None
        return account, f"category mapping {category} → {account}"
    gl_code = expense.category_gl_code.strip()
    if gl_code:
        try:
            account = mask.format_leading(gl_code)
        except AccountFormatError as exc:
            problems.add(
                f"{label}: no category mapping, and Expensify GL code {gl_code!r} does not fit "
                f"mask {mask.text}: {exc}",
                tid,
            )
            return None
        return account, f"Expensify GL code {gl_code}" + (f" → {account}" if account != gl_code else "")
    problems.add(f"{label}: no category mapping and no Expensify GL code", tid)
    return None


def _tag_settings(
    expense: ExpenseInput,
    mask: AccountMask,
    mappings: MappingTables,
    required: Sequence[int],
    problems: _Problems,
) -> list[tuple[int, str, str]]:
    """(segment index, formatted code, description) for each tag mapping the expense hits."""
    settings: list[tuple[int, str, str]] = []
    tid = expense.transaction_id
    for level, raw in enumerate(expense.tag_levels, start=1):
        value = raw.strip()
        if not value:
            continue
        hit = mappings.tags.get((level, value.casefold()))
        if hit is None:
            continue
        segment, code = hit
        try:
            index = mask.segment_index(segment)
            formatted = mask.format_segment(index, code)
        except AccountFormatError as exc:
            problems.add(f"tag {value!r} at level {level}: mapping to segment {segment} = {code}: {exc}", tid)
            continue
        name = mask.segments[index].name
        for other_index, other_code, other in settings:
            if other_index == index and other_code != formatted:
                problems.add(
                    f"{other} and tag L{level} {value!r} → {name}={formatted} set segment {name} "
                    "to different codes",
                    tid,
                )
        settings.append((index, formatted, f"tag L{level} {value!r} → {name}={formatted}"))
    set_indexes = {index for index, _, _ in settings}
    for index in required:
        if index not in set_indexes:
            category = expense.category.strip() or "(none)"
            problems.add(
                f"category {category}, {_tags_text(expense)}: no mapping sets required segment "
                f"{mask.segments[index].name}",
                tid,
            )
    return settings


def _company_offset(rules: CompanyRules, reimbursable: bool) -> tuple[str, str]:
    if reimbursable:
        value, what = rules.reimbursable_offset_account, "company reimbursement account"
    else:
        value, what = rules.card_offset_account, "company card account"
    if not value.strip():
        raise ReportRejected(f"company {rules.code} has no {what} set")
    try:
        return rules.mask.format(value), what
    except AccountFormatError as exc:
        raise ReportRejected(f"company {rules.code} {what} {value!r}: {exc}") from None


def _offset_account(
    report: ReportInput,
    expense: ExpenseInput,
    rules: CompanyRules,
    mappings: MappingTables,
    problems: _Problems,
) -> tuple[str, str] | None:
    if expense.reimbursable:
        email = report.employee_email.strip().lower()
        override = mappings.employee_offsets.get(email) if email else None
        what = f"employee override {email}"
    else:
        policy = report.policy_id.strip()
        override = mappings.card_offsets.get(policy) if policy else None
        what = f"card override for policy {policy}"
    if override is None:
        return _company_offset(rules, expense.reimbursable)
    try:
        return rules.mask.format(override), what
    except AccountFormatError as exc:
        problems.add(
            f"{what}: account {override!r} does not fit mask {rules.mask.text}: {exc}",
            expense.transaction_id,
        )
        return None


def _resolve(
    report: ReportInput, rules: CompanyRules, mappings: MappingTables, expenses: Sequence[ExpenseInput]
) -> list[_Resolved]:
    """Every expense's debit and offset account, or NeedsMapping listing every problem."""
    mask = rules.mask
    required = _required_indexes(rules)
    problems = _Problems()
    resolved: list[_Resolved] = []
    # Report order may change between reads; problems are listed in a stable order.
    for expense in sorted(expenses, key=_order_key):
        base = _category_account(expense, mask, mappings, problems)
        settings = _tag_settings(expense, mask, mappings, required, problems)
        offset = _offset_account(report, expense, rules, mappings, problems)
        if base is None or offset is None:
            continue
        account, source = base
        for index, code, description in settings:
            account = mask.replace_segment(account, index, code)
            source += f"; {description}"
        resolved.append(_Resolved(expense, account, _cap(source, MAPPING_SOURCE_MAX), *offset))
    if problems:
        raise NeedsMapping(problems.render())
    return resolved


def _offset_comment(items: Sequence[_Resolved], report: ReportInput) -> str:
    kinds = {r.expense.reimbursable for r in items}
    if kinds == {True}:
        text = f"Employee reimbursement {report.employee_email.strip()}".strip()
    elif kinds == {False}:
        text = "Company card charges"
    else:
        text = "Reimbursable and company card expenses"
    return sage_text(text, LINE_COMMENT_MAX)


def _detail_comment(expense: ExpenseInput) -> str:
    tid = to_sage_text(expense.transaction_id).strip()
    merchant = to_sage_text(expense.merchant).strip()
    room = LINE_COMMENT_MAX - len(tid) - 1
    # Cut the merchant, not the transaction ID: the ID is what ties the line to Expensify.
    if merchant and room > 0:
        return sage_text(f"{truncate(merchant, room).rstrip()} {tid}", LINE_COMMENT_MAX)
    return sage_text(tid or merchant, LINE_COMMENT_MAX)


def _expense_lines(resolved: Sequence[_Resolved], shape: EntryShape) -> list[EntryLine]:
    if shape == "detail":
        lines = []
        for r in sorted(resolved, key=lambda r: _order_key(r.expense)):
            debit, credit = _side(r.expense.amount_cents)
            lines.append(
                EntryLine(
                    account=r.account,
                    debit_cents=debit,
                    credit_cents=credit,
                    comment=_detail_comment(r.expense),
                    kind="expense",
                    source_transactions=(r.expense.transaction_id,),
                    mapping_source=r.source,
                )
            )
        return lines
    groups: dict[str, list[_Resolved]] = {}
    for r in resolved:
        groups.setdefault(r.account, []).append(r)
    lines = []
    for account in sorted(groups):
        items = sorted(groups[account], key=lambda r: _order_key(r.expense))
        net = sum(r.expense.amount_cents for r in items)
        if net == 0:
            continue
        debit, credit = _side(net)
        categories = sorted({r.expense.category.strip() for r in items if r.expense.category.strip()})
        lines.append(
            EntryLine(
                account=account,
                debit_cents=debit,
                credit_cents=credit,
                comment=sage_text(", ".join(categories), LINE_COMMENT_MAX),
                kind="expense",
                source_transactions=tuple(r.expense.transaction_id for r in items),
                mapping_source=_cap("; ".join(_unique(r.source for r in items)), MAPPING_SOURCE_MAX),
            )
        )
    return lines


def _offset_lines(resolved: Sequence[_Resolved], report: ReportInput) -> list[EntryLine]:
    groups: dict[str, list[_Resolved]] = {}
    for r in resolved:
        groups.setdefault(r.offset, []).append(r)
    lines = []
    for account in sorted(groups):
        items = sorted(groups[account], key=lambda r: _order_key(r.expense))
        net = sum(r.expense.amount_cents for r in items)
        if net == 0:
            continue
        # The offset takes the other side of the expenses it balances.
        debit, credit = _side(-net)
        lines.append(
            EntryLine(
                account=account,
                debit_cents=debit,
                credit_cents=credit,
                comment=_offset_comment(items, report),
                kind="offset",
                source_transactions=tuple(r.expense.transaction_id for r in items),
                mapping_source=_cap("; ".join(_unique(r.offset_source for r in items)), MAPPING_SOURCE_MAX),
            )
        )
    return lines


def _nets_to_zero(resolved: Sequence[_Resolved]) -> bool:
    per_account: dict[str, int] = {}
    for r in resolved:
        per_account[r.account] = per_account.get(r.account, 0) + r.expense.amount_cents
        per_account[r.offset] = per_account.get(r.offset, 0) - r.expense.amount_cents
    return all(v == 0 for v in per_account.values())


def _check_balanced(lines: Sequence[EntryLine], net_total: int) -> None:
    for line in lines:
        if type(line.debit_cents) is not int or type(line.credit_cents) is not int:
            raise BuildBug(f"line {line.account} has non-integer amounts")
        one_side = (line.debit_cents > 0) != (line.credit_cents > 0)
        if not one_side or min(line.debit_cents, line.credit_cents) < 0:
            raise BuildBug(
                f"line {line.account} must have exactly one positive side: "
                f"debit {line.debit_cents}, credit {line.credit_cents}"
            )
    debits = sum(line.debit_cents for line in lines)
    credits = sum(line.credit_cents for line in lines)
    if debits != credits:
        raise BuildBug(f"entry does not balance: debits {debits} cents, credits {credits} cents")
    expense_net = sum(line.net_cents for line in lines if line.kind == "expense")
    if expense_net != net_total:
        raise BuildBug(f"expense lines net {expense_net} cents; the report's expenses net {net_total}")
    if len(lines) < 2:
        raise BuildBug(f"an entry needs at least 2 lines, built {len(lines)}")


def _check_chart(lines: Sequence[EntryLine], chart: Chart, rules: CompanyRules) -> None:
    by_account: dict[str, list[EntryLine]] = {}
    for line in lines:
        by_account.setdefault(line.account, []).append(line)
    problems = []
    for account, account_lines in by_account.items():
        status = chart.accounts.get(account)
        if status == ACTIVE:
            continue
        if status is None:
            what = "is not in the Sage chart"
        else:
            what = f"is {_STATUS_WORDS.get(status, 'not active')} in Sage (status {status})"
        sources = "; ".join(_unique(line.mapping_source for line in account_lines))
        ids = [t for line in account_lines for t in line.source_transactions]
        problems.append(f"{account} {what} (from {sources}; {_expense_ids(_unique(ids))})")
    if problems:
        hint = " (the cached chart is empty: refresh it)" if not chart.accounts else ""
        raise ReportRejected(
            f"account(s) not usable in company {rules.code}'s Sage chart{hint}: " + "; ".join(problems)
        )


def _check_amounts(lines: Sequence[EntryLine]) -> None:
    for line in lines:
        if max(line.debit_cents, line.credit_cents) > MAX_LINE_CENTS:
            raise ReportRejected(
                f"line {line.account} amount {display(max(line.debit_cents, line.credit_cents))} "
                "is larger than Sage 100 accepts"
            )


def _intended_posting_date(
    report: ReportInput, rules: CompanyRules, export_date: date, notes: list[str]
) -> date:
    if rules.posting_date_rule == "exported":
        return export_date
    if rules.posting_date_rule == "last_expense":
        dates = [e.spent_on for e in report.expenses if e.spent_on is not None]
        if dates:
            return max(dates)
        if report.approved_on is not None:
            notes.append(f"no expense has a date; posting on the approval date {report.approved_on}")
            return report.approved_on
        notes.append(f"no expense date and no approval date; posting on the export date {export_date}")
        return export_date
    if report.approved_on is None:
        notes.append(f"no approval date; posting on the export date {export_date}")
        return export_date
    return report.approved_on


def _open_posting_date(day: date, rules: CompanyRules, periods: Periods, notes: list[str]) -> date:
    period = periods.containing(day)
    if period is not None and period.open:
        return day
    where = f"closed period {period.start} to {period.end}" if period is not None else "no Sage period set up"
    if rules.closed_period_rule == "fail":
        raise ReportRejected(f"period closed: posting date {day} falls in {where}")
    following = periods.next_open_after(day)
    if following is None:
        raise ReportRejected(
            f"period closed: posting date {day} falls in {where}, and no open period follows it"
        )
    notes.append(
        f"posting date moved from {day} ({where}) to {following.start} (first day of the next open period)"
    )
    return following.start


def _reference(report: ReportInput, notes: list[str]) -> str:
    wanted = f"{REFERENCE_PREFIX}{report.report_id.strip()}"
    reference = sage_text(wanted, REFERENCE_MAX)
    if not reference:
        raise ReportRejected(f"reference {wanted!r} is empty once reduced to Sage text")
    if reference != wanted:
        notes.append(f"reference {wanted!r} shortened to {reference!r} for Sage")
    return reference


def _entry_comment(report: ReportInput) -> str:
    tail_parts = [to_sage_text(report.employee_email).strip(), f"Expensify report {report.report_id.strip()}"]
    tail = " | ".join(p for p in tail_parts if p)
    name = to_sage_text(report.report_name).strip()
    if not name:
        return sage_text(tail, ENTRY_COMMENT_MAX)
    # Cut the report name first: the email and report ID are what find the report again.
    room = max(ENTRY_COMMENT_MAX - len(tail) - 3, 0)
    return sage_text(f"{truncate(name, room).rstrip()} | {tail}", ENTRY_COMMENT_MAX)


def build_entry(
    report: ReportInput,
    rules: CompanyRules,
    mappings: MappingTables,
    chart: Chart,
    periods: Periods,
    *,
    export_date: date,
) -> BuiltEntry | NothingToPost:
    """The Sage journal entry for an approved report, following docs/accounting.md.

    Raises `ReportRejected` (currency, total mismatch, unusable accounts, closed period ...),
    `NeedsMapping` (every unmapped category or required segment at once) and `BuildBug` if the
    entry would not balance. Returns `NothingToPost` when every account nets to zero.
    """
    _check_report(report, rules)
    zero = tuple(e.transaction_id for e in sorted(report.expenses, key=_order_key) if e.amount_cents == 0)
    posted = [e for e in report.expenses if e.amount_cents != 0]
    resolved = _resolve(report, rules, mappings, posted)
    expense_accounts = {
        r.expense.transaction_id: r.account for r in sorted(resolved, key=lambda r: _order_key(r.expense))
    }
    if not resolved:
        reason = (
            "the report has no expenses"
            if not report.expenses
            else f"all {len(report.expenses)} expense(s) are zero-amount"
        )
        return NothingToPost(reason=f"{reason}: nothing to post", zero_expenses=zero)
    if _nets_to_zero(resolved):
        return NothingToPost(
            reason=f"the {len(resolved)} non-zero expense(s) net to zero on every account: nothing to post",
            zero_expenses=zero,
            expense_accounts=expense_accounts,
        )
    lines = _expense_lines(resolved, rules.entry_shape) + _offset_lines(resolved, report)
    _check_balanced(lines, report.net_cents)
    _check_amounts(lines)
    _check_chart(lines, chart, rules)
    notes: list[str] = []
    posting_date = _intended_posting_date(report, rules, export_date, notes)
    posting_date = _open_posting_date(posting_date, rules, periods, notes)
    return BuiltEntry(
        company_code=rules.code,
        report_id=report.report_id,
        currency=report.currency.strip().upper(),
        source_journal=rules.source_journal,
        posting_date=posting_date,
        reference=_reference(report, notes),
        comment=_entry_comment(report),
        lines=tuple(lines),
        net_total_cents=report.net_cents,
        expense_accounts=expense_accounts,
        offset_accounts={
            r.expense.transaction_id: r.offset for r in sorted(resolved, key=lambda r: _order_key(r.expense))
        },
        zero_expenses=zero,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------
# Fingerprints and differences


def _sha256(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_fingerprint(built: BuiltEntry) -> str:
    """sha256 of the body sent to Sage (member order ignored, amounts as 2-place strings).

    Equal fingerprints mean the agent would see the same body, so the same idempotency key is safe.
    """
    return _sha256(built.payload().to_json())


def _expense_content(expense: ExpenseInput) -> dict[str, Any]:
    return {
        "transactionID": expense.transaction_id,
        "amountCents": expense.amount_cents,
        "currency": expense.currency.strip().upper(),
        "category": expense.category,
        "tags": list(expense.tag_levels),
        "reimbursable": expense.reimbursable,
        "merchant": expense.merchant,
        "spentOn": expense.spent_on.isoformat() if expense.spent_on else None,
    }


def report_fingerprint(report: ReportInput) -> str:
    """sha256 of an approved revision's content, independent of the order of its expenses.

    Covers the report and policy IDs, currency, total and each expense's ID, amount, currency,
    category, tags, reimbursable flag, merchant and date; not the approval date or report name,
    so re-approving unchanged content is not a change.
    """
    return _sha256(
        {
            "reportID": report.report_id,
            "policyID": report.policy_id,
            "currency": report.currency.strip().upper(),
            "totalCents": report.total_cents,
            "expenses": [
                _expense_content(e) for e in sorted(report.expenses, key=lambda e: e.transaction_id)
            ],
        }
    )


def _expense_label(expense: ExpenseInput, currency: str) -> str:
    merchant = expense.merchant.strip()
    amount = display(expense.amount_cents, currency)
    what = f"{merchant}, {amount}" if merchant else amount
    return f"{expense.transaction_id} ({what})"


def _tags_label(tags: Sequence[str]) -> str:
    return ":".join(tags) if any(t.strip() for t in tags) else "(none)"


def _expense_changes(old: ExpenseInput, new: ExpenseInput, currency: str) -> list[str]:
    changes = []
    if old.amount_cents != new.amount_cents:
        changes.append(
            f"amount {display(old.amount_cents, currency)} → {display(new.amount_cents, currency)}"
        )
    if old.currency.strip().upper() != new.currency.strip().upper():
        changes.append(f"currency {old.currency} → {new.currency}")
    if old.category != new.category:
        changes.append(f"category {old.category or '(none)'} → {new.category or '(none)'}")
    if tuple(old.tag_levels) != tuple(new.tag_levels):
        changes.append(f"tags {_tags_label(old.tag_levels)} → {_tags_label(new.tag_levels)}")
    if old.reimbursable != new.reimbursable:
        kinds = {True: "reimbursable", False: "company card"}
        changes.append(f"{kinds[old.reimbursable]} → {kinds[new.reimbursable]}")
    if old.merchant != new.merchant:
        changes.append(f"merchant {old.merchant or '(none)'} → {new.merchant or '(none)'}")
    if old.spent_on != new.spent_on:
        changes.append(f"date {old.spent_on or '(none)'} → {new.spent_on or '(none)'}")
    return changes


def describe_difference(old: ReportInput, new: ReportInput) -> str:
    """What changed between two revisions of a report, in a line a person can act on."""
    parts = []
    if old.report_id != new.report_id:
        parts.append(f"report ID {old.report_id} → {new.report_id}")
    if old.policy_id != new.policy_id:
        parts.append(f"policy {old.policy_id} → {new.policy_id}")
    old_currency, new_currency = old.currency.strip().upper(), new.currency.strip().upper()
    if old_currency != new_currency:
        parts.append(f"currency {old_currency} → {new_currency}")
    if old.total_cents != new.total_cents:
        parts.append(
            f"total {display(old.total_cents, old_currency)} → {display(new.total_cents, new_currency)}"
        )
    before = {e.transaction_id: e for e in old.expenses}
    after = {e.transaction_id: e for e in new.expenses}
    added = [after[t] for t in sorted(after.keys() - before.keys())]
    removed = [before[t] for t in sorted(before.keys() - after.keys())]
    if added:
        parts.append("added " + ", ".join(_expense_label(e, new_currency) for e in added))
    if removed:
        parts.append("removed " + ", ".join(_expense_label(e, old_currency) for e in removed))
    for tid in sorted(before.keys() & after.keys()):
        changes = _expense_changes(before[tid], after[tid], new_currency)
        if changes:
            merchant = after[tid].merchant.strip()
            label = f"{tid} ({merchant})" if merchant else tid
            parts.append(f"{label} changed: " + ", ".join(changes))
    return "; ".join(parts) if parts else "no difference in the report's content"


__all__ = [
    "BuildBug",
    "BuiltEntry",
    "Chart",
    "CompanyRules",
    "EntryLine",
    "ExpenseInput",
    "JournalError",
    "MappingTables",
    "NeedsMapping",
    "NothingToPost",
    "Period",
    "Periods",
    "ReportInput",
    "ReportRejected",
    "build_entry",
    "describe_difference",
    "entry_fingerprint",
    "report_fingerprint",
]
