"""One django-q2 schedule per enabled company, kept in step with the company's settings."""

from __future__ import annotations

from django_q.models import Schedule

from connector.models import Company, ScheduleKind


def schedule_name(company: Company) -> str:
    return f"sync {company.code}"


def cron_for(company: Company) -> str | None:
    """The company's schedule as a cron expression; None for manual-only companies."""
    if company.schedule_kind == ScheduleKind.CRON:
        return company.schedule_cron.strip()
    if company.schedule_kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY) and company.schedule_time:
        minute, hour = company.schedule_time.minute, company.schedule_time.hour
        if company.schedule_kind == ScheduleKind.DAILY:
            return f"{minute} {hour} * * *"
        # Our weekday counts from Monday = 0; cron counts from Sunday = 0.
        return f"{minute} {hour} * * {((company.schedule_weekday or 0) + 1) % 7}"
    return None


def ensure_schedule(company: Company) -> str:
    """Create, update or remove the company's schedule; returns what was done."""
    cron = cron_for(company) if company.enabled else None
    existing = Schedule.objects.filter(func="sync.tasks.sync_company", args=repr(company.pk)).first()
    if existing is None:
        existing = Schedule.objects.filter(name=schedule_name(company)).first()
    if cron is None:
        if existing is not None:
            existing.delete()
            return "removed"
        return "none"
    values = {
        "name": schedule_name(company),
        "func": "sync.tasks.sync_company",
        "args": repr(company.pk),
        "schedule_type": Schedule.CRON,
        "cron": cron,
        "repeats": -1,
    }
    if existing is None:
        Schedule.objects.create(**values)
        return "created"
    if all(getattr(existing, k) == v for k, v in values.items()):
        return "unchanged"
    for key, value in values.items():
        setattr(existing, key, value)
    existing.next_run = existing.calculate_next_run()  # django-q2 computes it only on create
    existing.save()
    return "updated"


RETRY_SCHEDULE = "retry due reports"


def ensure_retry_schedule() -> str:
    """One schedule, every minute, that posts reports whose next attempt is due (sync.tasks.retry_due)."""
    values = {"func": "sync.tasks.retry_due", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
    existing = Schedule.objects.filter(name=RETRY_SCHEDULE).first()
    if existing is None:
        Schedule.objects.create(name=RETRY_SCHEDULE, **values)
        return "created"
    if all(getattr(existing, k) == v for k, v in values.items()):
        return "unchanged"
    Schedule.objects.filter(pk=existing.pk).update(**values)
    return "updated"


def ensure_all_schedules() -> dict[str, str]:
    results = {company.code: ensure_schedule(company) for company in Company.objects.all()}
    results[RETRY_SCHEDULE] = ensure_retry_schedule()
    known = {repr(pk) for pk in Company.objects.values_list("pk", flat=True)}
    for orphan in Schedule.objects.filter(func="sync.tasks.sync_company").exclude(args__in=known):
        orphan.delete()
        results[orphan.name] = "removed (company gone)"
    return results
