"""Checking a whole company file before anything is written: the company row and its connections.

`plan_import` builds the unsaved Company, its connections and mappings from the file, running each
model's own validation; every problem is reported with its path. A file with any problem gives no
plan. An enabled company needs every value its connections cannot work without
(console.connections), from the file or, for a section left out, as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from connector.models import Company
from console.company_file.keys import (
    COMPANY_SECTIONS,
    CONNECTION_SECTIONS,
    FORMAT_VERSION,
    REQUIRED_SECTIONS,
    TOP_LEVEL_KEYS,
    Key,
    field_default,
)
from console.company_file.plan_mappings import plan_mappings
from console.company_file.reading import Reader, report_model_errors
from console.connections import missing_from, needed_fields
from mappings import services as mapping_services

CONNECTION_NAMES = {"expensify": "Expensify credential", "sage": "Sage 100 connection"}


@dataclass
class Plan:
    """What an import writes, validated, unsaved."""

    company: Company
    created: bool
    connections: dict[str, models.Model]
    mappings: dict[mapping_services.MappingKind, list[models.Model]]


def _company_paths() -> dict[str, str]:
    return {
        key.attr: f"{section}.{name}"
        for section, keys in COMPANY_SECTIONS.items()
        for name, key in keys.items()
    }


def _top_table(reader: Reader, data: Any) -> dict[str, Any] | None:
    top = reader.table(data, "(file)")
    if top is None:
        return None
    reader.unknown_keys(top, TOP_LEVEL_KEYS, "")
    version = top.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        reader.add("format_version", f"must be {FORMAT_VERSION}, got {version!r}")
    for name in REQUIRED_SECTIONS:
        if name not in top:
            reader.add(name, "section is required")
    return top


def _company_values(reader: Reader, top: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The company row's values by attribute, and the attributes the file got wrong."""
    values: dict[str, Any] = {}
    bad_attrs: set[str] = set()
    for section, keys in COMPANY_SECTIONS.items():
        table = reader.table(top.get(section, {}), section)
        if table is None:
            bad_attrs.update(key.attr for key in keys.values())
            continue
        before = len(reader.problems)
        section_values = reader.section(table, keys, section)
        if len(reader.problems) > before:
            bad_attrs.update(key.attr for key in keys.values() if key.attr not in section_values)
        values.update(section_values)
    ids = values.get("expensify_policy_ids", [])
    if any("," in policy_id for policy_id in ids):
        reader.add("company.policy_ids", "a policy id cannot contain a comma")
        bad_attrs.add("expensify_policy_ids")
    if any(len(policy_id) > 100 for policy_id in ids):
        reader.add("company.policy_ids", "a policy id is at most 100 characters")
        bad_attrs.add("expensify_policy_ids")
    values["expensify_policy_ids"] = ",".join(p for p in ids if p)
    return values, bad_attrs


def _plan_company(reader: Reader, top: Mapping[str, Any]) -> tuple[Company, Company | None, bool]:
    """The company as the file sets it (existing row or new), its existing row, and whether the
    mask can be trusted for checking accounts."""
    values, bad_attrs = _company_values(reader, top)
    code = values.get("code")
    existing = Company.objects.filter(code=code).first() if isinstance(code, str) and code else None
    company = existing or Company()
    # Every key left out takes its default, so the file alone says how the company is set up.
    for keys in COMPANY_SECTIONS.values():
        for key in keys.values():
            setattr(company, key.attr, values.get(key.attr, field_default(Company, key.attr)))
    if bad_attrs & {"account_mask", "segment_names"}:
        # Required segments are named against the mask: with the mask unknown, don't judge them.
        company.required_segments = []
        bad_attrs.add("required_segments")
    try:
        company.full_clean(exclude=sorted(bad_attrs), validate_unique=existing is None)
    except ValidationError as exc:
        report_model_errors(reader, exc, _company_paths(), "company", bad_attrs)
        if "account_mask" in exc.message_dict or "segment_names" in exc.message_dict:
            bad_attrs.add("account_mask")
    mask_usable = "account_mask" not in bad_attrs and "segment_names" not in bad_attrs
    return company, existing, mask_usable


def _check_kept_connection(
    reader: Reader, section: str, model: type[models.Model], keys: Mapping[str, Key], existing: Company | None
) -> None:
    """A section left out keeps the stored connection: an enabled company needs it complete."""
    stored = model._default_manager.filter(company=existing).first() if existing else None
    names_by_attr = {key.attr: name for name, key in keys.items()}
    if stored is None:
        transport = str(getattr(model(), "transport", ""))  # the default a new section would take
        names = ", ".join(names_by_attr[need.attr] for need in needed_fields(model, transport=transport))
        reader.add(
            section,
            f"an enabled company needs its {CONNECTION_NAMES[section]}: add the section ({names})",
        )
        return
    for need in missing_from(stored):
        reader.add(
            f"{section}.{names_by_attr[need.attr]}",
            f"an enabled company needs the {need.words}; the stored connection has none",
        )


def _check_needed_keys(
    reader: Reader, section: str, table: Mapping[str, Any], keys: Mapping[str, Key], connection: models.Model
) -> None:
    """An enabled company's section must give every needed value (required keys say so already)."""
    names_by_attr = {key.attr: name for name, key in keys.items()}
    transport = str(getattr(connection, "transport", ""))
    for need in needed_fields(type(connection), transport=transport):
        name = names_by_attr[need.attr]
        if keys[name].required or table.get(name) is not None:
            continue
        hint = f": add a reference like env:{keys[name].env_hint}" if keys[name].kind == "secret" else ""
        reader.add(f"{section}.{name}", f"an enabled company needs the {need.words}{hint}")


def _plan_connections(
    reader: Reader, top: Mapping[str, Any], company: Company, existing: Company | None
) -> dict[str, models.Model]:
    connections: dict[str, models.Model] = {}
    for section, (model, keys) in CONNECTION_SECTIONS.items():
        if section not in top:
            if company.enabled:
                _check_kept_connection(reader, section, model, keys, existing)
            continue
        table = reader.table(top[section], section)
        if table is None:
            continue
        values = reader.section(table, keys, section)
        current = model._default_manager.filter(company=existing).first() if existing else None
        connection = current or model()
        for key in keys.values():
            setattr(connection, key.attr, values.get(key.attr, field_default(model, key.attr)))
        missing = [key.attr for key in keys.values() if key.attr not in values]
        try:
            connection.full_clean(exclude=["company", *missing], validate_unique=False)
        except ValidationError as exc:
            paths = {key.attr: f"{section}.{name}" for name, key in keys.items()}
            report_model_errors(reader, exc, paths, section, missing)
        if company.enabled:
            _check_needed_keys(reader, section, table, keys, connection)
        connections[section] = connection
    return connections


def plan_import(data: Any, environ: Mapping[str, str]) -> tuple[Plan | None, list[str]]:
    """The import a parsed file asks for, or no plan and every problem with its path."""
    reader = Reader(environ)
    top = _top_table(reader, data)
    if top is None:
        return None, reader.problems
    company, existing, mask_usable = _plan_company(reader, top)
    connections = _plan_connections(reader, top, company, existing)
    mappings = plan_mappings(reader, top.get("mappings"), company, mask_usable)
    if reader.problems:
        return None, reader.problems
    plan = Plan(company=company, created=existing is None, connections=connections, mappings=mappings)
    return plan, []
