"""Checking a company file's mappings: each row against its model and the file's mask, duplicates named.

A list in the file replaces all of the company's mappings of that kind; each row is validated
against a stand-in company carrying the file's mask (nothing is saved), and a key used twice is
reported with both rows' paths.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from connector.models import Company
from console.company_file.keys import MAPPING_KEYS, MAPPING_KINDS
from console.company_file.reading import Reader, report_model_errors, type_name
from mappings import services as mapping_services


def _plan_rows(
    reader: Reader, kind: mapping_services.MappingKind, rows: list[Any], stand_in: Company | None
) -> list[models.Model]:
    """One mapping list's rows that have no problem, each remembering its index in the file."""
    keys = MAPPING_KEYS[kind.name]
    path = f"mappings.{kind.name}"
    instances: list[models.Model] = []
    paths = {key.attr: name for name, key in keys.items()}
    for index, row in enumerate(rows):
        where = f"{path}[{index}]"
        row_table = reader.table(row, where)
        if row_table is None:
            continue
        before = len(reader.problems)
        values = reader.section(row_table, keys, where)
        instance = kind.model(**values)
        if stand_in is not None:
            instance.company = stand_in  # type: ignore[attr-defined]
        bad = [key.attr for key in keys.values() if key.attr not in values and key.required]
        try:
            instance.full_clean(exclude=["company", *bad], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            row_paths = {attr: f"{where}.{name}" for attr, name in paths.items()}
            report_model_errors(reader, exc, row_paths, where, bad)
        if len(reader.problems) == before:
            instances.append(instance)
            instance.file_index = index  # type: ignore[attr-defined]
    return instances


def _report_duplicates(
    reader: Reader, kind: mapping_services.MappingKind, instances: list[models.Model]
) -> None:
    path = f"mappings.{kind.name}"
    for later, first in mapping_services.find_duplicates(kind=kind, mappings=instances).items():
        duplicate = instances[later]
        key_values = [getattr(duplicate, f) for f in kind.key_fields]
        reader.add(
            f"{path}[{duplicate.file_index}].{kind.key_fields[0]}",  # type: ignore[attr-defined]
            f"duplicates {path}[{instances[first].file_index}] "  # type: ignore[attr-defined]
            f"({mapping_services.describe_key(kind=kind, company_code=None, values=key_values)})",
        )


def plan_mappings(
    reader: Reader, value: Any, company: Company, mask_usable: bool
) -> dict[mapping_services.MappingKind, list[models.Model]]:
    """The file's mapping lists by kind, each row validated; problems go to the reader."""
    planned: dict[mapping_services.MappingKind, list[models.Model]] = {}
    if value is None:
        return planned
    table = reader.table(value, "mappings")
    if table is None:
        return planned
    reader.unknown_keys(table, list(MAPPING_KEYS), "mappings")
    # A stand-in carrying the file's mask, so each mapping's own clean() checks it before any save.
    stand_in = copy.copy(company)
    stand_in.pk = company.pk or -1
    for kind_name in MAPPING_KEYS:
        if kind_name not in table:
            continue
        kind = MAPPING_KINDS[kind_name]
        rows = table[kind_name]
        if not isinstance(rows, list):
            reader.add(f"mappings.{kind_name}", f"must be a list of tables, got {type_name(rows)}")
            continue
        instances = _plan_rows(reader, kind, rows, stand_in if mask_usable else None)
        _report_duplicates(reader, kind, instances)
        planned[kind] = instances
    return planned
