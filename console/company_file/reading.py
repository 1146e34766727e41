"""Reading a company file: JSON or TOML text, then each value converted with the path of any problem.

`Reader` never stops at the first problem: every one is collected as "path: sentence" (e.g.
"mappings.categories[3].account: ..."). A secret is only ever an `env:NAME` reference, resolved
from the environment given, and never echoed back in a message.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from console.company_file.keys import ENV_REFERENCE, CompanyFileError, Key


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
        [
            f"{path.name}: nested too deeply to be a company file (lists or tables inside each other "
            "thousands of levels deep)"
        ]
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


def type_name(value: object) -> str:
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


class Reader:
    """Walks the file's tables, converting values and collecting every problem with its path."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def table(self, value: object, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, f"must be a table of keys, got {type_name(value)}")
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
                self.add(where, f"must be text (in quotes), got {type_name(value)}")
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
                self.add(where, f"must be a whole number, got {type_name(value)}")
                return False, None
            return True, value
        if kind == "bool":
            if not isinstance(value, bool):
                self.add(where, f"must be true or false, got {type_name(value)}")
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


def report_model_errors(
    reader: Reader,
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
