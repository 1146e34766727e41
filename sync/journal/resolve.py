"""Which account each expense goes to: category, Expensify GL code, tags, offsets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from connector.mask import AccountFormatError, AccountMask
from connector.money import display
from sync.journal.types import (
    _IDS_SHOWN,
    MAPPING_SOURCE_MAX,
    CompanyRules,
    ExpenseInput,
    MappingTables,
    NeedsMapping,
    ReportInput,
    ReportRejected,
)
from sync.text import (
    LINE_COMMENT_MAX,
    sage_text,
    to_sage_text,
    truncate,
)


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
