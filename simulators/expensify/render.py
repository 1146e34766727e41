"""The simulator's export renderer: connector/expensify/template.ftl, mirrored in Python.

Each helper copies one macro of the template, so for the same data model this produces the
same JSON document (compared after parsing by tests/expensify/test_template_contract.py,
which renders the real template with real FreeMarker).
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

_C_CONTEXT = Context(prec=200, rounding=ROUND_HALF_EVEN)


def _c(value: int | float | Decimal) -> Decimal:
    """FreeMarker's ?c: at most 16 fraction digits, rounded half-even, no exponent."""
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if number == number.to_integral_value():
        return number.quantize(Decimal(1), context=_C_CONTEXT)
    return number.quantize(Decimal("1e-16"), context=_C_CONTEXT).normalize(_C_CONTEXT)


def _number_text(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    return format(_c(value), "f")


def _s(value: Any) -> str:
    """<@s v/>: any scalar as a JSON string, '' for missing or non-scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return _number_text(value)
    if isinstance(value, str):
        return value
    return ""


def _n(value: Any) -> Any:
    """<@n v/>: numbers stay numbers (as ?c prints them), non-blank text passes as text, else null."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        number = _c(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if isinstance(value, str) and value != "":
        return value
    return None


def _b(value: Any) -> bool:
    """<@b v/>: booleans as is, the text 'true' as true, anything else false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value == "true"
    return False


def _expense(tx: dict[str, Any]) -> dict[str, Any]:
    return {
        "transactionID": _s(tx.get("transactionID")),
        "merchant": _s(tx.get("merchant")),
        "modifiedMerchant": _s(tx.get("modifiedMerchant")),
        "category": _s(tx.get("category")),
        "categoryGlCode": _s(tx.get("categoryGlCode")),
        "tag": _s(tx.get("tag")),
        "tagGlCode": _s(tx.get("tagGlCode")),
        "currency": _s(tx.get("currency")),
        "amount": _n(tx.get("amount")),
        "convertedAmount": _n(tx.get("convertedAmount")),
        "modifiedAmount": _n(tx.get("modifiedAmount")),
        "reimbursable": _b(tx.get("reimbursable", False)),
        "billable": _b(tx.get("billable", False)),
        "created": _s(tx.get("created")),
        "modifiedCreated": _s(tx.get("modifiedCreated")),
        "comment": _s(tx.get("comment")),
        "type": _s(tx.get("type")),
        "receiptID": _s(tx.get("receiptID")),
    }


def _report(report: dict[str, Any]) -> dict[str, Any]:
    transactions = report.get("transactionList")
    return {
        "reportID": _s(report.get("reportID")),
        "reportName": _s(report.get("reportName")),
        "status": _s(report.get("status")),
        "accountEmail": _s(report.get("accountEmail")),
        "policyID": _s(report.get("policyID")),
        "policyName": _s(report.get("policyName")),
        "currency": _s(report.get("currency")),
        "total": _n(report.get("total")),
        "created": _s(report.get("created")),
        "submitted": _s(report.get("submitted")),
        "approved": _s(report.get("approved")),
        "transactions": [_expense(tx) for tx in (transactions or [])],
    }


def render_export(reports: list[dict[str, Any]]) -> str:
    """The document template.ftl renders for these reports (Expensify's data-model shape)."""
    return json.dumps({"reports": [_report(r) for r in reports]}, ensure_ascii=False, indent=1)


__all__ = ["render_export"]
