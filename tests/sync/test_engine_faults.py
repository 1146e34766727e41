"""End to end under faults: locks, timeouts, outages, dropped connections, crashes, concurrent runs.

Faults are injected through the Sage simulator's control API. Whatever happens, Sage ends up with
at most one entry per report (exactly one once it is settled), and the ledger says what happened.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from connector.models import Company
from mappings.models import CategoryMapping
from sync import leases
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState, RunOutcome
from sync.services import payload_of
from tests.sync.conftest import (
    LABEL,
    audit,
    demo_reports,
    exp_control,
    lines_of,
    load_reports,
    make_past,
    mark_requests,
    marks,
    on_postgres,
    reference_counts,
    run,
    sage_entries,
    sage_faults,
    sage_posts,
    sage_stats,
    states,
)

DENVER = "R00X9oNOn2MO"
DENVER_REF = f"EXP {DENVER}"
DENVER_LINES = {("6100-01-000", 109895, 0), ("6110-01-000", 4318, 0), ("2100-00-000", 0, 114213)}


@pytest.fixture
def denver(abc, expensify_sim):
    """Company ABC with one report waiting in Expensify: the Denver trip."""
    load_reports(expensify_sim, demo_reports(DENVER))
    return abc


def open_company_gateway(company: Company):
    from connector.sage100.gateway import open_gateway, settings_for_company

    return open_gateway(settings_for_company(Company.objects.get(pk=company.pk)))


def assert_posted_once(company, expensify_sim, sage_sim, report_id=DENVER):
    assert states(company)[report_id] == ReportState.EXPORTED
    assert reference_counts(sage_sim) == {f"EXP {report_id}": 1}
    assert len(audit(company, "posted", report_id)) == 1
    assert mark_requests(expensify_sim).count(report_id) == 1
    entry = JournalEntry.objects.get(report__report_id=report_id, state=EntryState.POSTED)
    (in_sage,) = sage_entries(sage_sim)
    assert (entry.sage_entry_no, entry.idempotency_key) == (in_sage["entryNo"], in_sage["idempotencyKey"])


# -- 7. faults -----------------------------------------------------------------------------------------


def test_record_lock_on_the_first_tries_posts_once_and_audits_the_retries(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "record_locked", "times": 2})

    sync_run = run(denver)

    assert sync_run.outcome == RunOutcome.SUCCESS
    assert_posted_once(denver, expensify_sim, sage_sim)
    (retried,) = audit(denver, "post_retried", DENVER)
    assert retried.message == "RECORD_LOCKED x2"
    assert retried.detail["attempts"] == 3
    assert sage_posts(sage_sim) == 3


@pytest.mark.parametrize(
    "fault",
    [
        {"fault": "timeout_after"},
        {"fault": "timeout_after", "html": True},
        {"fault": "drop_after"},
    ],
    ids=["504", "504-html", "drop"],
)
def test_write_committed_but_unanswered_is_settled_with_one_entry(denver, expensify_sim, sage_sim, fault):
    sage_faults(sage_sim, fault)

    sync_run = run(denver)

    assert sync_run.outcome == RunOutcome.SUCCESS
    assert_posted_once(denver, expensify_sim, sage_sim)
    assert lines_of(denver, DENVER) == DENVER_LINES
    (posted,) = audit(denver, "posted", DENVER)
    assert "settled by lookup" in posted.message
    (row, *_) = audit(denver, "expense_posted", DENVER)
    assert row.sage_entry_no == sage_entries(sage_sim)[0]["entryNo"]


def test_no_answer_to_any_try_leaves_the_report_unknown_then_the_same_key_posts_it(
    denver, expensify_sim, sage_sim
):
    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})

    first = run(denver)

    unknown = ExpenseReport.objects.get(report_id=DENVER)
    assert unknown.state == ReportState.UNKNOWN
    assert first.reports_retrying == 1
    assert reference_counts(sage_sim) == {}
    assert mark_requests(expensify_sim) == []
    key = JournalEntry.objects.get(report=unknown).idempotency_key
    sage_faults(sage_sim)

    run(denver)

    assert_posted_once(denver, expensify_sim, sage_sim)
    assert JournalEntry.objects.get(report=unknown).idempotency_key == key
    (posted,) = audit(denver, "posted", DENVER)
    assert "re-sent after an unknown outcome" in posted.message


def test_persistent_outage_waits_then_posts_once_when_due(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "unavailable", "times": None})

    waiting_run = run(denver)

    waiting = ExpenseReport.objects.get(report_id=DENVER)
    assert waiting.state == ReportState.RETRY_WAIT
    assert waiting.next_attempt_at > timezone.now()
    assert "not reachable" in waiting.last_error
    assert waiting_run.reports_retrying == 1
    assert reference_counts(sage_sim) == {}
    assert mark_requests(expensify_sim) == []
    assert len(audit(denver, "post_retrying", DENVER)) == 1

    # Not due yet: the next run leaves it alone, even once Sage is back.
    sage_faults(sage_sim)
    posts = sage_posts(sage_sim)
    run(denver)
    assert states(denver)[DENVER] == ReportState.RETRY_WAIT
    assert sage_posts(sage_sim) == posts

    make_past(denver, DENVER)
    run(denver)

    assert_posted_once(denver, expensify_sim, sage_sim)
    assert ExpenseReport.objects.get(report_id=DENVER).next_attempt_at is None


def test_persistent_outage_is_due_again_after_time_passes(denver, expensify_sim, sage_sim):
    import time_machine

    sage_faults(sage_sim, {"fault": "unavailable", "times": None})
    run(denver)
    due = ExpenseReport.objects.get(report_id=DENVER).next_attempt_at
    sage_faults(sage_sim)

    with time_machine.travel(due + timedelta(seconds=1), tick=True):
        # The chart is older than its 15 minutes by then: the run refreshes it first.
        run(denver)

    assert_posted_once(denver, expensify_sim, sage_sim)


def test_crash_after_the_write_committed_is_settled_by_lookup(denver, expensify_sim, sage_sim):
    # A first run stores the entry, then Sage is down: the report waits with a BUILT entry.
    sage_faults(sage_sim, {"fault": "unavailable", "times": None})
    run(denver)
    sage_faults(sage_sim)
    entry = JournalEntry.objects.get(report__report_id=DENVER, state=EntryState.BUILT)
    # A later worker sent it and Sage committed it, then the worker died before recording anything.
    gateway = open_company_gateway(denver)
    try:
        gateway.post_entry(payload_of(entry), idempotency_key=entry.idempotency_key)
    finally:
        gateway.close()
    ExpenseReport.objects.filter(pk=entry.report_id).update(
        state=ReportState.POSTING,
        claimed_by="dead-host:4242:deadbeef",
        claimed_until=timezone.now() - timedelta(seconds=1),
    )
    posts = sage_posts(sage_sim)

    sync_run = run(denver)

    assert sync_run.reports_posted == 1
    assert_posted_once(denver, expensify_sim, sage_sim)
    assert sage_posts(sage_sim) == posts  # settled by lookup, nothing sent again
    (posted,) = audit(denver, "posted", DENVER)
    assert "settled by lookup" in posted.message
    assert JournalEntry.objects.get(pk=entry.pk).state == EntryState.POSTED


def test_a_claim_that_has_not_expired_is_left_alone(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "unavailable", "times": None})
    run(denver)
    sage_faults(sage_sim)
    ExpenseReport.objects.filter(report_id=DENVER).update(
        state=ReportState.POSTING,
        claimed_by="live-host:1:cafe",
        claimed_until=timezone.now() + timedelta(minutes=5),
    )

    run(denver)

    assert states(denver)[DENVER] == ReportState.POSTING
    assert reference_counts(sage_sim) == {}


def test_crash_before_anything_was_sent_posts_once(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "unavailable", "times": None})
    run(denver)
    sage_faults(sage_sim)
    ExpenseReport.objects.filter(report_id=DENVER).update(
        state=ReportState.POSTING,
        claimed_by="dead-host:4242:deadbeef",
        claimed_until=timezone.now() - timedelta(seconds=1),
    )

    run(denver)

    assert_posted_once(denver, expensify_sim, sage_sim)
    (posted,) = audit(denver, "posted", DENVER)
    assert "re-sent after an unknown outcome" in posted.message


def test_unsettled_report_stays_unknown_until_sage_answers(denver, expensify_sim, sage_sim):
    """An outcome once unknown is settled under the same key, never rebuilt under a new one."""
    run(denver, report_ids=["-"])  # a fresh chart: later runs need no read before posting
    # Run 1: no answer to any try (nothing commits): the outcome stays unknown.
    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})
    run(denver)
    assert states(denver)[DENVER] == ReportState.UNKNOWN
    entry = JournalEntry.objects.get(report__report_id=DENVER, state=EntryState.OPEN)

    # Run 2: the lookup says "not found", then every re-send meets an outage.
    sage_faults(sage_sim, {"fault": "unavailable", "times": None})
    run(denver)
    assert states(denver)[DENVER] == ReportState.UNKNOWN

    # Meanwhile the first write commits late after all, and the mapping is changed.
    sage_faults(sage_sim)
    gateway = open_company_gateway(denver)
    try:
        gateway.post_entry(payload_of(entry), idempotency_key=entry.idempotency_key)
    finally:
        gateway.close()
    CategoryMapping.objects.filter(company=denver, category="Airfare").update(account="6300-00-000")
    make_past(denver, DENVER)

    run(denver)

    # Posted once under its first key, whatever changed since; today's build differs, so a person sees it.
    assert reference_counts(sage_sim) == {"EXP " + DENVER: 1}
    assert lines_of(denver, DENVER) == DENVER_LINES  # the body Sage holds, not a rebuilt one
    report = ExpenseReport.objects.get(report_id=DENVER)
    assert report.state == ReportState.CHANGED
    assert "today's build differs" in report.change_summary and "6300-01-000" in report.change_summary


@pytest.mark.parametrize("transport", ["soap"])  # no ping over SOAP: the settling lookup is the first read
def test_a_lookup_that_fails_settles_nothing_the_same_key_and_body_do(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})
    run(denver)
    assert states(denver)[DENVER] == ReportState.UNKNOWN
    (open_entry,) = JournalEntry.objects.filter(report__report_id=DENVER, state=EntryState.OPEN)
    sage_faults(sage_sim, {"fault": "unavailable", "ops": "read", "times": 1})

    run(denver)

    assert sage_sim.book.faults[0].times == 0  # the settling lookup really failed
    assert_posted_once(denver, expensify_sim, sage_sim)
    (posted,) = JournalEntry.objects.filter(report__report_id=DENVER, state=EntryState.POSTED)
    assert posted.idempotency_key == open_entry.idempotency_key
    (row,) = audit(denver, "posted", DENVER)
    assert "re-sent after an unknown outcome" in row.message


@pytest.mark.parametrize("transport", ["soap"])
def test_a_logon_failure_while_settling_keeps_the_report_unknown(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})
    run(denver)
    assert states(denver)[DENVER] == ReportState.UNKNOWN
    sage_faults(sage_sim, {"fault": "auth", "ops": "all", "times": None})

    stopped = run(denver)

    assert "password" in Company.objects.get(pk=denver.pk).blocked_reason.lower()
    assert stopped.outcome == RunOutcome.FAILED
    assert states(denver)[DENVER] == ReportState.UNKNOWN
    assert JournalEntry.objects.filter(report__report_id=DENVER, state=EntryState.OPEN).count() == 1
    assert reference_counts(sage_sim) == {}
    sage_faults(sage_sim)
    Company.objects.filter(pk=denver.pk).update(blocked_reason="")
    run(denver)
    assert_posted_once(denver, expensify_sim, sage_sim)


def test_marking_fails_after_posting_then_the_next_run_marks_without_posting_again(
    denver, expensify_sim, sage_sim
):
    def refuse_the_mark(phase: str, done: int, total: int) -> None:
        if phase == "post":  # posted; the next render Expensify receives is the mark
            exp_control(
                expensify_sim, "/_sim/faults", {"next": [{"kind": "json_error", "code": 410, "on": "file"}]}
            )

    first = run(denver, progress=refuse_the_mark)

    assert first.outcome == RunOutcome.FAILED
    assert "marking exported failed" in first.message
    assert states(denver) == {DENVER: ReportState.POSTED}
    assert reference_counts(sage_sim) == {DENVER_REF: 1}
    assert marks(expensify_sim) == {}

    second = run(denver)

    assert (second.outcome, second.reports_posted, second.reports_exported) == (RunOutcome.SUCCESS, 0, 1)
    assert states(denver) == {DENVER: ReportState.EXPORTED}
    assert reference_counts(sage_sim) == {DENVER_REF: 1}
    assert marks(expensify_sim) == {DENVER: [LABEL]}
    assert len(audit(denver, "posted", DENVER)) == 1


def test_an_expensify_outage_posts_nothing_unconfirmed_then_the_next_run_posts(
    denver, expensify_sim, sage_sim
):
    """A stored report is posted only once this run's export shows it approved (accounting.md)."""
    sage_faults(sage_sim, {"fault": "unavailable", "times": None})
    run(denver)
    sage_faults(sage_sim)
    make_past(denver, DENVER)
    exp_control(expensify_sim, "/_sim/faults", {"next": [{"kind": "json_error", "code": 410, "on": "file"}]})

    sync_run = run(denver)

    assert sync_run.outcome == RunOutcome.FAILED
    assert "Expensify export failed" in sync_run.message
    assert audit(denver, "export_failed")
    assert reference_counts(sage_sim) == {}
    assert Company.objects.get(pk=denver.pk).degraded_reason

    run(denver)
    assert_posted_once(denver, expensify_sim, sage_sim)
    assert Company.objects.get(pk=denver.pk).degraded_reason == ""


def test_a_company_stopped_mid_run_still_marks_what_it_posted(abc, expensify_sim, sage_sim):
    load_reports(expensify_sim, demo_reports(DENVER, "83647"))

    def password_changed_in_sage(phase: str, done: int, total: int) -> None:
        if phase == "post" and done == 1:
            sage_faults(sage_sim, {"fault": "auth", "ops": "all", "times": None})

    stopped = run(abc, progress=password_changed_in_sage)

    assert stopped.outcome == RunOutcome.FAILED
    assert "Sage 100 refused" in Company.objects.get(pk=abc.pk).blocked_reason
    assert states(abc) == {DENVER: ReportState.EXPORTED, "83647": ReportState.READY}
    assert marks(expensify_sim) == {DENVER: [LABEL]}
    assert reference_counts(sage_sim) == {DENVER_REF: 1}


def test_a_company_without_a_sage_connection_fails_with_a_plain_reason(abc, expensify_sim, sage_sim):
    from connector.models import SageConnection

    SageConnection.objects.filter(company=abc).delete()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    company = Company.objects.get(pk=abc.pk)
    assert "Company ABC has no Sage 100 connection set up." in failed.message
    assert "Company ABC has no Sage 100 connection set up." in company.degraded_reason
    assert set(states(abc).values()) == {ReportState.NEW}


# -- 8. runs at once -----------------------------------------------------------------------------------


def test_a_run_while_another_holds_the_lease_is_skipped(abc, expensify_sim, sage_sim):
    assert leases.acquire("run:ABC", holder="other-worker", seconds=600)

    skipped = run(abc)

    assert skipped.outcome == RunOutcome.SKIPPED
    assert "another run" in skipped.message
    assert not ExpenseReport.objects.exists()
    assert reference_counts(sage_sim) == {}

    leases.release("run:ABC", holder="other-worker")
    assert run(abc).reports_posted == 4


def test_a_lease_left_by_a_dead_run_is_taken_over_once_expired(abc, expensify_sim, sage_sim):
    assert leases.acquire("run:ABC", holder="dead-host:1:0", seconds=0.001)
    time.sleep(0.01)  # expired by the store's clock

    taken = run(abc)

    assert taken.outcome == RunOutcome.PARTIAL
    assert taken.reports_posted == 4
    assert leases.running() == []  # released at the end of the run


def test_a_stale_list_of_reports_never_posts_one_again(abc, expensify_sim, sage_sim, monkeypatch):
    """Another worker's out-of-date read must not re-post, re-mark or re-route a posted report."""
    run(abc)
    posted_entries = {
        e.report.report_id: e.sage_entry_no for e in JournalEntry.objects.select_related("report")
    }
    CategoryMapping.objects.filter(company=abc, category="Airfare").update(account="6300-00-000")
    from sync import selectors

    # A worker that listed the company's reports before the first run finished sees them all as due.
    monkeypatch.setattr(
        selectors,
        "reports_to_post",
        lambda company, report_ids=None: ExpenseReport.objects.filter(company=company).order_by("id"),
    )

    second = run(abc)

    assert second.reports_posted == 0
    assert reference_counts(sage_sim) == {f"EXP {r}": 1 for r in posted_entries}
    assert {r: s for r, s in states(abc).items() if r in posted_entries} == {
        r: ReportState.EXPORTED for r in posted_entries
    }
    assert sorted(mark_requests(expensify_sim)) == sorted(posted_entries)
    assert len(audit(abc, "posted")) == 4
    assert lines_of(abc, DENVER) == DENVER_LINES


def _in_threads(count: int, target) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target()
        except Exception as exc:  # reported by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_the_second_is_skipped(abc, expensify_sim, sage_sim):
    if not on_postgres():
        pytest.skip("threads share one in-memory SQLite database only awkwardly; PostgreSQL runs it")
    sage_faults(sage_sim, writeLatency=0.2)

    runs = _in_threads(2, lambda: run(abc))

    outcomes = sorted(r.outcome for r in runs)
    assert outcomes == [RunOutcome.PARTIAL, RunOutcome.SKIPPED]
    assert reference_counts(sage_sim) == {
        f"EXP {r}": 1 for r in ["R00X9oNOn2MO", "83647", "R01Lisb0aUd1", "R02PhX3nIxQ7"]
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("transport", ["agent"])
def test_concurrent_runs_without_the_lease_never_duplicate_an_entry(
    abc, expensify_sim, sage_sim, monkeypatch
):
    if not on_postgres():
        pytest.skip("needs PostgreSQL: concurrent writers in threads")
    Company.objects.filter(pk=abc.pk).update(max_concurrent_writes=2)
    # The reports are known first (Sage refuses the logon), so the runs race only to post them.
    sage_faults(sage_sim, {"fault": "auth", "ops": "all", "times": None})
    run(abc)
    assert set(states(abc).values()) == {ReportState.NEW}
    sage_faults(sage_sim)
    # As if every run's lease had expired: only the report claims keep posting exactly-once.
    monkeypatch.setattr(leases, "acquire", lambda key, *, holder, seconds: True)
    sage_faults(sage_sim, writeLatency=0.05)

    runs = _in_threads(4, lambda: run(abc))

    assert all(not isinstance(r, Exception) for r in runs), runs
    stats = sage_stats(sage_sim)
    assert stats["maxInFlight"]["ABC"] <= 2  # the write limit holds across every run and thread
    assert stats["overLimit"] == 0
    counts = reference_counts(sage_sim)
    assert counts == {f"EXP {r}": 1 for r in ["R00X9oNOn2MO", "83647", "R01Lisb0aUd1", "R02PhX3nIxQ7"]}
    assert sum(r.reports_posted for r in runs) == 4
    for report_id in ["R00X9oNOn2MO", "83647", "R01Lisb0aUd1", "R02PhX3nIxQ7"]:
        assert len(audit(abc, "posted", report_id)) == 1
        assert states(abc)[report_id] == ReportState.EXPORTED


@pytest.mark.django_db(transaction=True)
def test_one_run_posts_in_parallel_within_the_write_limit(abc, expensify_sim, sage_sim, transport):
    Company.objects.filter(pk=abc.pk).update(max_concurrent_writes=3)  # the agent advertises 2
    CategoryMapping.objects.create(company=abc, category="Team Offsite", account="6110-00-000")
    sage_faults(sage_sim, writeLatency=0.1)

    sync_run = run(abc)

    assert (sync_run.reports_posted, sync_run.reports_exported, sync_run.reports_failed) == (5, 5, 1)
    stats = sage_stats(sage_sim)
    if transport == "agent":  # min(company 3, ping's 2)
        assert stats["maxInFlight"]["ABC"] <= 2
        assert stats["overLimit"] == 0
    else:  # no ping over SOAP: the company's 3 is the limit; Sage's TOO_MANY_WRITES answers are retried
        assert stats["maxInFlight"]["ABC"] <= 3
    expected = {
        f"EXP {r}": 1 for r in ["R00X9oNOn2MO", "83647", "R01Lisb0aUd1", "R02PhX3nIxQ7", "R03OffS1te22"]
    }
    assert reference_counts(sage_sim) == expected
    assert lines_of(abc, DENVER) == DENVER_LINES
    assert len(audit(abc, "expense_posted")) == 3 + 3 + 3 + 2 + 2
    assert all(row.sage_entry_no for row in audit(abc, "expense_posted"))
