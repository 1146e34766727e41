"""Strict readers for Sage's answers: a wrong shape raises `Malformed`, never a KeyError."""

from __future__ import annotations

from datetime import date
from typing import Any

from connector.httpcommon import parse_retry_after
from connector.money import parse_amount


class Malformed(ValueError):
    """An answer that does not follow the contract."""


def member(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        raise Malformed(f"expected an object holding {name!r}, got {type(obj).__name__}")
    if name not in obj:
        raise Malformed(f"the member {name!r} is missing")
    return obj[name]


def text(obj: Any, name: str, *, allow_empty: bool = True) -> str:
    value = member(obj, name)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise Malformed(f"{name!r} must be text, got {value!r}")
    return value


def whole(obj: Any, name: str) -> int:
    value = member(obj, name)
    if type(value) is not int:
        raise Malformed(f"{name!r} must be a whole number, got {value!r}")
    return value


def flag(obj: Any, name: str) -> bool:
    value = member(obj, name)
    if not isinstance(value, bool):
        raise Malformed(f"{name!r} must be true or false, got {value!r}")
    return value


def day(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise Malformed(f"{name!r} must be a date, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{name!r} must be a date YYYY-MM-DD, got {value!r}") from None


def cents(value: Any, name: str) -> int:
    try:
        return parse_amount(value)
    except ValueError:
        raise Malformed(f"{name!r} must be an amount like 125.40, got {value!r}") from None


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (connector.httpcommon: whole seconds or an HTTP date)."""
    return parse_retry_after(value)
