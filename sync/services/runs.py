"""A sync run for one company, as five steps: lease, export, re-check, post, mark.

1. Take the company's run lease (one run per company across all workers); close a run a dead
   worker left behind as interrupted.
2. Export the company's eligible reports (approved or reimbursed; archived where it opts in) from
   its export start date, in test mode, and store them.
3. Re-check by report ID every stored report this run is about to post that the export did not
   return: no longer approved means withdrawn, never posted.
4. Post what is ready through `Poster` (posting.py) within the company's write limit.
5. Mark the posted reports exported in Expensify, and count only the marks Expensify confirms.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.utils import timezone

from audit.services import record
from connector.expensify.errors import ExpensifyAuthError, ExpensifyError
from connector.expensify.types import ExpensifyReport, RejectedReport
from connector.limits import MAX_CALL_SECONDS
from connector.models import Company
from connector.sage100.errors import STOPPING_CODES, SageCompanyError, SageError
from connector.sage100.gateway import SageGateway, SageSettings
from connector.sage100.services import ChartRefresh, refresh_chart
from connector.sage100.types import PingInfo
from sync import leases, selectors
from sync.models import ExpenseReport, ReportState, RunOutcome, SyncRun
from sync.services.company_health import note_degraded, note_well, stop_company
from sync.services.contact import ContactLog
from sync.services.context import BuildContext, PeriodCache
from sync.services.counts import RunCounts
from sync.services.entries import open_entry
from sync.services.ingest import upsert_rejected, upsert_report
from sync.services.ledger import move
from sync.services.marking import mark_exported
from sync.services.pipeline import Pipeline
from sync.services.posting import Poster
from sync.services.run_log import close_interrupted, finish_run, notify
from sync.services.seams import ExpensifySession
from sync.services.sends import CompanyStopped

log = logging.getLogger(__name__)
S = ReportState

# Longer than the longest call a run makes between two renewals (one Sage call stays open at
# most MAX_CALL_SECONDS; the posting loop renews while it waits on Sage).
RUN_LEASE_SECONDS = MAX_CALL_SECONDS + 240
LEASE_RENEW_SECONDS = 30.0
CHART_MAX_AGE = dt.timedelta(minutes=15)
ELIGIBLE_STATES = ("APPROVED", "REIMBURSED")


@dataclass
class RunOptions:
    trigger: str
    actor: str
    since: dt.date | None = None
    report_ids: list[str] | None = None
    progress: Callable[[str, int, int], None] | None = None


def _default_expensify(company: Company) -> ExpensifySession:
    import connector.expensify as expensify  # looked up per call: tests swap the factory

    return expensify.client_for_company(company)


def _default_sage(settings: SageSettings) -> SageGateway:
    from connector.sage100.gateway import open_gateway

    return open_gateway(settings)


@dataclass
class Connections:
    """How a run reaches the outside systems; tests and benchmarks pass their own."""

    expensify: Callable[[Company], ExpensifySession] = _default_expensify
    sage: Callable[[SageSettings], SageGateway] = _default_sage
    chart: Callable[[Company], ChartRefresh] = refresh_chart


class LeaseKeeper:
    """Renews the run lease from the run's own thread, at most every few seconds."""

    def __init__(self, key: str, holder: str) -> None:
        self.key = key
        self.holder = holder
        self._last = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= LEASE_RENEW_SECONDS:
            leases.renew(self.key, holder=self.holder, seconds=RUN_LEASE_SECONDS)
            self._last = now


def report_states(company: Company) -> list[str]:
    """What the export asks for: final approval, and Closed where the workspace has no approval step."""
    return [*ELIGIBLE_STATES, *(["ARCHIVED"] if company.include_archived else [])]


def run_sync(*, company: Company, options: RunOptions, connections: Connections | None = None) -> SyncRun:
    """One sync run for one company (see the module docstring). Never raises for report problems.

    A run skipped because another holds the company's lease is not stored (nor audited)."""
    holder = leases.new_holder()
    lease_key = f"run:{company.code}"
    if not leases.acquire(lease_key, holder=holder, seconds=RUN_LEASE_SECONDS):
        return SyncRun(
            company=company,
            trigger=options.trigger,
            actor=options.actor,
            outcome=RunOutcome.SKIPPED,
            message="another run for this company is in progress",
        )
    try:
        close_interrupted(company)
        run = SyncRun.objects.create(company=company, trigger=options.trigger, actor=options.actor)
        contact = ContactLog(company)  # each system's last contact and error, saved once per run
        watched = contact.watch(connections or Connections())
        work = RunWork(company, options, run, holder, LeaseKeeper(lease_key, holder), watched)
        try:
            outcome, message = work.execute()
        except Exception as exc:
            log.exception("sync run for %s failed", company.code)
            outcome, message = RunOutcome.FAILED, f"unexpected error: {exc}"
        contact.save()
        finished = finish_run(run, outcome, message, work.counts)
        notify(finished)
        return finished
    finally:
        leases.release(lease_key, holder=holder)


@dataclass
class RunWork:
    company: Company
    options: RunOptions
    run: SyncRun
    holder: str
    keeper: LeaseKeeper
    connections: Connections
    counts: RunCounts = field(default_factory=RunCounts)
    problems: list[str] = field(default_factory=list)
    eligible: set[str] = field(default_factory=set)
    export_complete: bool = False
    client: ExpensifySession | None = None

    @property
    def actor(self) -> str:
        return self.options.actor

    def execute(self) -> tuple[str, str]:
        company = self.company
        record(
            action="run_started",
            actor=self.actor,
            company=company,
            message=f"run {self.run.pk} ({self.options.trigger})",
        )
        if self.options.trigger in ("schedule", "retry") and company.blocked_reason:
            return RunOutcome.FAILED, f"runs stopped until fixed: {company.blocked_reason}"
        try:
            self.client = self.connections.expensify(company)
            if not self.export():
                return RunOutcome.FAILED, self.problems[-1]
            to_post = list(selectors.reports_to_post(company, report_ids=self.options.report_ids))
            if not self.recheck(to_post):
                return RunOutcome.FAILED, self.problems[-1]
            stopped = self.post(to_post)
            if not self.mark():
                return RunOutcome.FAILED, self.problems[-1]
        finally:
            if self.client is not None:
                self.run.expensify_calls = getattr(self.client, "calls", 0)
                self.client.close()
        return self.outcome(stopped)

    # -- 2. export -----------------------------------------------------------------------------

    def export(self) -> bool:
        """Store every eligible report; False when the company must stop (credentials)."""
        company, options = self.company, self.options
        since = options.since or company.export_start_date
        if not company.policy_ids:
            self.problem(
                "no Expensify policy is listed for this company, so nothing is exported "
                "(a company posts only its own policies' reports)",
            )
            return True
        if options.report_ids is None and since is None:
            self.problem(
                f"company {company.code} has no export start date: set it on the company "
                "page (inclusive; the first run starts there)",
            )
            return True
        try:
            for parsed in self._export_iter(since, options.report_ids):
                self.store(parsed)
            self.export_complete = True
        except ExpensifyAuthError as exc:
            self.stop(str(exc))
            return False
        except ExpensifyError as exc:
            # Stored reports whose outcome is open can still be looked up; nothing new is posted.
            self.problem(f"Expensify export failed: {exc}")
            record(action="export_failed", actor=self.actor, company=company, message=str(exc))
        return True

    def _export_iter(
        self, since: dt.date | None, report_ids: list[str] | None
    ) -> Iterator[ExpensifyReport | RejectedReport]:
        assert self.client is not None  # opened before the export
        label, policy_ids = self.company.export_label, self.company.policy_ids
        states = report_states(self.company)
        if report_ids is not None:
            return self.client.export_reports(
                label=label, policy_ids=policy_ids, report_states=states, report_ids=report_ids
            )
        return self.client.export_reports(
            label=label, policy_ids=policy_ids, report_states=states, approved_since=since
        )

    def store(self, parsed: ExpensifyReport | RejectedReport) -> None:
        self.counts.add("seen")
        if isinstance(parsed, RejectedReport):
            _report, failed_now = upsert_rejected(company=self.company, rejected=parsed, actor=self.actor)
            if failed_now:
                self.counts.add("failed")
        else:
            self.eligible.add(parsed.report_id)
            _report, what = upsert_report(company=self.company, parsed=parsed, actor=self.actor)
            if what == "changed":
                self.counts.add("changed")
        if self.options.progress:
            self.options.progress("export", self.counts.seen, 0)
        self.keeper.tick()

    # -- 3. re-check what the export did not show --------------------------------------------

    def recheck(self, to_post: list[ExpenseReport]) -> bool:
        """A stored report is posted only if Expensify shows it eligible now (asked by report ID)."""
        if not self.export_complete:
            return True
        unseen = [r for r in to_post if r.report_id not in self.eligible]
        if unseen and self.options.report_ids is None:
            try:
                for parsed in self._export_iter(None, [r.report_id for r in unseen]):
                    self.store(parsed)
            except ExpensifyAuthError as exc:
                self.stop(str(exc))
                return False
            except ExpensifyError as exc:
                self.problem(f"Expensify re-check of stored reports failed: {exc}")
                self.export_complete = False
                return True
        for report in unseen:
            if report.report_id in self.eligible or report.state in (S.UNKNOWN, S.POSTING):
                continue  # an open outcome is looked up, never re-sent, while not eligible
            report.refresh_from_db()
            if report.state in (S.NEW, S.READY, S.NEEDS_MAPPING, S.RETRY_WAIT) and open_entry(report) is None:
                message = (
                    "Expensify no longer shows this report approved and unexported (reopened, rejected, "
                    "retracted, deleted, moved to another policy, or marked exported elsewhere): not posted"
                )
                move(
                    report,
                    S.WITHDRAWN,
                    actor=self.actor,
                    action="withdrawn",
                    message=message,
                    last_error=message,
                    next_attempt_at=None,
                )
                self.counts.add("withdrawn")
        return True

    # -- 4. post -------------------------------------------------------------------------------

    def post(self, to_post: list[ExpenseReport]) -> str:
        """Post what is ready; returns the stop message when the company had to stop."""
        from connector.sage100.gateway import settings_for_company
        from connector.sage100.retry import RetryPolicy
        from connector.sage100.slots import WriteSlots, effective_limit

        company = self.company
        try:
            sage_settings = settings_for_company(company)
            self._refresh_chart_if_stale(sage_settings)
            probe = self.connections.sage(sage_settings)
            try:
                ping: PingInfo | None = probe.ping() if sage_settings.transport == "agent" else None
                limit = effective_limit(company, ping)
                policy = RetryPolicy.for_company(company)
                poster = Poster(
                    company=company,
                    context=BuildContext.load(company, PeriodCache(probe.periods)),
                    gateway_factory=lambda: self.connections.sage(sage_settings),
                    slots=WriteSlots.for_company(company, ping),
                    policy=policy,
                    actor=self.actor,
                    holder=self.holder,
                    counts=self.counts,
                    eligible=self.eligible,  # reports this run's export returned whole
                    claim_seconds=policy.max_seconds + 2 * MAX_CALL_SECONDS,
                )
                # Reports whose state moved since they were listed are re-read by prepare().
                self._post_all(poster, [r for r in to_post if r.state != S.WITHDRAWN], limit)
            finally:
                probe.close()
        except CompanyStopped as exc:
            return self._sage_company_error(exc.error)
        except SageCompanyError as exc:
            return self._sage_company_error(exc)
        except SageError as exc:
            self.problem(f"Sage 100 unavailable: {exc}")
            record(action="sage_unavailable", actor=self.actor, company=company, message=str(exc))
        return ""

    def _sage_company_error(self, exc: SageCompanyError) -> str:
        if exc.code in STOPPING_CODES:
            self.stop(str(exc))
            return str(exc)
        self.problem(f"Sage 100 configuration error: {exc}")
        record(action="sage_config_error", actor=self.actor, company=self.company, message=str(exc))
        return ""

    def _refresh_chart_if_stale(self, sage_settings: SageSettings) -> None:
        company = self.company
        fresh = company.chart_refreshed_at and timezone.now() - company.chart_refreshed_at < CHART_MAX_AGE
        if not fresh:
            self.connections.chart(company)
            company.refresh_from_db()

    def _post_all(self, poster: Poster, reports: list[ExpenseReport], limit: int) -> None:
        """Post the listed reports through the pipeline (pipeline.py), within the write limit."""
        total, done = len(reports), 0

        def one_done() -> None:
            nonlocal done
            done += 1
            if self.options.progress:
                self.options.progress("post", done, total)
            self.keeper.tick()

        Pipeline(
            poster, limit, on_done=one_done, tick=self.keeper.tick, wait_seconds=LEASE_RENEW_SECONDS
        ).run(reports)

    # -- 5. mark -------------------------------------------------------------------------------

    def mark(self) -> bool:
        if self.client is None:
            return True
        try:
            self.counts.exported += mark_exported(company=self.company, client=self.client, actor=self.actor)
        except ExpensifyAuthError as exc:
            self.stop(str(exc))
            return False
        except ExpensifyError as exc:
            self.problem(f"marking exported failed (tried again next run): {exc}")
            record(action="mark_failed", actor=self.actor, company=self.company, message=str(exc))
        waiting = selectors.reports_to_mark(self.company).count()
        if waiting:
            self.problems.append(
                f"{waiting} posted report(s) not yet confirmed marked in Expensify; marked again next run"
            )
        return True

    # -- the run's end ---------------------------------------------------------------------------

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def stop(self, message: str) -> None:
        """A coded credential or access error: scheduled runs stop until a person fixes it."""
        stop_company(self.company, message, actor=self.actor)
        self.problems.append(message)

    def outcome(self, stopped: str) -> tuple[str, str]:
        company = self.company
        if stopped:
            return RunOutcome.FAILED, stopped
        failures = [p for p in self.problems if "not yet confirmed" not in p]
        if failures:
            note_degraded(company, "; ".join(failures), actor=self.actor)
            return RunOutcome.FAILED, "; ".join(self.problems)
        note_well(company, actor=self.actor)
        if self.counts.needs_attention() or self.problems:
            return RunOutcome.PARTIAL, "; ".join(self.problems)
        return RunOutcome.SUCCESS, ""
