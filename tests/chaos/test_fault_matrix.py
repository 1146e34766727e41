"""The cells of the fault matrix (docs/reliability.md) no other test covers: database errors at each
write of a run, a truncated export, a chart refresh that fails.

Runs are in-process (fast clients) against both simulators on loopback ports, on PostgreSQL in
autocommit (transactional_db), as production runs. A database error is injected at the database
edge with `connection.execute_wrapper`: the first statement that matches fails with
OperationalError, as a dropped connection or a failover would. Each test then proves the row of
the matrix: at most one entry posted, no report lost, state and audit correct, the next run
finishes the work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connection

from audit.models import AuditEvent
from connector.models import Company, GLAccount
from simulators.expensify.render import render_export
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState, RunOutcome
from tests.chaos.conftest import (
    LABEL,
    exp_get,
    exp_post,
    expensify_data,
    forget_redis_state,
    make_company,
    make_reports,
    sage_faults,
    sage_stats,
    start_expensify,
    start_sage,
)
from tests.sync.conftest import fast_clients, run  # noqa: F401  (fast_clients is a fixture)

CODE = "MX1"
COUNT = 3


@pytest.fixture
def sims() -> Iterator[tuple[Any, Any, list[dict[str, Any]]]]:
    forget_redis_state([CODE])
    reports = make_reports(CODE, COUNT, random.Random(11))
    expensify = start_expensify(expensify_data({CODE: reports}), rates=[(1000, 1.0)], render_delay=0)
    sage = start_sage([CODE], max_writes=1)
    try:
        yield expensify, sage, reports
    finally:
        expensify.stop()
        sage.stop()


@pytest.fixture
def mx1(transactional_db, fast_clients, sims) -> Company:  # noqa: F811
    expensify, sage, _ = sims
    return make_company(CODE, expensify, sage, max_writes=1, max_retry_seconds=5)


@contextmanager
def database_fails(match: Callable[[str, Any], bool], times: int = 1) -> Iterator[dict[str, int]]:
    """The next `times` statements that `match` fail as if the connection had been lost."""
    state = {"left": times, "failed": 0}

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if state["left"] and match(sql, params):
            state["left"] -= 1
            state["failed"] += 1
            raise OperationalError("chaos: server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield state


def _values(params: Any) -> list[Any]:
    """Statement parameters, with the per-column arrays of a bulk INSERT ... UNNEST flattened."""
    values: list[Any] = []
    for param in params or ():
        values.extend(param if isinstance(param, list) else [param])
    return values


def inserts(table: str, *values: str) -> Callable[[str, Any], bool]:
    return lambda sql, params: (
        sql.startswith(f'INSERT INTO "{table}"') and all(v in _values(params) for v in values)
    )


def updates(table: str, *values: str) -> Callable[[str, Any], bool]:
    return lambda sql, params: (
        sql.startswith(f'UPDATE "{table}"') and all(v in _values(params) for v in values)
    )


def assert_settled(company: Company, expensify: Any, sage: Any, reports: list[dict[str, Any]]) -> None:
    """The end of every row: one entry each in Sage, exported and marked once, audited once."""
    ids = [r["reportID"] for r in reports]
    assert dict(ExpenseReport.objects.filter(company=company).values_list("report_id", "state")) == {
        r: ReportState.EXPORTED for r in ids
    }
    assert sage_stats(sage)["referenceCounts"][CODE] == {f"EXP {r}": 1 for r in ids}
    marks = exp_get(expensify, "/_sim/marks")["marks"]
    assert {r: marks.get(r) for r in ids} == {r: [LABEL] for r in ids}
    for report_id in ids:
        (posted,) = AuditEvent.objects.filter(action="posted", report_ref=report_id)
        entry = JournalEntry.objects.get(report__report_id=report_id, state=EntryState.POSTED)
        assert posted.sage_entry_no == entry.sage_entry_no
        expenses = ExpenseReport.objects.get(company=company, report_id=report_id).expenses.count()
        rows = AuditEvent.objects.filter(action="expense_posted", report_ref=report_id)
        assert rows.count() == expenses and {r.sage_entry_no for r in rows} == {entry.sage_entry_no}
        assert AuditEvent.objects.filter(action="marked_exported", report_ref=report_id).count() == 1
    # Reconcile, the alarm: every posted entry once in Sage, nothing in Sage the ledger lacks.
    from sync.services import reconcile

    rows = reconcile(company=Company.objects.get(pk=company.pk))
    assert [r for r in rows if not r.ok] == [] and len(rows) == len(ids)


# -- database errors ---------------------------------------------------------------------------------


def test_database_error_while_storing_an_exported_report(mx1, sims):
    expensify, sage, reports = sims
    with database_fails(inserts("sync_expensereport", reports[1]["reportID"])) as failed:
        first = run(mx1)

    assert failed["failed"] == 1
    assert first.outcome == RunOutcome.FAILED and "unexpected error" in first.message
    # Stored before the error: the first report only, whole (its expenses and its audit row).
    (stored,) = ExpenseReport.objects.filter(company=mx1)
    assert stored.report_id == reports[0]["reportID"] and stored.state == ReportState.NEW
    assert stored.expenses.count() == len(reports[0]["transactionList"])
    assert sage_stats(sage)["referenceCounts"][CODE] == {}

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)
    assert AuditEvent.objects.filter(action="discovered").count() == COUNT


def test_database_error_while_storing_the_refreshed_chart(mx1, sims):
    expensify, sage, reports = sims
    with database_fails(inserts("connector_glaccount")) as failed:
        first = run(mx1)

    assert failed["failed"] == 1
    assert first.outcome == RunOutcome.FAILED
    assert not GLAccount.objects.filter(company=mx1).exists()  # all or nothing
    assert Company.objects.get(pk=mx1.pk).chart_refreshed_at is None
    assert set(ExpenseReport.objects.values_list("state", flat=True)) == {ReportState.NEW}
    assert sage_stats(sage)["referenceCounts"][CODE] == {}

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)


def test_database_error_while_storing_the_built_entry(mx1, sims):
    expensify, sage, reports = sims
    with database_fails(inserts("sync_journalline")) as failed:
        first = run(mx1)

    assert failed["failed"] == 1
    assert first.outcome == RunOutcome.FAILED
    assert not JournalEntry.objects.exists()  # the entry and its lines are one transaction
    assert set(ExpenseReport.objects.values_list("state", flat=True)) == {ReportState.NEW}
    assert sage_stats(sage)["referenceCounts"][CODE] == {}

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)


def test_database_error_while_claiming_a_report(mx1, sims):
    expensify, sage, reports = sims
    with database_fails(updates("sync_expensereport", ReportState.POSTING)) as failed:
        run(mx1)

    assert failed["failed"] == 1
    assert sage_stats(sage)["counts"].get("post", 0) == 0  # nothing is sent without a claim
    assert ReportState.POSTING not in set(ExpenseReport.objects.values_list("state", flat=True))

    run(mx1)
    assert_settled(mx1, expensify, sage, reports)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(updates("sync_journalentry", EntryState.POSTED), id="entry-number"),
        pytest.param(updates("sync_expensereport", ReportState.POSTED), id="report-state"),
        pytest.param(inserts("audit_auditevent", "expense_posted", "posted"), id="audit"),
    ],
)
def test_database_error_while_recording_a_committed_post(mx1, sims, statement):
    """Sage holds the entry, our record of it fails: the next run settles it by lookup, at once."""
    expensify, sage, reports = sims
    with database_fails(statement) as failed:
        first = run(mx1)

    assert failed["failed"] == 1
    assert first.outcome == RunOutcome.PARTIAL
    unrecorded = ExpenseReport.objects.get(company=mx1, state=ReportState.UNKNOWN)
    first_id = unrecorded.report_id
    assert "could not record" in unrecorded.last_error
    assert not AuditEvent.objects.filter(report_ref=first_id, action__in=["posted", "expense_posted"])
    assert JournalEntry.objects.get(report=unrecorded).state == EntryState.OPEN  # its key stays the only one
    # The other reports of the run went on and were posted and marked.
    assert ExpenseReport.objects.filter(company=mx1, state=ReportState.EXPORTED).count() == COUNT - 1
    assert sage_stats(sage)["referenceCounts"][CODE] == {f"EXP {r['reportID']}": 1 for r in reports}

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)
    (posted,) = AuditEvent.objects.filter(action="posted", report_ref=first_id)
    assert "settled by lookup" in posted.message
    assert sage_stats(sage)["counts"]["post"] == COUNT  # settled without sending it again


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(updates("sync_expensereport", ReportState.EXPORTED), id="state"),
        pytest.param(inserts("audit_auditevent", "marked_exported"), id="audit"),
    ],
)
def test_database_error_after_expensify_marked_the_reports(mx1, sims, statement):
    """Expensify has the marks, our record of them fails: nothing half-written, the next run marks again."""
    expensify, sage, reports = sims
    with database_fails(statement) as failed:
        first = run(mx1)

    assert failed["failed"] == 1
    assert first.outcome == RunOutcome.FAILED
    # All or nothing: still posted (so marked again next run), with no marked_exported audit row.
    assert set(ExpenseReport.objects.values_list("state", flat=True)) == {ReportState.POSTED}
    assert not AuditEvent.objects.filter(action="marked_exported").exists()

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)


# -- Expensify and Sage answers ---------------------------------------------------------------------


def test_a_truncated_export_stores_what_came_whole_and_the_next_run_finishes(mx1, sims):
    expensify, sage, reports = sims
    document = render_export(reports)
    cut = document.index(f'"reportID": "{reports[1]["reportID"]}"') + 30
    exp_post(
        expensify,
        "/_sim/faults",
        {"next": [{"kind": "garbage", "on": "download", "body": document[:cut]}]},
    )

    first = run(mx1)

    assert first.outcome == RunOutcome.FAILED and "Expensify export failed" in first.message
    # The whole first report posted and was marked; the cut one and the rest wait for the next run.
    only = reports[0]["reportID"]
    assert dict(ExpenseReport.objects.values_list("report_id", "state")) == {only: ReportState.EXPORTED}
    assert sage_stats(sage)["referenceCounts"][CODE] == {f"EXP {only}": 1}

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)


def test_a_chart_refresh_that_times_out_fails_the_run_and_the_next_one_posts(mx1, sims):
    expensify, sage, reports = sims
    sage_faults(sage, {"fault": "timeout_before", "ops": "read", "times": None})

    first = run(mx1)

    assert first.outcome == RunOutcome.FAILED and "Sage 100 unavailable" in first.message
    assert not GLAccount.objects.filter(company=mx1).exists()
    assert Company.objects.get(pk=mx1.pk).blocked_reason == ""
    assert set(ExpenseReport.objects.values_list("state", flat=True)) == {ReportState.NEW}
    assert AuditEvent.objects.filter(action="sage_unavailable").exists()
    assert sage_stats(sage)["referenceCounts"][CODE] == {}

    sage_faults(sage)
    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)


def test_a_garbage_answer_to_a_post_is_an_unknown_outcome_settled_with_one_entry(mx1, sims, monkeypatch):
    """A 200 whose body is not the contract's answer: the write may have happened."""
    expensify, sage, reports = sims
    from simulators.sage100.server import Handler

    original = Handler._json
    garbled = {"left": 1}

    def garble(self, status, payload, headers=None):  # type: ignore[no-untyped-def]
        if status == 201 and garbled["left"]:
            garbled["left"] -= 1
            self._send(200, b"<html>proxy error</html>", "text/html")
            return
        original(self, status, payload, headers)

    monkeypatch.setattr(Handler, "_json", garble)

    assert run(mx1).outcome == RunOutcome.SUCCESS
    assert_settled(mx1, expensify, sage, reports)
    assert garbled["left"] == 0
    assert AuditEvent.objects.filter(action="posted", message__contains="settled by lookup").count() == 1
