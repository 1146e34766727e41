"""Telling a company's contacts what needs a person: after a run, or once a day in a digest.

One email per company per run at most (an audit row marks it sent, so a repeated call sends
nothing), only when the run left reports needing a person or the company is stopped. A company
on the daily digest gets one summary a day instead (a stop is still told at once). Every text
goes through redact(): no stored credential ever reaches an email.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from connector.logs import redact
from connector.models import Company
from sync.models import ExpenseReport, RunOutcome, SyncRun
from sync.words import NEEDS_A_PERSON, describe_when, plural

log = logging.getLogger(__name__)
TOLD = "contacts_told"
DIGEST = "digest_sent"
DIGEST_SCHEDULE = "daily digest"
DIGEST_TIME = dt.time(7, 0)


def contacts(company: Company) -> list[str]:
    """The company's contact addresses that are valid (a typo is logged, not mailed)."""
    found = []
    for address in (company.contact_emails or "").replace(";", ",").split(","):
        address = address.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            log.warning("company %s: contact %r is not an email address; not told", company.code, address)
            continue
        found.append(address)
    return list(dict.fromkeys(found))


def base_url() -> str:
    """Where the admin is, for links in emails: ADMIN_BASE_URL, else the first trusted origin."""
    explicit = str(getattr(settings, "ADMIN_BASE_URL", "") or "")
    if explicit:
        return explicit.rstrip("/")
    origins = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []) or [])
    if origins:
        return str(origins[0]).rstrip("/")
    hosts = [h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")]
    host = hosts[0] if hosts else "127.0.0.1"
    return f"http://{host}:8000" if settings.DEBUG else f"https://{host}"


@dataclass(frozen=True)
class Waiting:
    label: str
    count: int
    url: str


def waiting(company: Company) -> list[Waiting]:
    """Reports of the company that need a person now, by reason (one grouped query)."""
    states = [state for state, _ in NEEDS_A_PERSON]
    counts = {
        row["state"]: row["n"]
        for row in ExpenseReport.objects.filter(company=company, state__in=states)
        .values("state")
        .annotate(n=Count("id"))
        .order_by()
    }
    root = base_url() + reverse("admin:sync_expensereport_changelist")
    return [
        Waiting(label, counts[state], f"{root}?company__id__exact={company.pk}&state__exact={state}")
        for state, label in NEEDS_A_PERSON
        if counts.get(state)
    ]


def run_email(run: SyncRun, now_waiting: list[Waiting]) -> tuple[str, str]:
    """(subject, body) telling what a run left for a person."""
    company = run.company
    stopped = bool(company.blocked_reason)
    if stopped:
        subject = f"[ml-connector] {company.code}: runs stopped — {company.blocked_reason}"
    else:
        total = sum(w.count for w in now_waiting)
        subject = f"[ml-connector] {company.code}: {plural(total, 'report')} need a person"
    lines = [
        f"Company {company.code} ({company.name})",
        f"Run {run.pk} ({run.get_trigger_display().lower()}), {describe_when(run.started_at)}: "
        f"{run.get_outcome_display().lower()}.",
        f"Seen {run.reports_seen}, posted {run.reports_posted}, failed {run.reports_failed}, "
        f"needing a mapping {run.reports_needing_mapping}.",
    ]
    if run.message:
        lines.append(f"What the run said: {run.message}")
    if stopped:
        lines += ["", f"Scheduled runs are stopped until this is fixed: {company.blocked_reason}"]
    if now_waiting:
        lines += ["", "Waiting for a person now:"]
        lines += [f"- {w.count} {w.label.lower()}: {w.url}" for w in now_waiting]
    if run.pk:
        lines += ["", f"The run: {base_url()}{reverse('admin:sync_syncrun_change', args=[run.pk])}"]
    lines += ["", "You get this because you are a contact of this company in ml-connector."]
    return redact(subject), redact("\n".join(lines))


def _already(company: Company, action: str, key: str) -> bool:
    return AuditEvent.objects.filter(company=company, action=action, message__startswith=key).exists()


def notify_after_run(run: SyncRun) -> None:
    """Called once at the end of every stored run; must never raise into the engine."""
    try:
        _notify(run)
    except Exception:  # telling people never costs a run its result
        log.exception("run %s: telling the company's contacts failed", getattr(run, "pk", None))


def _notify(run: SyncRun) -> None:
    if run.pk is None or run.outcome in (RunOutcome.RUNNING, RunOutcome.SKIPPED):
        return
    company = Company.objects.get(pk=run.company_id)
    run.company = company
    to = contacts(company)
    if not to:
        return
    if company.daily_digest:
        ensure_digest_schedule()
    stopped = bool(company.blocked_reason)
    left_work = bool(run.reports_failed or run.reports_needing_mapping or run.reports_changed)
    if not stopped and (company.daily_digest or not left_work):
        return
    key = f"run {run.pk}:"
    if _already(company, TOLD, key):
        return
    subject, body = run_email(run, waiting(company))
    send_mail(subject, body, None, to, fail_silently=False)
    record(
        action=TOLD,
        actor="notify",
        company=company,
        message=f"{key} told {', '.join(to)}: {subject}",
    )


def digest_email(company: Company, since: dt.datetime) -> tuple[str, str] | None:
    """(subject, body) of a company's daily digest; None when there is nothing to say."""
    runs = list(SyncRun.objects.filter(company=company, started_at__gte=since).order_by("started_at"))
    now_waiting = waiting(company)
    if not runs and not now_waiting and not company.blocked_reason:
        return None
    total = sum(w.count for w in now_waiting)
    subject = f"[ml-connector] {company.code} daily: " + (
        f"{plural(total, 'report')} need a person" if total else "nothing needs a person"
    )
    posted = sum(r.reports_posted for r in runs)
    failed = [r for r in runs if r.outcome == RunOutcome.FAILED]
    lines = [
        f"Company {company.code} ({company.name}), since {describe_when(since)}:",
        f"{plural(len(runs), 'run')}, {plural(posted, 'report')} posted, "
        f"{plural(len(failed), 'failed run')}.",
    ]
    if company.blocked_reason:
        lines.append(f"Scheduled runs are stopped until this is fixed: {company.blocked_reason}")
    elif company.degraded_reason:
        lines.append(f"Having trouble (retrying): {company.degraded_reason}")
    if now_waiting:
        lines += ["", "Waiting for a person now:"]
        lines += [f"- {w.count} {w.label.lower()}: {w.url}" for w in now_waiting]
    lines += ["", f"The admin: {base_url()}{reverse('admin:index')}"]
    return redact(subject), redact("\n".join(lines))


def send_daily_digests(now: dt.datetime | None = None) -> str:
    """One digest per company on the daily digest with contacts, at most one a day each."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=1)
    sent = []
    for company in Company.objects.filter(daily_digest=True).exclude(contact_emails=""):
        to = contacts(company)
        key = f"digest {timezone.localdate(now)}:"
        if not to or _already(company, DIGEST, key):
            continue
        email = digest_email(company, since)
        if email is None:
            continue
        subject, body = email
        send_mail(subject, body, None, to, fail_silently=False)
        record(action=DIGEST, actor="notify", company=company, message=f"{key} told {', '.join(to)}")
        sent.append(company.code)
    return f"daily digest sent to {', '.join(sent)}" if sent else "no daily digest to send"


def ensure_digest_schedule() -> str:
    """One django-q2 schedule, every day at DIGEST_TIME, that sends the daily digests."""
    from django_q.models import Schedule

    if Schedule.objects.filter(name=DIGEST_SCHEDULE).exists():
        return "unchanged"
    first = timezone.localtime().replace(
        hour=DIGEST_TIME.hour, minute=DIGEST_TIME.minute, second=0, microsecond=0
    )
    if first <= timezone.localtime():
        first += dt.timedelta(days=1)
    Schedule.objects.create(
        name=DIGEST_SCHEDULE,
        func="sync.tasks.daily_digest",
        schedule_type=Schedule.DAILY,
        repeats=-1,
        next_run=first,
    )
    return "created"
