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
import json
import re
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import IO, Any

from connector.expensify.errors import ExpensifyProtocolError
from connector.expensify.types import (
    ExpensifyExpense,
    ExpensifyReport,
    PolicyCategory,
    PolicyData,
    PolicyEmployee,
    PolicyTag,
    RejectedReport,
)

CHUNK_CHARS = 1 << 20
_NON_WS = re.compile(r"\S")
_STRUCTURAL = re.compile(r'["{}\[\]]')
_IN_STRING = re.compile(r'["\\]')
_SCALAR_END = re.compile(r"[,\]}\s]")


class _BadField(Exception):
    """One field of one report is unusable: becomes a RejectedReport."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


class _Scanner:
    """A forward-only reader over JSON text that can cut out one complete value at a time."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._buf = ""
        self._pos = 0

    def _read(self) -> bool:
        data = self._stream.read(CHUNK_CHARS)
        if not data:
            return False
        self._buf = data
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end), without consuming it."""
        while True:
            match = _NON_WS.search(self._buf, self._pos)
            if match:
                self._pos = match.start()
                return self._buf[self._pos]
            if not self._read():
                return ""

    def take(self, expected: str, where: str) -> None:
        char = self.peek()
        if char != expected:
            found = repr(char) if char else "the end of the document"
            raise ExpensifyProtocolError(
                f"Expensify export is not valid JSON: expected {expected!r} {where}, found {found}."
            )
        self._pos += 1

    def value_text(self, where: str) -> str:
        """Cut out the next complete JSON value (object, array, string or scalar) as text."""
        first = self.peek()
        if not first:
            raise ExpensifyProtocolError(f"Expensify export ends early {where}.")
        parts: list[str] = []
        start = index = self._pos
        if first not in '{["':
            while True:
                match = _SCALAR_END.search(self._buf, index)
                if match:
                    parts.append(self._buf[start : match.start()])
                    self._pos = match.start()
                    return "".join(parts)
                parts.append(self._buf[start:])
                if not self._read():
                    return "".join(parts)
                start = index = 0
        depth = 0
        in_string = False
        while True:
            match = (_IN_STRING if in_string else _STRUCTURAL).search(self._buf, index)
            if match is None:
                parts.append(self._buf[start:])
                if not self._read():
                    raise ExpensifyProtocolError(f"Expensify export ends inside a value {where}.")
                start = index = 0
                continue
            char = match.group()
            index = match.end()
            if in_string:
                if char == "\\":
                    if index >= len(self._buf):
                        # The escaped character starts the next chunk: keep it out of the scan.
                        parts.append(self._buf[start:])
                        if not self._read():
                            raise ExpensifyProtocolError(f"Expensify export ends inside a string {where}.")
                        start, index = 0, 1
                    else:
                        index += 1
                    continue
                in_string = False
                if depth == 0:
                    parts.append(self._buf[start:index])
                    self._pos = index
                    return "".join(parts)
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    parts.append(self._buf[start:index])
                    self._pos = index
                    return "".join(parts)


def _decode(text: str, where: str) -> Any:
    try:
        return _loads(text)
    except (ValueError, RecursionError) as exc:
        raise ExpensifyProtocolError(
            f"Expensify export is not valid JSON {where}: {exc}; starts with {text[:200]!r}."
        ) from None


def parse_export(stream: IO[bytes] | IO[str]) -> Iterator[ExpensifyReport | RejectedReport]:
    """Yield each report of a rendered export, streaming; see the module docstring for errors."""
    text_stream: IO[str]
    if isinstance(stream, io.TextIOBase):
        text_stream = stream
    else:
        text_stream = io.TextIOWrapper(stream, encoding="utf-8")  # type: ignore[type-var]
    try:
        yield from _parse(_Scanner(text_stream))
    except UnicodeDecodeError as exc:
        raise ExpensifyProtocolError(f"Expensify export is not UTF-8 text: {exc}.") from None


def parse_export_text(text: str) -> Iterator[ExpensifyReport | RejectedReport]:
    """parse_export over an in-memory string (small answers, tests)."""
    return parse_export(io.StringIO(text))


def _parse(scanner: _Scanner) -> Iterator[ExpensifyReport | RejectedReport]:
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
        key = _decode(scanner.value_text("at a top-level key"), "at a top-level key")
        if not isinstance(key, str):
            raise ExpensifyProtocolError("Expensify export has a top-level key that is not text.")
        scanner.take(":", f"after the top-level key {key!r}")
        if key == "reports":
            seen_reports = True
            if scanner.peek() != "[":
                raise ExpensifyProtocolError(
                    "Expensify export field 'reports' is not a list: check the template."
                )
            yield from _parse_reports(scanner)
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


def _parse_reports(scanner: _Scanner) -> Iterator[ExpensifyReport | RejectedReport]:
    scanner.take("[", "at the start of 'reports'")
    index = 0
    while True:
        if scanner.peek() == "]":
            scanner.take("]", "at the end of 'reports'")
            return
        where = f"in report #{index + 1}"
        raw = _decode(scanner.value_text(where), where)
        yield report_from_json(raw, index=index)
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
        report_id = _text(raw.get("reportID"), "reportID")
    except _BadField:
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
        currency = _text(raw.get("currency"), "currency").upper()
        if not currency:
            raise _BadField("field 'currency' is empty")
        expenses = tuple(
            _expense(tx, report_id=report_id, position=i, report_currency=currency)
            for i, tx in enumerate(transactions)
        )
        total = _cents(raw.get("total"), "total")
        return ExpensifyReport(
            report_id=report_id,
            report_name=_text(raw.get("reportName"), "reportName"),
            status=_text(raw.get("status"), "status"),
            employee_email=_text(raw.get("accountEmail"), "accountEmail").strip(),
            policy_id=_text(raw.get("policyID"), "policyID"),
            policy_name=_text(raw.get("policyName"), "policyName"),
            currency=currency,
            total_cents=total if total is not None else sum(e.amount_cents for e in expenses),
            created=_date(raw.get("created"), "created"),
            submitted=_date(raw.get("submitted"), "submitted"),
            approved=_date(raw.get("approved"), "approved"),
            expenses=expenses,
        )
    except _BadField as exc:
        return RejectedReport(
            report_id=report_id,
            report_name=report_name,
            employee_email=employee_email,
            reason=f"Expensify report {report_id} ({report_name or 'no name'}): {exc}.",
        )


def _expense(raw: Any, *, report_id: str, position: int, report_currency: str) -> ExpensifyExpense:
    if not isinstance(raw, dict):
        raise ExpensifyProtocolError(
            f"Expensify export: report {report_id} expense #{position + 1} is not a JSON object."
        )
    try:
        transaction_id = _text(raw.get("transactionID"), "transactionID")
    except _BadField as exc:
        raise _BadField(f"expense #{position + 1}: {exc}") from None
    label = f"transaction {transaction_id}" if transaction_id else f"expense #{position + 1}"
    try:
        if not transaction_id:
            raise _BadField("field 'transactionID' is empty")
        currency = _text(raw.get("currency"), "currency").upper() or report_currency
        amount = _cents(raw.get("amount"), "amount")
        modified = _cents(raw.get("modifiedAmount"), "modifiedAmount")
        converted = _cents(raw.get("convertedAmount"), "convertedAmount")
        original = modified if modified is not None else amount
        if original is None and not converted:
            raise _BadField("field 'amount' is missing")
        if converted:
            amount_cents = converted
        elif currency != report_currency:
            if original:
                # Never post a foreign amount as if it were in the report's currency.
                raise _BadField(
                    f"field 'convertedAmount' is missing: the {currency} amount has not been "
                    f"converted to {report_currency} yet"
                )
            amount_cents = 0
        else:
            amount_cents = original if original is not None else 0
        tag = _text(raw.get("tag"), "tag")
        merchant = _text(raw.get("modifiedMerchant"), "modifiedMerchant") or _text(
            raw.get("merchant"), "merchant"
        )
        created = _date(raw.get("modifiedCreated"), "modifiedCreated") or _date(raw.get("created"), "created")
        return ExpensifyExpense(
            transaction_id=transaction_id,
            merchant=merchant,
            category=_text(raw.get("category"), "category").strip(),
            category_gl_code=_text(raw.get("categoryGlCode"), "categoryGlCode").strip(),
            tag=tag,
            tag_levels=split_tag(tag),
            amount_cents=amount_cents,
            original_amount_cents=original if original is not None else amount_cents,
            original_currency=currency,
            reimbursable=_bool(raw.get("reimbursable"), "reimbursable"),
            billable=_bool(raw.get("billable"), "billable"),
            created=created,
            comment=_text(raw.get("comment"), "comment"),
            expense_type=_text(raw.get("type"), "type") or "expense",
            receipt_id=_text(raw.get("receiptID"), "receiptID"),
        )
    except _BadField as exc:
        raise _BadField(f"{label}: {exc}") from None


def split_tag(tag: str) -> tuple[str, ...]:
    """'Sales:West\\:Coast' -> ('Sales', 'West:Coast'): split on ':' but not on '\\:'."""
    if not tag.strip():
        return ()
    levels: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(tag):
        char = tag[index]
        if char == "\\" and tag.startswith(":", index + 1):
            current.append(":")
            index += 2
            continue
        if char == ":":
            levels.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    levels.append("".join(current).strip())
    return tuple(levels)


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _BadField(f"field '{field}' is a boolean, not text")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    raise _BadField(f"field '{field}' is not text: {str(value)[:40]!r}")


def _cents(value: Any, field: str) -> int | None:
    """Integer cents, None when missing or blank; fractions and floats are refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _BadField(f"field '{field}' is a boolean, not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        raise _BadField(f"field '{field}' is not a whole number of cents: {value}")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,15}\s*", value):
        return int(value)
    raise _BadField(f"field '{field}' is not an amount in cents: {str(value)[:40]!r}")


def _bool(value: Any, field: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _BadField(f"field '{field}' is not true/false: {str(value)[:40]!r}")


def _date(value: Any, field: str) -> date | None:
    """'2026-11-03' or '2026-11-03 14:22:10' -> date; blank -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise _BadField(f"field '{field}' is not a date (yyyy-MM-dd): {str(value)[:40]!r}")


# --- policy data -------------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    """Expensify sends some collections as lists and some as objects keyed by name."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return list(value.values())
    return []


def _str(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def policy_from_json(policy_id: str, raw: Any) -> PolicyData:
    """One entry of a policy getter's `policyInfo` -> PolicyData (both tag shapes accepted)."""
    if not isinstance(raw, Mapping):
        raise ExpensifyProtocolError(f"Expensify policy {policy_id}: policy data is not an object.")
    categories = tuple(
        PolicyCategory(
            name=_str(item.get("name")).strip(),
            gl_code=_str(item.get("glCode")).strip(),
            enabled=item.get("enabled") not in (False, "false"),
        )
        for item in _items(raw.get("categories"))
        if isinstance(item, Mapping) and _str(item.get("name")).strip()
    )
    tags: list[PolicyTag] = []
    seen: set[tuple[int, str]] = set()

    def add(level: int, level_name: str, name: str, gl_code: str) -> None:
        if name and (level, name) not in seen:
            seen.add((level, name))
            tags.append(PolicyTag(level=level, level_name=level_name, name=name, gl_code=gl_code))

    level_lists = [t for t in _items(raw.get("tags")) if isinstance(t, Mapping) and "tags" in t]
    if level_lists:
        for level, group in enumerate(level_lists, start=1):
            for item in _items(group.get("tags")):
                if isinstance(item, Mapping):
                    add(
                        level,
                        _str(group.get("name")),
                        _str(item.get("name")).replace("\\:", ":").strip(),
                        _str(item.get("glCode")).strip(),
                    )
    else:
        for item in _items(raw.get("tags")):
            if not isinstance(item, Mapping):
                continue
            levels = split_tag(_str(item.get("name")))
            for level, name in enumerate(levels, start=1):
                # A flat "A:B" entry's GL code belongs to its deepest level.
                gl = _str(item.get("glCode")).strip() if level == len(levels) else ""
                add(level, "", name, gl)
    employees = tuple(
        PolicyEmployee(email=_str(item.get("email")).strip().lower(), role=_str(item.get("role")))
        for item in _items(raw.get("employees"))
        if isinstance(item, Mapping) and _str(item.get("email")).strip()
    )
    return PolicyData(
        policy_id=policy_id,
        name=_str(raw.get("name")),
        categories=categories,
        tags=tuple(tags),
        employees=employees,
    )


__all__ = ["parse_export", "parse_export_text", "policy_from_json", "report_from_json", "split_tag"]
