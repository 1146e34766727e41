"""Readers for the SOAP service's answers (zeep objects): a wrong shape raises `Malformed`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from connector.money import cents_to_decimal
from connector.sage100 import parsing as p
from connector.sage100.errors import SageReportError
from connector.sage100.types import FoundEntry, JournalLinePayload, PostResult

CENT = Decimal("0.01")


def _cents(value: Any, name: str) -> int:
    if not isinstance(value, Decimal):
        raise p.Malformed(f"{name!r} must be an amount")
    try:
        cents = value.quantize(CENT) * 100
    except InvalidOperation:
        raise p.Malformed(f"{name!r} must be an amount") from None
    if value != value.quantize(CENT) or cents < 0:
        raise p.Malformed(f"{name!r} must be an amount with 2 places, got {value}")
    return int(cents)


def found_entry(answer: Any) -> FoundEntry:
    """A Find or Search result: the post result, then source journal, comment, key and lines."""
    base = post_result(answer)
    return FoundEntry(
        entry_no=base.entry_no,
        batch_no=base.batch_no,
        posting_date=base.posting_date,
        reference=base.reference,
        replayed=False,
        source_journal=required(answer.SourceJournal, "SourceJournal"),
        comment=answer.Comment or "",
        idempotency_key=required(answer.IdempotencyKey, "IdempotencyKey"),
        lines=tuple(
            JournalLinePayload(
                account=required(line.Account, "Account"),
                debit_cents=_cents(line.Debit, "Debit"),
                credit_cents=_cents(line.Credit, "Credit"),
                comment=line.Comment or "",
            )
            for line in items(answer.Lines, "Line")
        ),
    )


def items(answer: Any, name: str) -> list[Any]:
    """zeep hands back the inner list itself when a response holds one array element."""
    if answer is None:
        return []
    if isinstance(answer, list):
        return answer
    return list(getattr(answer, name) or [])


def amount(cents: int) -> Decimal:
    if cents < 0:
        raise SageReportError("VALIDATION", "Sage 100 amounts are never negative.")
    return cents_to_decimal(cents).quantize(CENT)


def required(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise p.Malformed(f"{name!r} is missing")
    return value


def post_result(answer: Any) -> PostResult:
    if not isinstance(answer.Replayed, bool):
        raise p.Malformed("'Replayed' must be true or false")
    return PostResult(
        entry_no=required(answer.EntryNo, "EntryNo"),
        batch_no=answer.BatchNo or "",
        posting_date=p.day(answer.PostingDate, "PostingDate"),
        reference=answer.Reference or "",
        replayed=answer.Replayed,
    )


__all__ = ["CENT", "amount", "found_entry", "items", "post_result", "required"]
