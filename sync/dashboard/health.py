"""Connection health on a company's card: one line per outside system, in words.

"Expensify: OK — last contact today 09:12 UTC", "Sage: unreachable since today 09:12 UTC —
retrying (last error: …)", "Sage: stopped — user name or password rejected". Read from the
ConnectionHealth rows the runs and the connection tests write (one query for every company).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from connector.models import Company
from sync.models import ConnectionHealth, OutsideSystem
from sync.words import describe_when, plural, zone_name

LEVEL_CLASSES = {"ok": "status-ok", "failing": "status-attention", "stopped": "status-stopped"}


@dataclass
class SystemHealth:
    system: str  # "expensify" or "sage"
    level: str  # ok, failing, stopped, never
    line: str
    detail: str  # the last error when the line does not say it already, or ""
    last_ok_at: dt.datetime | None
    last_error_at: dt.datetime | None

    @property
    def css_class(self) -> str:
        """The colour the page's style sheet gives this level (cockpit.css)."""
        return LEVEL_CLASSES.get(self.level, "")


def health_rows(companies: list[Company]) -> dict[int, dict[str, ConnectionHealth]]:
    """Each company's rows by system (one query)."""
    found: dict[int, dict[str, ConnectionHealth]] = {c.pk: {} for c in companies}
    for row in ConnectionHealth.objects.filter(company__in=[c.pk for c in companies]):
        found[row.company_id][row.system] = row
    return found


def _at(moment: dt.datetime | None, now: dt.datetime | None) -> str:
    return f"{describe_when(moment, now=now)} {zone_name()}"


def _retrying(company: Company) -> str:
    if not company.enabled:
        return "not retrying (the company is disabled)"
    if company.degraded_reason and company.failure_streak:
        return f"retrying, {plural(company.failure_streak, 'failed run')} in a row"
    return "retrying"


def system_health(
    company: Company, system: str, row: ConnectionHealth | None, *, now: dt.datetime | None = None
) -> SystemHealth:
    """One system's line: OK with the last contact, failing since when and why, or stopped."""
    name = OutsideSystem(system).label
    if row is None or (row.last_ok_at is None and row.last_error_at is None):
        return SystemHealth(system, "never", f"{name}: no contact recorded yet", "", None, None)
    last_error = f"Last error {_at(row.last_error_at, now)}: {row.last_error}" if row.last_error_at else ""
    failing = row.last_error_at is not None and (row.last_ok_at is None or row.last_error_at > row.last_ok_at)
    if not failing:
        line = f"{name}: OK — last contact {_at(row.last_ok_at, now)}"
        return SystemHealth(system, "ok", line, last_error, row.last_ok_at, row.last_error_at)
    if company.blocked_reason:
        line = f"{name}: stopped — {row.trouble}"
        return SystemHealth(system, "stopped", line, last_error, row.last_ok_at, row.last_error_at)
    since = _at(row.failing_since or row.last_error_at, now)
    line = f"{name}: {row.trouble} since {since} — {_retrying(company)} (last error: {row.last_error})"
    return SystemHealth(system, "failing", line, "", row.last_ok_at, row.last_error_at)


def connections_of(
    company: Company, rows: dict[str, ConnectionHealth], *, now: dt.datetime | None = None
) -> list[SystemHealth]:
    """Expensify's line, then Sage's."""
    return [system_health(company, system, rows.get(system), now=now) for system in OutsideSystem.values]
