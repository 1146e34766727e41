"""Readers for one field of an exported report or expense, and the tag splitter.

Unusable data raises BadField, which parsing turns into a RejectedReport naming the report,
the transaction and the field. Amounts are integer cents: fractions and floats are refused.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

# A ':' not escaped as '\\:' (a backslash before anything else is kept as it is).
_LEVEL_SEPARATOR = re.compile(r"(?<!\\):")


class BadField(Exception):
    """One field of one report is unusable: becomes a RejectedReport."""


def split_tag(tag: str) -> tuple[str, ...]:
    """'Sales:West\\:Coast' -> ('Sales', 'West:Coast'): split on ':' but not on '\\:'."""
    if not tag.strip():
        return ()
    if "\\" not in tag:
        return tuple(level.strip() for level in tag.split(":"))
    return tuple(level.replace("\\:", ":").strip() for level in _LEVEL_SEPARATOR.split(tag))


def text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise BadField(f"field '{field}' is a boolean, not text")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    raise BadField(f"field '{field}' is not text: {str(value)[:40]!r}")


def cents(value: Any, field: str) -> int | None:
    """Integer cents, None when missing or blank; fractions and floats are refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise BadField(f"field '{field}' is a boolean, not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        raise BadField(f"field '{field}' is not a whole number of cents: {value}")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,15}\s*", value):
        return int(value)
    raise BadField(f"field '{field}' is not an amount in cents: {str(value)[:40]!r}")


def flag(value: Any, field: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadField(f"field '{field}' is not true/false: {str(value)[:40]!r}")


def day(value: Any, field: str) -> date | None:
    """'2026-11-03' or '2026-11-03 14:22:10' -> date; blank -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise BadField(f"field '{field}' is not a date (yyyy-MM-dd): {str(value)[:40]!r}")


__all__ = ["BadField", "cents", "day", "flag", "split_tag", "text"]
