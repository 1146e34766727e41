"""Writing a company file: the company as data, secrets as env: placeholders, in JSON or TOML.

A secret is never read: only whether one is set (its stored length), so an export never decrypts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.db.models.functions import Length

from connector.models import Company
from console.company_file.keys import (
    COMPANY_SECTIONS,
    CONNECTION_SECTIONS,
    FORMAT_VERSION,
    MAPPING_KEYS,
    MAPPING_KINDS,
    Key,
    field_default,
)


def suggested_env_name(*, company: Company, key: Key) -> str:
    return f"{key.env_hint}_{company.code}"


def _export_value(value: Any) -> Any:
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _export_section(instance: models.Model, keys: Mapping[str, Key], company: Company) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for name, key in keys.items():
        if key.kind == "secret":
            # Only whether a secret is set is read (its stored length), never the secret.
            if getattr(instance, f"{key.attr}_length", 0):
                section[name] = f"env:{suggested_env_name(company=company, key=key)}"
            continue
        value = getattr(instance, key.attr)
        if key.attr == "expensify_policy_ids":
            value = company.policy_ids
        if value is None or (value == "" and field_default(type(instance), key.attr) == ""):
            continue  # left out: importing takes the same default
        section[name] = _export_value(value)
    return section


def company_to_data(*, company: Company) -> dict[str, Any]:
    """The company as a company file's content, secrets replaced by env: placeholders."""
    data: dict[str, Any] = {"format_version": FORMAT_VERSION}
    for section, keys in COMPANY_SECTIONS.items():
        data[section] = _export_section(company, keys, company)
    for section, (model, keys) in CONNECTION_SECTIONS.items():
        secrets = [key.attr for key in keys.values() if key.kind == "secret"]
        connection = (
            model._default_manager.filter(company=company)
            .defer(*secrets)
            .annotate(**{f"{attr}_length": Length(attr) for attr in secrets})
            .first()
        )
        if connection is not None:
            data[section] = _export_section(connection, keys, company)
    data["mappings"] = {}
    for kind_name, keys in MAPPING_KEYS.items():
        kind = MAPPING_KINDS[kind_name]
        rows = kind.model._default_manager.filter(company=company).order_by(*kind.key_fields)
        data["mappings"][kind_name] = [_export_section(row, keys, company) for row in rows]
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON string escapes are TOML basic-string escapes; TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(data: Mapping[str, Any], *, file_format: str) -> str:
    """A company file's text in JSON or TOML."""
    if file_format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if file_format != "toml":
        raise ValueError(f"unknown format {file_format!r}; use json or toml")
    lines = [f"format_version = {_toml_value(data['format_version'])}"]
    for section in (*COMPANY_SECTIONS, *CONNECTION_SECTIONS):
        if section in data:
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in data[section].items()]
    mappings = data.get("mappings", {})
    empty = [kind for kind, rows in mappings.items() if not rows]
    if empty:
        lines += ["", "[mappings]"] + [f"{kind} = []" for kind in empty]
    for kind, rows in mappings.items():
        for row in rows:
            lines += ["", f"[[mappings.{kind}]]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in row.items()]
    return "\n".join(lines) + "\n"
