"""Fingerprints of a report revision and of an entry body, and a difference in words."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from connector.money import display
from sync.journal.types import BuiltEntry, ExpenseInput, ReportInput


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
