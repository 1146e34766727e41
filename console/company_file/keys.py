"""The company file's shape: its sections, each key's model attribute and kind, the format version.

docs/company-file.md documents the same keys; the reader (reading.py), the plan (plan.py) and the
export (export.py) all walk these tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import models

from connector.models import (
    ClosedPeriodRule,
    EntryShape,
    ExpensifyCredential,
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


def field_default(model: type[models.Model], attr: str) -> Any:
    """What a key left out of the file sets: the model field's default."""
    if attr == "expensify_policy_ids":
        return ""  # a property over CompanyPolicy rows, not a column
    model_field = model._meta.get_field(attr)
    if not isinstance(model_field, models.Field):
        raise TypeError(f"{model.__name__}.{attr} is not a column")
    return model_field.get_default()
