"""States, outcomes, actions, times and schedules in a finance team's words (never `retry_wait`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.conf import settings
from django.utils import timezone

from connector.models import Company, ScheduleKind
from connector.money import display
from sync.models import ReportState

S = ReportState

# Report states that wait for a person, as (state, label, what a report in it is "doing").
NEEDS_A_PERSON: tuple[tuple[str, str], ...] = (
    (S.NEEDS_MAPPING, "Needs mapping"),
    (S.FAILED, "Failed"),
    (S.CHANGED, "Changed after posting"),
    (S.CONFLICT, "Held: another company's ledger has it"),
    (S.UNKNOWN, "Outcome unknown"),
)
STATUS_PHRASES: dict[str, str] = {
    S.NEEDS_MAPPING: "needing a mapping",
    S.FAILED: "failing",
    S.CHANGED: "changed after posting",
    S.CONFLICT: "held (another company's ledger has it)",
    S.UNKNOWN: "with an outcome not yet known",
    S.RETRY_WAIT: "waiting to retry",
}
# Audit actions that count as a failure in the weekly chart.
FAILURE_ACTIONS = ("failed", "post_failed", "needs_mapping", "rejected", "conflict", "post_unknown")

ACTION_WORDS = {
    "discovered": "Found in Expensify",
    "revised": "New revision in Expensify",
    "rejected": "Refused (cannot be posted as it is)",
    "changed_after_posting": "Changed after posting",
    "change_accepted": "Change accepted (Sage stays as posted)",
    "needs_mapping": "Needs mapping",
    "failed": "Failed",
    "note": "Note",
    "post_retried": "Posted after retries",
    "post_retrying": "Waiting to retry",
    "post_unknown": "Outcome unknown (settled before anything else)",
    "post_failed": "Refused by Sage 100",
    "posted": "Posted to Sage 100",
    "expense_posted": "Expense posted",
    "expense_not_posted": "Expense not posted",
    "nothing_to_post": "Nothing to post",
    "marked_exported": "Marked exported in Expensify",
    "mark_failed": "Marking exported failed",
    "export_failed": "Export from Expensify failed",
    "sage_unavailable": "Sage 100 unavailable",
    "sage_config_error": "Sage 100 configuration problem",
    "replay_requested": "Replay requested",
    "company_stopped": "Company stopped",
    "company_resumed": "Company running again",
    "run_started": "Run started",
    "run_finished": "Run finished",
    "run_interrupted": "Run interrupted",
    "withdrawn": "No longer approved in Expensify",
    "eligible_again": "Approved again in Expensify",
    "conflict": "Held: another company's ledger has it",
    "found_in_sage": "Found already in Sage 100",
    "claim_taken_over": "Taken over from a stopped worker",
    "settled": "Outcome settled",
    "contacts_told": "Contacts emailed",
    "digest_sent": "Daily digest emailed",
}


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action) or action.replace("_", " ").capitalize()


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def money_by_currency(amounts: Mapping[str, int]) -> str:
    """'1,234.50 USD, 20.00 EUR', or an en dash for nothing."""
    parts = [display(cents, currency) for currency, cents in sorted(amounts.items()) if cents]
    return ", ".join(parts) or "—"


def zone_name() -> str:
    return str(settings.TIME_ZONE)


def describe_when(moment: dt.datetime | None, *, now: dt.datetime | None = None, future: bool = False) -> str:
    """'today 06:15', 'yesterday 14:02', 'Tue 3 Dec 06:15' (the year when it is not this one)."""
    if moment is None:
        return "never"
    local = timezone.localtime(moment)
    today = timezone.localtime(now or timezone.now()).date()
    clock = f"{local:%H:%M}"
    day = local.date()
    if day == today:
        return f"today {clock}"
    if day == today - dt.timedelta(days=1):
        return f"yesterday {clock}"
    if day == today + dt.timedelta(days=1):
        return f"tomorrow {clock}"
    text = f"{local:%a} {day.day} {local:%b}"
    if day.year != today.year:
        text += f" {day.year}"
    return f"{text} {clock}"


def describe_duration(delta: dt.timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
CRON_DAYS = {"*": "Every day", "1-5": "Weekdays", "0,6": "Weekends", "6,0": "Weekends", "6-7": "Weekends"}


def _cron_words(cron: str) -> str | None:
    parts = cron.split()
    if len(parts) != 5:
        return None
    minute, hour, day_of_month, month, weekday = parts
    if not (minute.isdigit() and hour.isdigit()) or day_of_month != "*" or month != "*":
        return None
    clock = f"{int(hour):02d}:{int(minute):02d}"
    if weekday in CRON_DAYS:
        return f"{CRON_DAYS[weekday]} {clock}"
    if weekday.isdigit() and int(weekday) <= 7:
        return f"{WEEKDAYS[(int(weekday) - 1) % 7]} {clock}"
    return None


def describe_schedule(company: Company) -> str:
    """The company's schedule in words: 'Weekdays 06:15 UTC', 'Daily 07:00 UTC', 'Manual only'."""
    zone = zone_name()
    if company.schedule_kind == ScheduleKind.MANUAL:
        return "Manual only"
    if company.schedule_kind == ScheduleKind.CRON:
        cron = (company.schedule_cron or "").strip()
        words = _cron_words(cron)
        return f"{words} {zone}" if words else f"Cron {cron} ({zone})"
    if company.schedule_time is None:
        return "No time set"
    clock = f"{company.schedule_time:%H:%M}"
    if company.schedule_kind == ScheduleKind.DAILY:
        return f"Daily {clock} {zone}"
    return f"{WEEKDAYS[company.schedule_weekday or 0]} {clock} {zone}"


# A report's state as a message says it after an action ("R123: exported").
SHORT_STATES: dict[str, str] = {
    S.NEW: "new",
    S.READY: "ready to post",
    S.POSTING: "posting",
    S.POSTED: "posted",
    S.EXPORTED: "exported",
    S.NEEDS_MAPPING: "needs a mapping",
    S.FAILED: "failed",
    S.RETRY_WAIT: "waiting to retry",
    S.UNKNOWN: "outcome unknown",
    S.CHANGED: "changed after posting",
    S.WITHDRAWN: "no longer approved in Expensify",
    S.CONFLICT: "held: another company's ledger has it",
}


def short_state(state: str) -> str:
    """A report's state in a few words, for messages after an action."""
    return SHORT_STATES.get(state, state.replace("_", " "))


PREVIEW_OUTCOMES = {
    "post": "Would post",
    "nothing": "Nothing to post",
    "needs_mapping": "Needs mapping",
    "rejected": "Cannot be posted",
    "already posted": "Already posted",
}
