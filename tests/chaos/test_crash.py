"""Crash safety with real processes: a qcluster SIGKILLed while a Sage post is in flight.

The Sage simulator holds the first post either just before its commit or just after it (the
answer never leaves); the test SIGKILLs the qcluster's whole process group at that moment. A dead
worker leaves three timers: the company's run lease (10 min), the report's claim (5 min) and its
write slot (2 min); the test moves those deadlines into the past instead of waiting them out,
starts a new cluster and queues the company again. The reports settle with exactly one entry each
in Sage, are marked exported, and the audit says how.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from sync import leases
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState, SyncRun
from tests.chaos.conftest import (
    LABEL,
    exp_get,
    expensify_data,
    forget_redis_state,
    make_company,
    make_reports,
    sage_entries,
    sage_stats,
    start_expensify,
    start_sage,
    wait_for,
)

CODE = "KIL"


def expire_what_the_dead_worker_left(code: str) -> None:
    """As if the run lease, the report claims and the write slots had all run out."""
    past = timezone.now() - timedelta(seconds=1)
    for lease in leases.running():
        if lease.key == leases.run_key(code):
            leases.release(lease.key, holder=lease.holder)
    ExpenseReport.objects.filter(company__code=code, state=ReportState.POSTING).update(claimed_until=past)
    forget_redis_state([code])


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_qcluster_killed_with_a_post_in_flight_settles_with_one_entry_each(children, moment):
    forget_redis_state([CODE])
    reports = make_reports(CODE, 3, random.Random(7))
    expensify = start_expensify(expensify_data({CODE: reports}), rates=[(1000, 1.0)])
    sage = start_sage([CODE], max_writes=2)
    try:
        company = make_company(CODE, expensify, sage, max_writes=2)
        hold = getattr(sage.book, moment)
        hold.arm()

        first = children.start("qcluster-1", "qcluster", Q_WORKERS="1")
        children.enqueue(company.pk)
        assert hold.reached.wait(60), children.started[0].tail()
        held_key = hold.key
        first.kill()  # SIGKILL the master, its pusher, monitor and worker
        hold.release(drop=True)  # the client is gone: Sage never answers this post

        (killed_run,) = SyncRun.objects.filter(company=company)
        held = JournalEntry.objects.get(idempotency_key=held_key)
        assert ExpenseReport.objects.get(pk=held.report_id).state == ReportState.POSTING
        in_sage = sage_stats(sage)["referenceCounts"][CODE]
        assert in_sage.get(held.reference, 0) == (1 if moment == "after_commit" else 0)

        expire_what_the_dead_worker_left(CODE)
        children.start("qcluster-2", "qcluster", Q_WORKERS="1")
        children.enqueue(company.pk)
        wait_for(
            lambda: (
                SyncRun.objects.filter(company=company, finished_at__isnull=False)
                .exclude(pk=killed_run.pk)
                .exists()
            ),
            timeout=90,
            what="the run after the restart",
        )
        # The run the killed worker left is closed as interrupted when the next run takes the lease.
        killed_run.refresh_from_db()
        assert killed_run.outcome == "interrupted" and killed_run.finished_at is not None
        check_settled(company, reports, expensify, sage, held_key, moment)
    finally:
        expensify.stop()
        sage.stop()


def check_settled(company, reports, expensify, sage, held_key, moment):
    (rerun,) = SyncRun.objects.filter(company=company, finished_at__isnull=False).exclude(
        outcome="interrupted"
    )
    assert rerun.outcome == "success", rerun.message
    report_ids = [r["reportID"] for r in reports]
    assert dict(ExpenseReport.objects.filter(company=company).values_list("report_id", "state")) == {
        r: ReportState.EXPORTED for r in report_ids
    }
    assert sage_stats(sage)["referenceCounts"][CODE] == {f"EXP {r}": 1 for r in report_ids}
    assert {r: [LABEL] for r in report_ids} == {
        r: labels for r, labels in exp_get(expensify, "/_sim/marks")["marks"].items() if r in report_ids
    }
    for report_id in report_ids:
        (posted,) = AuditEvent.objects.filter(action="posted", report_ref=report_id)
        entry = JournalEntry.objects.get(report__report_id=report_id, state=EntryState.POSTED)
        assert posted.sage_entry_no == entry.sage_entry_no
        assert AuditEvent.objects.filter(action="marked_exported", report_ref=report_id).count() == 1
    held_report = JournalEntry.objects.get(idempotency_key=held_key).report
    (posted,) = AuditEvent.objects.filter(action="posted", report=held_report)
    how = "settled by lookup" if moment == "after_commit" else "re-sent after an unknown outcome"
    assert how in posted.message
    assert JournalEntry.objects.filter(report=held_report).count() == 1  # the same key, never a new one
    by_key = {e["idempotencyKey"]: e for e in sage_entries(sage, CODE)}
    assert by_key[held_key]["entryNo"] == held_report.entries.get().sage_entry_no
    from sync.services import reconcile

    rows = reconcile(company=company)
    assert [r for r in rows if not r.ok] == [] and len(rows) == len(report_ids)
