"""A policy getter's answer -> PolicyData: categories, tags (both shapes) and employees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.expensify.errors import ExpensifyProtocolError
from connector.expensify.fields import split_tag
from connector.expensify.types import (
    PolicyCategory,
    PolicyData,
    PolicyEmployee,
    PolicyTag,
)


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


__all__ = ["policy_from_json"]
