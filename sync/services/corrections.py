"""A report changed after posting: the person's second choice, an adjusting entry (accounting.md).

`post_correction` re-reads the report from Expensify, builds today's entry for that revision, and
posts the difference per account against everything already posted for the report, as its own
entry: its own key (made from its body), reference `EXP <report>/C<n>`, exactly once like any post
(open before it is sent; an unknown outcome is settled by the next run under the same key). The
stored expenses stay those first posted (their audit rows point at them); the correction entry and
its audit row carry the difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit.services import record
from connector.expensify.errors import ExpensifyError
from connector.expensify.types import ExpensifyReport
from connector.models import Company
from connector.sage100.errors import SageError
from sync import leases
from sync.journal import REFERENCE_PREFIX, BuiltEntry, NeedsMapping, NothingToPost, ReportRejected
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState
from sync.services.context import BuildContext, PeriodCache
from sync.services.counts import RunCounts
from sync.services.entries import idempotency_key, open_for_send, payload_of, write_lines
from sync.services.ingest import report_input_from_export
from sync.services.ledger import claim, move
from sync.services.posting import Poster
from sync.services.runs import RUN_LEASE_SECONDS, Connections, report_states
from sync.services.sends import CompanyStopped, Send
from sync.text import REFERENCE_MAX

S = ReportState


class CorrectionRefused(Exception):
    """The correction cannot be made now; the message says why, in the operator's words."""


@dataclass(frozen=True)
class CorrectionLine:
    account: str
    debit_cents: int
    credit_cents: int
    comment: str = ""


def difference(posted: Iterable[Any], wanted: Iterable[Any]) -> list[CorrectionLine]:
    """Per account, what must be added to what Sage holds to reach what the report says now."""
    net: dict[str, int] = defaultdict(int)
    for line in wanted:
        net[line.account] += line.debit_cents - line.credit_cents
    for line in posted:
        net[line.account] -= line.debit_cents - line.credit_cents
    return [
        CorrectionLine(account, max(amount, 0), max(-amount, 0), "correction")
        for account, amount in sorted(net.items())
        if amount
    ]


def correction_reference(report_id: str, number: int) -> str:
    """`EXP <report>/C<n>`, the report ID shortened (from the left) to fit Sage's 30 characters."""
    tail = f"/C{number}"
    room = REFERENCE_MAX - len(REFERENCE_PREFIX) - len(tail)
    return f"{REFERENCE_PREFIX}{report_id[-room:]}{tail}"


def post_correction(
    *, report: ExpenseReport, actor: str, reason: str, connections: Connections | None = None
) -> str:
    """Post an adjusting entry for a report changed after posting; returns the report's new state.

    Raises CorrectionRefused (nothing sent) when it cannot be done now."""
    if report.state != S.CHANGED:
        raise CorrectionRefused(f"report {report.report_id} is not changed after posting")
    if not reason.strip():
        raise CorrectionRefused("say why the correction is posted (it goes into the audit)")
    connections = connections or Connections()
    holder, key = leases.new_holder(), f"run:{report.company.code}"
    if not leases.acquire(key, holder=holder, seconds=RUN_LEASE_SECONDS):
        raise CorrectionRefused("a sync of this company is running; try again when it has finished")
    try:
        return _correct(report, actor, reason, connections, holder)
    finally:
        leases.release(key, holder=holder)


def _correct(report: ExpenseReport, actor: str, reason: str, connections: Connections, holder: str) -> str:
    from connector.sage100.gateway import settings_for_company
    from connector.sage100.retry import RetryPolicy
    from connector.sage100.slots import WriteSlots

    company = Company.objects.get(pk=report.company_id)
    parsed = _latest_revision(company, report, connections)
    sage_settings = settings_for_company(company)
    gateway = connections.sage(sage_settings)
    try:
        context = BuildContext.load(company, PeriodCache(gateway.periods))
        lines, built = _lines_to_post(report, context, parsed)
    except SageError as exc:
        raise CorrectionRefused(f"Sage 100: {exc}") from exc
    finally:
        gateway.close()
    if not lines:
        move(
            report,
            S.EXPORTED if report.exported_at else S.POSTED,
            actor=actor,
            action="change_accepted",
            message=f"Sage already matches Expensify's latest revision: no correction needed ({reason})",
        )
        return report.state
    poster = Poster(
        company=company,
        context=context,
        gateway_factory=lambda: connections.sage(sage_settings),
        slots=WriteSlots.for_company(company, None),
        policy=RetryPolicy.for_company(company),
        actor=actor,
        holder=holder,
        counts=RunCounts(),
        eligible={report.report_id},
    )
    send = _claim_correction(report, built, lines, reason, actor, poster)
    try:
        return poster.finish(send, poster.transmit(send))
    except CompanyStopped as exc:
        raise CorrectionRefused(str(exc)) from exc
    finally:
        poster.close()


def _latest_revision(company: Company, report: ExpenseReport, connections: Connections) -> ExpensifyReport:
    try:
        found = latest_revisions(company=company, report_ids=[report.report_id], connections=connections)
    except ExpensifyError as exc:
        raise CorrectionRefused(f"Expensify: {exc}") from exc
    if report.report_id not in found:
        raise CorrectionRefused(
            f"Expensify no longer shows report {report.report_id} approved: nothing to correct to"
        )
    return found[report.report_id]


def latest_revisions(
    *, company: Company, report_ids: Iterable[str], connections: Connections
) -> dict[str, ExpensifyReport]:
    """Expensify's latest approved revision of each report, by report ID (those it still shows
    approved), read as a run reads them: test mode, the company's policies and eligible states.

    Raises ExpensifyError when Expensify cannot be read."""
    wanted = set(report_ids)
    if not wanted:
        return {}
    client = connections.expensify(company)
    try:
        return {
            parsed.report_id: parsed
            for parsed in client.export_reports(
                label="",  # reports already marked exported: no label filter
                policy_ids=company.policy_ids,
                report_ids=sorted(wanted),
                report_states=report_states(company),
            )
            if isinstance(parsed, ExpensifyReport) and parsed.report_id in wanted
        }
    finally:
        client.close()


def _lines_to_post(
    report: ExpenseReport, context: BuildContext, parsed: ExpensifyReport
) -> tuple[list[CorrectionLine], BuiltEntry | None]:
    try:
        built = context.build(report_input_from_export(parsed))
    except (NeedsMapping, ReportRejected) as exc:
        raise CorrectionRefused(f"today's build of the report fails: {exc}") from exc
    wanted = [] if isinstance(built, NothingToPost) else list(built.lines)
    posted = [
        line
        for entry in report.entries.filter(state=EntryState.POSTED).prefetch_related("lines")
        for line in entry.lines.all()
    ]
    return difference(posted, wanted), (None if isinstance(built, NothingToPost) else built)


def _claim_correction(
    report: ExpenseReport,
    built: BuiltEntry | None,
    lines: list[CorrectionLine],
    reason: str,
    actor: str,
    poster: Poster,
) -> Send:
    number = 1 + max(report.entries.values_list("correction_no", flat=True), default=0)
    reference = correction_reference(report.report_id, number)
    posting_date = built.posting_date if built is not None else context_today()
    body = payload_of_lines(
        reference, posting_date, f"Correction {number} of report {report.report_id}", lines
    )
    fingerprint = _body_fingerprint(body)
    with transaction.atomic():
        entry = JournalEntry.objects.create(
            company=report.company,
            report=report,
            correction_no=number,
            idempotency_key=idempotency_key(report.company, f"{report.report_id}/C{number}", fingerprint),
            fingerprint=fingerprint,
            source_journal=built.source_journal if built is not None else report.company.source_journal,
            posting_date=posting_date,
            reference=reference,
            comment=body.comment,
        )
        write_lines(entry, lines)
        record(
            action="correction_requested",
            actor=actor,
            report=report,
            message=f"correction {number} ({reference}): {reason}",
        )
        if not claim(report, holder=poster.holder, from_states=[S.CHANGED], seconds=poster.claim_seconds):
            raise CorrectionRefused("the report changed state meanwhile; look at it again")
        open_for_send(entry)
    return Send(
        report, entry, payload_of(entry, lines), settling=False, eligible=True, lines=lines, expenses=[]
    )


def context_today() -> Any:
    from django.utils import timezone

    return timezone.localdate()


def payload_of_lines(reference: str, posting_date: Any, comment: str, lines: list[CorrectionLine]) -> Any:
    from connector.sage100.types import JournalEntryPayload

    return JournalEntryPayload.from_lines(
        source_journal="GJ", posting_date=posting_date, reference=reference, comment=comment, lines=lines
    )


def _body_fingerprint(body: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(body.to_json(), sort_keys=True).encode()).hexdigest()
