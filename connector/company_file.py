"""One company's whole configuration as a JSON or TOML file (see docs/company-file.md).

`import_company_file` validates everything first (every problem reported with its path in the
file, e.g. "mappings.categories[3].account: ..."), then writes in one transaction: a file with
any problem changes nothing. Secrets appear in a file only as `env:NAME` references, resolved
from the environment at import and stored encrypted; `company_to_data` writes placeholders,
never a secret.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Length

from connector.models import (
    ClosedPeriodRule,
    Company,
    EntryShape,
    ExpensifyCredential,
    PolicyTakenError,
    PostingDateRule,
    SageConnection,
    SageTransport,
    ScheduleKind,
)
from mappings import services as mapping_services

FORMAT_VERSION = 1
ENV_REFERENCE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")


class CompanyFileError(Exception):
    """The file cannot be imported; `problems` lists every reason, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Key:
    """One key of a section: the model attribute it sets and what it must hold."""

    attr: str
    kind: str  # text, int, bool, text_list, time, date, choice, secret
    required: bool = False
    choices: tuple[str, ...] = ()
    env_hint: str = ""  # secrets: the variable name suggested in messages and exports


def _choices(enum: type[models.TextChoices]) -> tuple[str, ...]:
    return tuple(str(value) for value in enum.values)


COMPANY_KEYS = {
    "code": Key("code", "text", required=True),
    "name": Key("name", "text", required=True),
    "enabled": Key("enabled", "bool"),
    "policy_ids": Key("expensify_policy_ids", "text_list"),
    "export_label": Key("export_label", "text"),
    "export_start_date": Key("export_start_date", "date"),
    "include_archived": Key("include_archived", "bool"),
    "max_concurrent_writes": Key("max_concurrent_writes", "int"),
    "max_post_attempts": Key("max_post_attempts", "int"),
    "max_retry_seconds": Key("max_retry_seconds", "int"),
}
OFFSET_KEYS = {
    "reimbursable": Key("reimbursable_offset_account", "text", required=True),
    "card": Key("card_offset_account", "text", required=True),
}
ENTRY_RULE_KEYS = {
    "account_mask": Key("account_mask", "text"),
    "segment_names": Key("segment_names", "text_list"),
    "required_segments": Key("required_segments", "text_list"),
    "entry_shape": Key("entry_shape", "choice", choices=_choices(EntryShape)),
    "posting_date_rule": Key("posting_date_rule", "choice", choices=_choices(PostingDateRule)),
    "closed_period_rule": Key("closed_period_rule", "choice", choices=_choices(ClosedPeriodRule)),
    "source_journal": Key("source_journal", "text"),
    "home_currency": Key("home_currency", "text"),
    "allow_foreign_currency": Key("allow_foreign_currency", "bool"),
}
SCHEDULE_KEYS = {
    "kind": Key("schedule_kind", "choice", choices=_choices(ScheduleKind)),
    "time": Key("schedule_time", "time"),
    "weekday": Key("schedule_weekday", "int"),
    "cron": Key("schedule_cron", "text"),
}
COMPANY_SECTIONS = {
    "company": COMPANY_KEYS,
    "offset_accounts": OFFSET_KEYS,
    "entry_rules": ENTRY_RULE_KEYS,
    "schedule": SCHEDULE_KEYS,
}
EXPENSIFY_KEYS = {
    "base_url": Key("base_url", "text"),
    "partner_user_id": Key("partner_user_id", "text", required=True),
    "partner_user_secret": Key(
        "partner_user_secret", "secret", required=True, env_hint="EXPENSIFY_PARTNER_USER_SECRET"
    ),
    "timeout_seconds": Key("timeout_seconds", "int"),
}
SAGE_KEYS = {
    "transport": Key("transport", "choice", choices=_choices(SageTransport)),
    "base_url": Key("base_url", "text", required=True),
    "agent_api_key": Key("agent_api_key", "secret", env_hint="SAGE_AGENT_API_KEY"),
    "sage_username": Key("sage_username", "text", required=True),
    "sage_password": Key("sage_password", "secret", required=True, env_hint="SAGE_PASSWORD"),
    "connect_timeout": Key("connect_timeout", "int"),
    "read_timeout": Key("read_timeout", "int"),
}
CONNECTION_SECTIONS: dict[str, tuple[type[models.Model], dict[str, Key]]] = {
    "expensify": (ExpensifyCredential, EXPENSIFY_KEYS),
    "sage": (SageConnection, SAGE_KEYS),
}
MAPPING_KEYS: dict[str, dict[str, Key]] = {
    "categories": {
        "category": Key("category", "text", required=True),
        "account": Key("account", "text", required=True),
        "note": Key("note", "text"),
    },
    "tags": {
        "tag_level": Key("tag_level", "int"),
        "tag_value": Key("tag_value", "text", required=True),
        "segment": Key("segment", "text", required=True),
        "code": Key("code", "text", required=True),
    },
    "employees": {
        "employee_email": Key("employee_email", "text", required=True),
        "reimbursable_offset_account": Key("reimbursable_offset_account", "text", required=True),
        "note": Key("note", "text"),
    },
}
MAPPING_KINDS = {kind.name: kind for kind in mapping_services.KINDS}
TOP_LEVEL_KEYS = ("format_version", *COMPANY_SECTIONS, *CONNECTION_SECTIONS, "mappings")
REQUIRED_SECTIONS = ("company", "offset_accounts")


@dataclass
class ImportOutcome:
    company: Company
    created: bool
    connections: list[str] = field(default_factory=list)
    mapping_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "Created" if self.created else "Updated"
        parts = [f"{verb} company {self.company.code} ({self.company.name})"]
        parts += [f"{name} connection set" for name in self.connections]
        parts += [f"{count} {name} mapping(s)" for name, count in self.mapping_counts.items()]
        return "; ".join(parts) + "."


# --- reading -----------------------------------------------------------------------------


def parse_company_file(path: Path) -> Any:
    """The file's content (JSON or TOML by extension), or a CompanyFileError saying why not."""
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise CompanyFileError([f"{path.name}: use a .json or .toml file, not {suffix or 'no extension'!r}"])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CompanyFileError([f"{path}: cannot be read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CompanyFileError([f"{path.name}: is not UTF-8 text"]) from None
    too_deep = CompanyFileError(
        [f"{path.name}: nested too deeply to be a company file (lists or tables inside each other "
         "thousands of levels deep)"]
    )
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CompanyFileError(
                [f"{path.name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
            ) from None
        except RecursionError:
            raise too_deep from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CompanyFileError([f"{path.name}: not valid TOML: {exc}"]) from None
    except RecursionError:
        raise too_deep from None


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class _Reader:
    """Walks the file's tables, converting values and collecting every problem with its path."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def table(self, value: object, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, f"must be a table of keys, got {_type_name(value)}")
            return None
        return value

    def unknown_keys(self, table: Mapping[str, Any], known: tuple[str, ...] | list[str], path: str) -> None:
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.add(
                    f"{path}.{key}" if path else str(key),
                    f"unknown key; {hint}known keys: {', '.join(known)}",
                )

    def section(self, table: Mapping[str, Any], keys: Mapping[str, Key], path: str) -> dict[str, Any]:
        """The section's values by model attribute; a key with a problem is left out."""
        self.unknown_keys(table, list(keys), path)
        values: dict[str, Any] = {}
        for name, key in keys.items():
            where = f"{path}.{name}"
            if name not in table or table[name] is None:
                if key.required:
                    self.add(where, "is required")
                continue
            ok, value = self.convert(table[name], key, where)
            if ok:
                values[key.attr] = value
        return values

    def convert(self, value: Any, key: Key, where: str) -> tuple[bool, Any]:
        kind = key.kind
        if kind == "secret":
            return self.secret(value, key, where)
        if kind in ("text", "choice"):
            if not isinstance(value, str):
                self.add(where, f"must be text (in quotes), got {_type_name(value)}")
                return False, None
            if kind == "choice" and value not in key.choices:
                self.add(where, f"must be one of {', '.join(key.choices)}; got {value!r}")
                return False, None
            if key.required and not value.strip():
                self.add(where, "is empty")
                return False, None
            return True, value.strip()
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.add(where, f"must be a whole number, got {_type_name(value)}")
                return False, None
            return True, value
        if kind == "bool":
            if not isinstance(value, bool):
                self.add(where, f"must be true or false, got {_type_name(value)}")
                return False, None
            return True, value
        if kind == "text_list":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                self.add(where, 'must be a list of texts, e.g. ["a", "b"]')
                return False, None
            return True, [item.strip() for item in value]
        if kind == "time":
            return self.time(value, where)
        if kind == "date":
            return self.date(value, where)
        raise AssertionError(f"unknown key kind {kind}")

    def time(self, value: Any, where: str) -> tuple[bool, Any]:
        if isinstance(value, dt.time):
            return True, value
        if isinstance(value, str) and re.fullmatch(r"\d\d:\d\d(:\d\d)?", value.strip()):
            try:
                return True, dt.time.fromisoformat(value.strip())
            except ValueError:
                pass
        self.add(where, f'must be a time of day like "06:15", got {value!r}')
        return False, None

    def date(self, value: Any, where: str) -> tuple[bool, Any]:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return True, value
        if isinstance(value, str):
            try:
                return True, dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.add(where, f'must be a date like "2026-01-31", got {value!r}')
        return False, None

    def secret(self, value: Any, key: Key, where: str) -> tuple[bool, Any]:
        # Never echo the value: it may be the secret itself.
        if not isinstance(value, str) or not value.startswith("env:"):
            self.problems.append(
                f"{where} must be a reference like env:{key.env_hint}, not the secret itself"
            )
            return False, None
        match = ENV_REFERENCE.match(value.strip())
        if not match:
            self.add(where, f"{value!r} is not a valid reference; use env:NAME (letters, digits, _)")
            return False, None
        name = match.group(1)
        if name not in self.environ:
            self.add(where, f"environment variable {name} is not set")
            return False, None
        if not self.environ[name]:
            self.add(where, f"environment variable {name} is empty")
            return False, None
        return True, self.environ[name]


# --- validating and writing ----------------------------------------------------------------


def _field_default(model: type[models.Model], attr: str) -> Any:
    if attr == "expensify_policy_ids":
        return ""  # a property over CompanyPolicy rows, not a column
    return model._meta.get_field(attr).get_default()


def _report_model_errors(
    reader: _Reader,
    exc: ValidationError,
    paths: Mapping[str, str],
    section_path: str,
    already_reported: Collection[str] = (),
) -> None:
    """The model's own validation messages, at the file path of each field (once per field)."""
    for attr, messages in exc.message_dict.items():
        if attr in already_reported:
            continue
        where = paths.get(attr, section_path if attr == NON_FIELD_ERRORS else f"{section_path}.{attr}")
        for message in messages:
            reader.add(where, message)


def _company_paths() -> dict[str, str]:
    return {
        key.attr: f"{section}.{name}"
        for section, keys in COMPANY_SECTIONS.items()
        for name, key in keys.items()
    }


@dataclass
class _Plan:
    company: Company
    created: bool
    connections: dict[str, models.Model]
    mappings: dict[mapping_services.MappingKind, list[models.Model]]


def _plan(data: Any, environ: Mapping[str, str]) -> tuple[_Plan | None, list[str]]:
    reader = _Reader(environ)
    top = reader.table(data, "(file)")
    if top is None:
        return None, reader.problems
    reader.unknown_keys(top, TOP_LEVEL_KEYS, "")
    version = top.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        reader.add("format_version", f"must be {FORMAT_VERSION}, got {version!r}")
    for name in REQUIRED_SECTIONS:
        if name not in top:
            reader.add(name, "section is required")

    # The company row: every key left out takes its default, so the file alone says how it is set up.
    company_values: dict[str, Any] = {}
    bad_attrs: set[str] = set()
    for section, keys in COMPANY_SECTIONS.items():
        table = reader.table(top.get(section, {}), section)
        if table is None:
            bad_attrs.update(key.attr for key in keys.values())
            continue
        before = len(reader.problems)
        values = reader.section(table, keys, section)
        if len(reader.problems) > before:
            bad_attrs.update(key.attr for key in keys.values() if key.attr not in values)
        company_values.update(values)
    ids = company_values.get("expensify_policy_ids", [])
    if any("," in policy_id for policy_id in ids):
        reader.add("company.policy_ids", "a policy id cannot contain a comma")
        bad_attrs.add("expensify_policy_ids")
    if any(len(policy_id) > 100 for policy_id in ids):
        reader.add("company.policy_ids", "a policy id is at most 100 characters")
        bad_attrs.add("expensify_policy_ids")
    company_values["expensify_policy_ids"] = ",".join(p for p in ids if p)

    code = company_values.get("code")
    existing = Company.objects.filter(code=code).first() if isinstance(code, str) and code else None
    company = existing or Company()
    for keys in COMPANY_SECTIONS.values():
        for key in keys.values():
            value = company_values.get(key.attr, _field_default(Company, key.attr))
            setattr(company, key.attr, value)
    if bad_attrs & {"account_mask", "segment_names"}:
        # Required segments are named against the mask: with the mask unknown, don't judge them.
        company.required_segments = []
        bad_attrs.add("required_segments")
    try:
        company.full_clean(exclude=sorted(bad_attrs), validate_unique=existing is None)
    except ValidationError as exc:
        _report_model_errors(reader, exc, _company_paths(), "company", bad_attrs)
        if "account_mask" in exc.message_dict or "segment_names" in exc.message_dict:
            bad_attrs.add("account_mask")
    mask_usable = "account_mask" not in bad_attrs and "segment_names" not in bad_attrs

    connections: dict[str, models.Model] = {}
    for section, (model, keys) in CONNECTION_SECTIONS.items():
        if section not in top:
            continue
        table = reader.table(top[section], section)
        if table is None:
            continue
        values = reader.section(table, keys, section)
        current = model._default_manager.filter(company=existing).first() if existing else None
        connection = current or model()
        for key in keys.values():
            setattr(connection, key.attr, values.get(key.attr, _field_default(model, key.attr)))
        missing = [key.attr for key in keys.values() if key.attr not in values]
        try:
            connection.full_clean(exclude=["company", *missing], validate_unique=False)
        except ValidationError as exc:
            paths = {key.attr: f"{section}.{name}" for name, key in keys.items()}
            _report_model_errors(reader, exc, paths, section, missing)
        connections[section] = connection

    mappings = _plan_mappings(reader, top.get("mappings"), company, mask_usable)
    if reader.problems:
        return None, reader.problems
    plan = _Plan(company=company, created=existing is None, connections=connections, mappings=mappings)
    return plan, []


def _plan_mappings(
    reader: _Reader, value: Any, company: Company, mask_usable: bool
) -> dict[mapping_services.MappingKind, list[models.Model]]:
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
    for kind_name, keys in MAPPING_KEYS.items():
        if kind_name not in table:
            continue
        kind = MAPPING_KINDS[kind_name]
        rows = table[kind_name]
        path = f"mappings.{kind_name}"
        if not isinstance(rows, list):
            reader.add(path, f"must be a list of tables, got {_type_name(rows)}")
            continue
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
            if mask_usable:
                instance.company = stand_in  # type: ignore[attr-defined]
            bad = [key.attr for key in keys.values() if key.attr not in values and key.required]
            try:
                instance.full_clean(
                    exclude=["company", *bad], validate_unique=False, validate_constraints=False
                )
            except ValidationError as exc:
                row_paths = {attr: f"{where}.{name}" for attr, name in paths.items()}
                _report_model_errors(reader, exc, row_paths, where, bad)
            if len(reader.problems) == before:
                instances.append(instance)
                instance.file_index = index  # type: ignore[attr-defined]
        for later, first in mapping_services.find_duplicates(kind=kind, mappings=instances).items():
            duplicate = instances[later]
            values = [getattr(duplicate, f) for f in kind.key_fields]
            reader.add(
                f"{path}[{duplicate.file_index}].{kind.key_fields[0]}",  # type: ignore[attr-defined]
                f"duplicates {path}[{instances[first].file_index}] "  # type: ignore[attr-defined]
                f"({mapping_services.describe_key(kind=kind, company_code=None, values=values)})",
            )
        planned[kind] = instances
    return planned


def import_company_data(*, data: Any, environ: Mapping[str, str], dry_run: bool = False) -> ImportOutcome:
    """Create or update one company from a parsed company file; all or nothing."""
    plan, problems = _plan(data, environ)
    if plan is None:
        raise CompanyFileError(problems)
    outcome = ImportOutcome(company=plan.company, created=plan.created)
    outcome.connections = list(plan.connections)
    outcome.mapping_counts = {kind.name: len(rows) for kind, rows in plan.mappings.items()}
    if dry_run:
        return outcome
    try:
        with transaction.atomic():
            plan.company.save()
            for connection in plan.connections.values():
                connection.company = plan.company  # type: ignore[attr-defined]
                connection.save()
            mapping_services.replace_company_mappings(company=plan.company, mappings=plan.mappings)
    except PolicyTakenError as exc:
        # Another company took the policy between the check and the write.
        raise CompanyFileError([f"company.policy_ids: {m}" for m in exc.messages]) from None
    except IntegrityError:
        conflicts = plan.company.policy_conflicts()
        if not conflicts:
            raise
        raise CompanyFileError(
            [
                f"company.policy_ids: Expensify policy {policy_id} already belongs to company "
                f"{other.code} ({other.name}): a policy belongs to one company."
                for policy_id, other in sorted(conflicts.items())
            ]
        ) from None
    return outcome


def import_company_file(*, path: Path, environ: Mapping[str, str], dry_run: bool = False) -> ImportOutcome:
    """Read, validate and import a company file (.json or .toml)."""
    return import_company_data(data=parse_company_file(path), environ=environ, dry_run=dry_run)


# --- exporting ---------------------------------------------------------------------------


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
        if value is None or (value == "" and _field_default(type(instance), key.attr) == ""):
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
