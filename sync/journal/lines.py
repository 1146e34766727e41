"""The entry's lines from the resolved expenses, and the checks every entry must pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from connector.money import display
from sync.journal.resolve import (
    _cap,
    _detail_comment,
    _expense_ids,
    _offset_comment,
    _order_key,
    _Resolved,
    _side,
    _unique,
)
from sync.journal.types import (
    _STATUS_WORDS,
    ACTIVE,
    MAPPING_SOURCE_MAX,
    MAX_LINE_CENTS,
    BuildBug,
    Chart,
    CompanyRules,
    EntryLine,
    EntryShape,
    ReportInput,
    ReportRejected,
)
from sync.text import (
    LINE_COMMENT_MAX,
    sage_text,
)


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
    lines = []
    for account, items, net in _by_account(resolved, lambda r: r.account):
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


def _by_account(
    resolved: Sequence[_Resolved], account_of: Callable[[_Resolved], str]
) -> Iterator[tuple[str, list[_Resolved], int]]:
    """(account, its expenses in order, their net cents) for each account whose net is not zero."""
    groups: dict[str, list[_Resolved]] = {}
    for r in resolved:
        groups.setdefault(account_of(r), []).append(r)
    for account in sorted(groups):
        items = sorted(groups[account], key=lambda r: _order_key(r.expense))
        net = sum(r.expense.amount_cents for r in items)
        if net:
            yield account, items, net


def _offset_lines(resolved: Sequence[_Resolved], report: ReportInput) -> list[EntryLine]:
    lines = []
    for account, items, net in _by_account(resolved, lambda r: r.offset):
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
