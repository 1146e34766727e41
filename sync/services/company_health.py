"""A company's health as its runs leave it: stopped (a person must act), degraded, or well."""

from __future__ import annotations

from audit.services import record
from connector.logs import redact
from connector.models import Company

STOP_AFTER_FAILED_RUNS = 3  # the same failure this many runs in a row stops scheduled runs


def stop_company(company: Company, message: str, *, actor: str) -> None:
    message = redact(message)
    Company.objects.filter(pk=company.pk).update(blocked_reason=message)
    company.blocked_reason = message
    record(action="company_stopped", actor=actor, company=company, message=message)


def note_degraded(company: Company, reason: str, *, actor: str) -> None:
    """One bad answer is transient; the same failure STOP_AFTER_FAILED_RUNS runs in a row stops."""
    reason = redact(reason)
    streak = company.failure_streak + 1 if company.degraded_reason == reason else 1
    Company.objects.filter(pk=company.pk).update(degraded_reason=reason, failure_streak=streak)
    company.degraded_reason, company.failure_streak = reason, streak
    if streak >= STOP_AFTER_FAILED_RUNS and not company.blocked_reason:
        stop_company(
            company, f"stopped after {streak} runs in a row failed the same way: {reason}", actor=actor
        )


def note_well(company: Company, *, actor: str) -> None:
    """A clean run clears the company's stop and degraded state."""
    if not (company.blocked_reason or company.degraded_reason or company.failure_streak):
        return
    Company.objects.filter(pk=company.pk).update(blocked_reason="", degraded_reason="", failure_streak=0)
    if company.blocked_reason or company.degraded_reason:
        record(action="company_resumed", actor=actor, company=company, message="run succeeded")
    company.blocked_reason = company.degraded_reason = ""
    company.failure_streak = 0
