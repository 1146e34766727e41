"""Writes and whole-file checks for the mapping tables (spreadsheet import, company files).

A spreadsheet import goes row by row through django-import-export; what one row cannot see
on its own (an unknown company, the same key twice in one file, a formula cell) is checked
here over the whole file first, so every problem is reported with its row number and the
import runs all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import models, transaction

from connector.models import Company
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping

# What a spreadsheet export prefixes with an apostrophe so no spreadsheet runs it as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class MappingKind:
    """One mapping table: its model, its natural key (besides the company) and its columns."""

    name: str
    model: type[models.Model]
    key_fields: tuple[str, ...]
    key_labels: tuple[str, ...]
    required_columns: tuple[str, ...]
    email_fields: tuple[str, ...] = ()
    integer_fields: tuple[str, ...] = ()
    account_fields: tuple[str, ...] = ()


CATEGORIES = MappingKind(
    name="categories",
    model=CategoryMapping,
    key_fields=("category",),
    key_labels=("category",),
    required_columns=("company", "category", "account"),
    account_fields=("account",),
)
TAGS = MappingKind(
    name="tags",
    model=TagMapping,
    key_fields=("tag_level", "tag_value"),
    key_labels=("tag level", "tag value"),
    required_columns=("company", "tag_level", "tag_value", "segment", "code"),
    integer_fields=("tag_level",),
)
EMPLOYEES = MappingKind(
    name="employees",
    model=EmployeeMapping,
    key_fields=("employee_email",),
    key_labels=("employee",),
    required_columns=("company", "employee_email", "reimbursable_offset_account"),
    email_fields=("employee_email",),
    account_fields=("reimbursable_offset_account",),
)
KINDS: tuple[MappingKind, ...] = (CATEGORIES, TAGS, EMPLOYEES)


def normalize_cell(*, column: str, value: object, kind: MappingKind) -> object:
    """A cell as the model stores it: text stripped, company codes uppercased, emails lowercased.

    A leading apostrophe that our export put before =, +, -, @ is taken off again, so an
    exported file imports unchanged.
    """
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and column not in kind.integer_fields:
        value = str(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        text = text[1:]
    if column == "company":
        return text.upper()
    if column in kind.integer_fields and text.isdigit():
        return int(text)
    if column in kind.email_fields:
        return text.lower()
    return text


def is_formula(value: object) -> bool:
    """A cell holding a formula (as read from the file, before any normalizing)."""
    return isinstance(value, str) and value.lstrip().startswith("=")


def describe_key(*, kind: MappingKind, company_code: str | None, values: Sequence[object]) -> str:
    parts = [f"company {company_code}"] if company_code is not None else []
    parts += [f"{label} {value}" for label, value in zip(kind.key_labels, values, strict=True)]
    return ", ".join(parts)


def missing_columns(*, kind: MappingKind, headers: Iterable[str]) -> list[str]:
    present = set(headers)
    return [column for column in kind.required_columns if column not in present]


# The spreadsheet's own row numbers: the header is row 1, so the first mapping is row 2.
FIRST_DATA_ROW = 2


def sheet_row(data_row: int) -> int:
    """The spreadsheet row of the n-th row under the header (n from 1)."""
    return data_row + FIRST_DATA_ROW - 1


def check_spreadsheet_rows(
    *, kind: MappingKind, raw_rows: Sequence[Mapping[str, object]], rows: Sequence[Mapping[str, object]]
) -> dict[int, dict[str, list[str]]]:
    """Problems no single row can see, keyed by data row (1 = the first row under the header);
    the messages name the spreadsheet's own row numbers (the header is row 1).

    `raw_rows` are the cells as read (to spot formulas), `rows` the same cells normalized.
    Each problem is keyed by the column it is about.
    """
    problems: dict[int, dict[str, list[str]]] = {}
    data_row = {sheet_row(n): n for n in range(1, len(rows) + 1)}

    def add(number: int, column: str, message: str) -> None:
        problems.setdefault(data_row[number], {}).setdefault(column, []).append(message)

    codes = {row.get("company") for row in rows if isinstance(row.get("company"), str)}
    known_codes = set(Company.objects.filter(code__in=codes).values_list("code", flat=True))
    first_seen: dict[tuple[object, ...], int] = {}
    for number, (raw, row) in enumerate(zip(raw_rows, rows, strict=True), start=FIRST_DATA_ROW):
        formula_columns = [column for column, value in raw.items() if is_formula(value)]
        for column in formula_columns:
            add(
                number,
                column,
                f"row {number}: the {column} cell holds a formula ({str(raw[column]).strip()!r}); "
                "formulas are not imported, type the value itself",
            )
        code = row.get("company")
        if not code:
            add(number, "company", f"row {number}: company is empty")
        elif "company" not in formula_columns and code not in known_codes:
            add(number, "company", f"row {number}: unknown company {code!r}")
        for field in kind.integer_fields:
            value = row.get(field)
            if value not in (None, "") and not isinstance(value, int) and field not in formula_columns:
                add(number, field, f"row {number}: {field} must be a whole number, got {value!r}")
        key_values = tuple(row.get(field) for field in kind.key_fields)
        empty = [
            field
            for field, value in zip(kind.key_fields, key_values, strict=True)
            if (value is None or value == "") and field not in formula_columns
        ]
        for field in empty:
            label = kind.key_labels[kind.key_fields.index(field)]
            add(number, field, f"row {number}: {label} is empty")
        if empty or not code or formula_columns or data_row[number] in problems:
            continue
        key = (code, *key_values)
        if key in first_seen:
            add(
                number,
                kind.key_fields[0],
                f"row {number} duplicates row {first_seen[key]}: "
                + describe_key(kind=kind, company_code=str(code), values=key_values),
            )
        else:
            first_seen[key] = number
    return problems


def chart_problem(*, company: Company, account: str) -> str | None:
    """Why `account` cannot be mapped to in the company's cached chart, or None when it is active.

    An empty chart (never read from Sage) refuses nothing: the first run reads it and checks."""
    from connector.models import GLAccount

    if not account:
        return None
    statuses = GLAccount.objects.filter(company=company)
    if not statuses.exists():
        return None
    status = statuses.filter(account=account).values_list("status", flat=True).first()
    if status == GLAccount.Status.ACTIVE:
        return None
    when = (
        f", read from Sage {company.chart_refreshed_at:%Y-%m-%d %H:%M}" if company.chart_refreshed_at else ""
    )
    if status is None:
        return f"account {account} is not in company {company.code}'s chart of accounts{when}"
    word = "inactive" if status == GLAccount.Status.INACTIVE else "deleted"
    return f"account {account} is {word} in company {company.code}'s chart of accounts{when}"


def find_duplicates(*, kind: MappingKind, mappings: Sequence[models.Model]) -> dict[int, int]:
    """For mappings of one company: index of each repeated key -> index of its first occurrence."""
    first_seen: dict[tuple[object, ...], int] = {}
    duplicates: dict[int, int] = {}
    for index, mapping in enumerate(mappings):
        key = tuple(getattr(mapping, field) for field in kind.key_fields)
        if key in first_seen:
            duplicates[index] = first_seen[key]
        else:
            first_seen[key] = index
    return duplicates


def replace_company_mappings(
    *, company: Company, mappings: Mapping[MappingKind, Sequence[models.Model]]
) -> dict[str, int]:
    """Replace the company's mappings of each given kind by the given (validated) ones.

    Kinds not given are left as they are. Returns how many mappings each kind now has.
    """
    counts: dict[str, int] = {}
    with transaction.atomic():
        for kind, rows in mappings.items():
            kind.model._default_manager.filter(company=company).delete()
            for row in rows:
                row.company = company  # type: ignore[attr-defined]
                row.full_clean()
            kind.model._default_manager.bulk_create(rows)
            counts[kind.name] = len(rows)
    return counts
