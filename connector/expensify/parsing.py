"""Stream-parse the JSON that template.ftl renders into ExpensifyReport / RejectedReport objects.

An export can hold 100,000 expenses, so the document is never loaded whole: a small scanner
walks the top-level object and the "reports" array, cuts out one report's text at a time and
hands only that slice to json.loads (numbers as Decimal, so no float ever touches money).
Memory is bounded by the largest single report, not by the export.

Broken structure (not JSON, wrong types at the top, a report or expense that is not an object)
raises ExpensifyProtocolError; unusable data inside one report yields a RejectedReport that names
the report, the transaction and the field.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

from connector.expensify import fields as f
from connector.expensify.errors import ExpensifyProtocolError
from connector.expensify.fields import split_tag
from connector.expensify.policies import policy_from_json
from connector.expensify.scanner import Scanner, decode
from connector.expensify.types import ExpensifyExpense, ExpensifyReport, RejectedReport

T = TypeVar("T")


def parse_export(stream: IO[bytes] | IO[str]) -> Iterator[ExpensifyReport | RejectedReport]:
    """Yield each report of a rendered export, streaming; see the module docstring for errors."""
    return _read(stream, report_from_json)


def rendered_report_ids(stream: IO[bytes] | IO[str]) -> set[str]:
    """The report IDs a rendered export holds (a marking's read-back), without building expenses.

    The same set as the IDs of parse_export (a rejected report counts: it was rendered), refused
    with the same errors: the document is walked and each report decoded as parse_export does.
    """
    return set(_read(stream, report_id_from_json))


def _read(stream: IO[bytes] | IO[str], read_report: Callable[..., T]) -> Iterator[T]:
    text_stream: IO[str]
    if isinstance(stream, io.TextIOBase):
        text_stream = stream
    else:
        text_stream = io.TextIOWrapper(stream, encoding="utf-8")  # type: ignore[type-var]
    try:
        yield from _parse(Scanner(text_stream), read_report)
    except UnicodeDecodeError as exc:
        raise ExpensifyProtocolError(f"Expensify export is not UTF-8 text: {exc}.") from None


def parse_export_text(text: str) -> Iterator[ExpensifyReport | RejectedReport]:
    """parse_export over an in-memory string (small answers, tests)."""
    return parse_export(io.StringIO(text))


def _parse(scanner: Scanner, read_report: Callable[..., T]) -> Iterator[T]:
    if scanner.peek() != "{":
        head = scanner.value_text("at the start")[:200] if scanner.peek() else ""
        raise ExpensifyProtocolError(
            f"Expensify export is not a JSON object with a 'reports' list; starts with {head!r}."
        )
    scanner.take("{", "at the start")
    seen_reports = False
    while True:
        if scanner.peek() == "}":
            scanner.take("}", "at the end")
            break
        key = decode(scanner.value_text("at a top-level key"), "at a top-level key")
        if not isinstance(key, str):
            raise ExpensifyProtocolError("Expensify export has a top-level key that is not text.")
        scanner.take(":", f"after the top-level key {key!r}")
        if key == "reports":
            seen_reports = True
            if scanner.peek() != "[":
                raise ExpensifyProtocolError(
                    "Expensify export field 'reports' is not a list: check the template."
                )
            yield from _parse_reports(scanner, read_report)
        else:
            scanner.value_text(f"in the top-level field {key!r}")
        if scanner.peek() == ",":
            scanner.take(",", "between top-level fields")
        elif scanner.peek() != "}":
            scanner.take("}", "after a top-level field")
    if scanner.peek():
        raise ExpensifyProtocolError("Expensify export has text after the end of the document.")
    if not seen_reports:
        raise ExpensifyProtocolError("Expensify export has no 'reports' list: check the template.")


def _parse_reports(scanner: Scanner, read_report: Callable[..., T]) -> Iterator[T]:
    scanner.take("[", "at the start of 'reports'")
    index = 0
    while True:
        if scanner.peek() == "]":
            scanner.take("]", "at the end of 'reports'")
            return
        where = f"in report #{index + 1}"
        raw = decode(scanner.value_text(where), where)
        yield read_report(raw, index=index)
        index += 1
        if scanner.peek() == ",":
            scanner.take(",", "between reports")
        else:
            scanner.take("]", "after a report")
            return


def report_from_json(raw: Any, *, index: int = 0) -> ExpensifyReport | RejectedReport:
    """One decoded report object -> ExpensifyReport, or RejectedReport when its data is unusable."""
    if not isinstance(raw, dict):
        raise ExpensifyProtocolError(f"Expensify export: report #{index + 1} is not a JSON object.")
    try:
        report_id = f.text(raw.get("reportID"), "reportID")
    except f.BadField:
        report_id = ""
    if not report_id:
        raise ExpensifyProtocolError(f"Expensify export: report #{index + 1} has no reportID.")
    name = raw.get("reportName")
    email = raw.get("accountEmail")
    report_name = name if isinstance(name, str) else ""
    employee_email = email if isinstance(email, str) else ""
    transactions = raw.get("transactions")
    if not isinstance(transactions, list):
        raise ExpensifyProtocolError(
            f"Expensify export: report {report_id} field 'transactions' is not a list."
        )
    try:
        currency = f.text(raw.get("currency"), "currency").upper()
        if not currency:
            raise f.BadField("field 'currency' is empty")
        expenses = tuple(
            _expense(tx, report_id=report_id, position=i, report_currency=currency)
            for i, tx in enumerate(transactions)
        )
        total = f.cents(raw.get("total"), "total")
        return ExpensifyReport(
            report_id=report_id,
            report_name=f.text(raw.get("reportName"), "reportName"),
            status=f.text(raw.get("status"), "status"),
            employee_email=f.text(raw.get("accountEmail"), "accountEmail").strip(),
            policy_id=f.text(raw.get("policyID"), "policyID"),
            policy_name=f.text(raw.get("policyName"), "policyName"),
            currency=currency,
            total_cents=total if total is not None else sum(e.amount_cents for e in expenses),
            created=f.day(raw.get("created"), "created"),
            submitted=f.day(raw.get("submitted"), "submitted"),
            approved=f.day(raw.get("approved"), "approved"),
            expenses=expenses,
        )
    except f.BadField as exc:
        return RejectedReport(
            report_id=report_id,
            report_name=report_name,
            employee_email=employee_email,
            reason=f"Expensify report {report_id} ({report_name or 'no name'}): {exc}.",
        )


def report_id_from_json(raw: Any, *, index: int = 0) -> str:
    """The ID of one decoded report, refused exactly as report_from_json refuses the report.

    A report with a text ID, a list of transactions and only objects in it cannot be refused, so
    its ID is all that is read; anything else goes through report_from_json for its errors.
    """
    if isinstance(raw, dict):
        report_id = raw.get("reportID")
        transactions = raw.get("transactions")
        if (
            isinstance(report_id, str)
            and report_id
            and isinstance(transactions, list)
            and all(isinstance(tx, dict) for tx in transactions)
        ):
            return report_id
    return report_from_json(raw, index=index).report_id


def _expense(raw: Any, *, report_id: str, position: int, report_currency: str) -> ExpensifyExpense:
    if not isinstance(raw, dict):
        raise ExpensifyProtocolError(
            f"Expensify export: report {report_id} expense #{position + 1} is not a JSON object."
        )
    try:
        transaction_id = f.text(raw.get("transactionID"), "transactionID")
    except f.BadField as exc:
        raise f.BadField(f"expense #{position + 1}: {exc}") from None
    label = f"transaction {transaction_id}" if transaction_id else f"expense #{position + 1}"
    try:
        if not transaction_id:
            raise f.BadField("field 'transactionID' is empty")
        currency = f.text(raw.get("currency"), "currency").upper() or report_currency
        amount = f.cents(raw.get("amount"), "amount")
        modified = f.cents(raw.get("modifiedAmount"), "modifiedAmount")
        converted = f.cents(raw.get("convertedAmount"), "convertedAmount")
        original = modified if modified is not None else amount
        if original is None and not converted:
            raise f.BadField("field 'amount' is missing")
        if converted:
            amount_cents = converted
        elif currency != report_currency:
            if original:
                # Never post a foreign amount as if it were in the report's currency.
                raise f.BadField(
                    f"field 'convertedAmount' is missing: the {currency} amount has not been "
                    f"converted to {report_currency} yet"
                )
            amount_cents = 0
        else:
            amount_cents = original if original is not None else 0
        tag = f.text(raw.get("tag"), "tag")
        merchant = f.text(raw.get("modifiedMerchant"), "modifiedMerchant") or f.text(
            raw.get("merchant"), "merchant"
        )
        created = f.day(raw.get("modifiedCreated"), "modifiedCreated") or f.day(raw.get("created"), "created")
        return ExpensifyExpense(
            transaction_id=transaction_id,
            merchant=merchant,
            category=f.text(raw.get("category"), "category").strip(),
            category_gl_code=f.text(raw.get("categoryGlCode"), "categoryGlCode").strip(),
            tag=tag,
            tag_levels=f.split_tag(tag),
            amount_cents=amount_cents,
            original_amount_cents=original if original is not None else amount_cents,
            original_currency=currency,
            reimbursable=f.flag(raw.get("reimbursable"), "reimbursable"),
            billable=f.flag(raw.get("billable"), "billable"),
            created=created,
            comment=f.text(raw.get("comment"), "comment"),
            expense_type=f.text(raw.get("type"), "type") or "expense",
            receipt_id=f.text(raw.get("receiptID"), "receiptID"),
        )
    except f.BadField as exc:
        raise f.BadField(f"{label}: {exc}") from None


__all__ = [
    "parse_export",
    "parse_export_text",
    "policy_from_json",
    "rendered_report_ids",
    "report_from_json",
    "report_id_from_json",
    "split_tag",
]
