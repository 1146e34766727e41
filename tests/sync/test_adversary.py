"""Issue 11: the holes an adversarial run found, each reproduced against both simulators.

Every test here failed on the engine before the rewrite (see docs/reliability.md, "Adversarial
scenarios"): the same report posted twice, a reopened report posted, one report in two ledgers,
reports silently left behind, and reconcile blind to all of it.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from connector.models import Company
from mappings.models import CategoryMapping
from sync import leases
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportOwner, ReportState, RunOutcome, SyncRun
from sync.services import payload_of, reconcile
from sync.services.entries import PostedVia, record_posted
from sync.tasks import retry_due
from tests.sync.conftest import (
    TODAY,
    audit,
    demo_reports,
    exp_control,
    expense,
    load_reports,
    make_past,
    mark_requests,
    marks,
    reference_counts,
    report,
    run,
    sage_entries,
    sage_faults,
    states,
)

DENVER = "R00X9oNOn2MO"
DENVER_REF = f"EXP {DENVER}"


@pytest.fixture
def denver(abc, expensify_sim):
    load_reports(expensify_sim, demo_reports(DENVER))
    return abc


def gateway_for(company: Company):
    from connector.sage100.gateway import open_gateway, settings_for_company

    return open_gateway(settings_for_company(Company.objects.get(pk=company.pk)))


def remap_airfare(company: Company) -> None:
    """An operator edits a mapping between runs: today's build (and its key) changes."""
    CategoryMapping.objects.filter(company=company, category="Airfare").update(account="6300-00-000")


def only_one_in_sage(sage_sim, reference: str = DENVER_REF) -> None:
    assert reference_counts(sage_sim).get(reference, 0) == 1


def no_unreadable_or_open(company: Company) -> None:
    assert reconcile_clean(company), [r for r in reconcile(company=company) if not r.ok]


def reconcile_clean(company: Company) -> bool:
    return all(row.ok for row in reconcile(company=Company.objects.get(pk=company.pk)))


# -- 1-3. posted twice ---------------------------------------------------------------------------


UNREADABLE_LOOKUPS = {"fault": "answer", "ops": "lookup", "status": 200, "body": "cut", "times": None}


def one_try_per_run(company: Company) -> None:
    """No re-post within a run: what a run leaves is what the next run must settle."""
    Company.objects.filter(pk=company.pk).update(max_post_attempts=1)


def test_1_unreadable_answer_then_unreadable_lookup_never_posts_under_a_new_key(denver, sage_sim):
    one_try_per_run(denver)
    # The post commits and is answered with a cut-off body, and no lookup can be read.
    sage_faults(
        sage_sim, {"fault": "answer_after", "status": 200, "body": "cut", "times": None}, UNREADABLE_LOOKUPS
    )
    run(denver)
    assert states(denver)[DENVER] == ReportState.UNKNOWN
    (opened,) = JournalEntry.objects.filter(report__report_id=DENVER, state=EntryState.OPEN)
    only_one_in_sage(sage_sim)

    # The lookup that would settle it is unreadable, the re-post meets an outage, and the mapping changed.
    sage_faults(sage_sim, {"fault": "unavailable", "ops": "post", "times": None}, UNREADABLE_LOOKUPS)
    remap_airfare(denver)
    make_past(denver, DENVER)
    run(denver)

    assert states(denver)[DENVER] == ReportState.UNKNOWN  # a lookup that cannot be read settles nothing
    assert JournalEntry.objects.filter(report__report_id=DENVER, state=EntryState.OPEN).get() == opened
    only_one_in_sage(sage_sim)

    sage_faults(sage_sim)
    run(denver)
    only_one_in_sage(sage_sim)
    posted = JournalEntry.objects.get(report__report_id=DENVER, state=EntryState.POSTED)
    assert posted.idempotency_key == opened.idempotency_key
    assert states(denver)[DENVER] == ReportState.CHANGED  # today's build differs: a person decides
    no_unreadable_or_open(denver)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_2_a_proxy_page_after_a_committed_post_is_an_unknown_outcome(denver, sage_sim, status):
    one_try_per_run(denver)
    sage_faults(
        sage_sim,
        {"fault": "answer_after", "status": status, "body": "html", "times": None},
        UNREADABLE_LOOKUPS,
    )
    run(denver)

    assert states(denver)[DENVER] == ReportState.UNKNOWN  # not "retry later with a fresh build"
    only_one_in_sage(sage_sim)
    sage_faults(sage_sim)
    remap_airfare(denver)
    make_past(denver, DENVER)

    run(denver)

    only_one_in_sage(sage_sim)
    assert JournalEntry.objects.filter(report__report_id=DENVER, state=EntryState.POSTED).count() == 1
    no_unreadable_or_open(denver)


def test_3_the_database_refuses_a_second_open_entry_for_a_report(denver, sage_sim):
    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})
    run(denver)
    opened = JournalEntry.objects.get(report__report_id=DENVER, state=EntryState.OPEN)
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalEntry.objects.create(
            company=opened.company,
            report=opened.report,
            idempotency_key=opened.idempotency_key + "-other",
            fingerprint="x",
            state=EntryState.OPEN,
            posting_date=opened.posting_date,
            reference=opened.reference,
        )


def test_3_an_operator_cannot_replay_a_report_whose_outcome_is_open(denver, sage_sim):
    from sync.services import replay

    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})
    run(denver)
    sage_faults(sage_sim)
    remap_airfare(denver)

    assert replay(company=denver, actor="admin:x", report_ids=[DENVER]) is None
    assert reference_counts(sage_sim) == {}
    assert states(denver)[DENVER] == ReportState.UNKNOWN


def test_3_a_posting_date_crossing_midnight_does_not_change_the_open_key(denver, sage_sim, time_machine):
    Company.objects.filter(pk=denver.pk).update(posting_date_rule="exported")
    one_try_per_run(denver)
    sage_faults(
        sage_sim, {"fault": "answer_after", "status": 502, "body": "empty", "times": None}, UNREADABLE_LOOKUPS
    )
    run(denver)
    opened = JournalEntry.objects.get(report__report_id=DENVER, state=EntryState.OPEN)
    sage_faults(sage_sim)
    time_machine.move_to(timezone.now() + timedelta(days=1))

    run(denver)

    only_one_in_sage(sage_sim)
    assert JournalEntry.objects.get(report__report_id=DENVER, state=EntryState.POSTED).pk == opened.pk


def test_11_a_late_answer_records_one_posted_row_per_entry(denver, sage_sim):
    sage_faults(sage_sim, {"fault": "timeout_before", "times": None})
    run(denver)
    report_row = ExpenseReport.objects.get(report_id=DENVER)
    entry = JournalEntry.objects.get(report=report_row, state=EntryState.OPEN)
    gateway = gateway_for(denver)
    sage_faults(sage_sim)
    try:
        result = gateway.post_entry(payload_of(entry), idempotency_key=entry.idempotency_key)
    finally:
        gateway.close()
    ExpenseReport.objects.filter(pk=report_row.pk).update(state=ReportState.POSTING, claimed_by="h")
    report_row.refresh_from_db()

    first = record_posted(
        report=report_row, entry=entry, result=result, actor="t", holder="h", via=PostedVia("a")
    )
    again = record_posted(
        report=report_row, entry=entry, result=result, actor="t", holder="h", via=PostedVia("b")
    )

    assert (first, again) == (True, False)
    assert len(audit(denver, "posted", DENVER)) == 1
    assert len(audit(denver, "expense_posted", DENVER)) == report_row.expenses.count()


# -- 4. posted when it must not be -------------------------------------------------------------------


def test_4_a_report_reopened_after_approval_is_withdrawn_not_posted(abc, expensify_sim, sage_sim):
    run(abc)
    assert states(abc)["R03OffS1te22"] == ReportState.NEEDS_MAPPING
    reopened = demo_reports()
    for item in reopened:
        if item["reportID"] == "R03OffS1te22":
            item["status"] = "Open"
    load_reports(expensify_sim, reopened)
    CategoryMapping.objects.create(company=abc, category="Team Offsite", account="6400-00-000")

    run(abc)

    assert states(abc)["R03OffS1te22"] == ReportState.WITHDRAWN
    assert "EXP R03OffS1te22" not in reference_counts(sage_sim)
    (row,) = audit(abc, "withdrawn", "R03OffS1te22")
    assert "no longer shows this report approved" in row.message

    # Approved again: seen again, and posted.
    load_reports(expensify_sim, demo_reports())
    run(abc)
    assert states(abc)["R03OffS1te22"] == ReportState.EXPORTED
    assert reference_counts(sage_sim)["EXP R03OffS1te22"] == 1


def test_4_only_confirmed_marks_are_recorded(denver, expensify_sim, sage_sim):
    exp_control(expensify_sim, "/_sim/config", {"unmarkable": [DENVER]})

    first = run(denver)

    assert states(denver)[DENVER] == ReportState.POSTED  # posted, not yet confirmed marked
    assert audit(denver, "marked_exported", DENVER) == []
    assert first.reports_exported == 0
    assert "not yet confirmed" in first.message
    exp_control(expensify_sim, "/_sim/config", {"unmarkable": []})
    run(denver)
    assert states(denver)[DENVER] == ReportState.EXPORTED
    assert len(audit(denver, "marked_exported", DENVER)) == 1
    assert marks(expensify_sim)[DENVER]
    only_one_in_sage(sage_sim)


def test_6_a_report_paid_before_the_run_is_exported_and_posted(abc, expensify_sim, sage_sim):
    paid = demo_reports(DENVER)
    paid[0]["status"] = "Reimbursed"
    load_reports(expensify_sim, paid)

    run(abc)

    assert states(abc)[DENVER] == ReportState.EXPORTED
    only_one_in_sage(sage_sim)


def test_6_archived_reports_only_where_the_company_opts_in(abc, expensify_sim, sage_sim):
    closed = demo_reports(DENVER)
    closed[0]["status"] = "Closed"
    load_reports(expensify_sim, closed)

    run(abc)
    assert states(abc) == {}
    Company.objects.filter(pk=abc.pk).update(include_archived=True)
    run(abc)
    assert states(abc)[DENVER] == ReportState.EXPORTED


# -- 5. one report, one ledger --------------------------------------------------------------------


def test_5_a_report_owned_by_another_company_arrives_held(abc, expensify_sim, sage_sim):
    other = Company.objects.create(
        name="Other",
        code="XYZ",
        account_mask="####-##-###",
        export_start_date=TODAY - timedelta(days=90),
        reimbursable_offset_account="2100-00-000",
        card_offset_account="2150-00-000",
    )
    ReportOwner.objects.create(report_id=DENVER, company=other)
    load_reports(expensify_sim, demo_reports(DENVER))

    run(abc)

    assert states(abc)[DENVER] == ReportState.CONFLICT
    assert "company XYZ" in ExpenseReport.objects.get(report_id=DENVER).last_error
    assert reference_counts(sage_sim) == {}
    assert mark_requests(expensify_sim) == []


def test_5_a_company_with_no_policy_exports_nothing(abc, expensify_sim, sage_sim):
    company = Company.objects.get(pk=abc.pk)
    company.policy_ids = []
    company.save()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    assert "no Expensify policy" in failed.message
    assert states(abc) == {}
    assert reference_counts(sage_sim) == {}
    assert marks(expensify_sim) == {}


def test_5b_an_entry_sage_already_holds_is_adopted_not_posted_again(denver, sage_sim):
    """A second installation (or a restored backup) posted it under another key."""
    run(denver, report_ids=["-"])  # fresh chart
    gateway = gateway_for(denver)
    try:
        from connector.sage100.types import JournalEntryPayload, JournalLinePayload

        lines = (
            JournalLinePayload("6100-01-000", 109895, 0),
            JournalLinePayload("6110-01-000", 4318, 0),
            JournalLinePayload("2100-00-000", 0, 114213),
        )
        payload = JournalEntryPayload("GJ", TODAY - timedelta(days=2), DENVER_REF, "elsewhere", lines)
        gateway.post_entry(payload, idempotency_key="another-installation-1")
    finally:
        gateway.close()

    run(denver)

    only_one_in_sage(sage_sim)
    assert states(denver)[DENVER] == ReportState.EXPORTED
    (row,) = audit(denver, "found_in_sage", DENVER)
    assert "found in Sage by reference" in row.message
    no_unreadable_or_open(denver)


def test_5b_an_entry_sage_holds_that_differs_is_flagged_never_posted(denver, sage_sim):
    run(denver, report_ids=["-"])
    gateway = gateway_for(denver)
    try:
        from connector.sage100.types import JournalEntryPayload, JournalLinePayload

        lines = (JournalLinePayload("6100-00-000", 100, 0), JournalLinePayload("2100-00-000", 0, 100))
        payload = JournalEntryPayload("GJ", TODAY - timedelta(days=2), DENVER_REF, "older build", lines)
        gateway.post_entry(payload, idempotency_key="restored-backup-lost-this")
    finally:
        gateway.close()

    run(denver)

    only_one_in_sage(sage_sim)
    report_row = ExpenseReport.objects.get(report_id=DENVER)
    assert report_row.state == ReportState.CHANGED
    assert "Sage already holds entry" in report_row.change_summary
    assert JournalEntry.objects.get(report=report_row, state=EntryState.POSTED).idempotency_key == (
        "restored-backup-lost-this"
    )
    no_unreadable_or_open(denver)


# -- 7. nothing left behind -----------------------------------------------------------------------


def test_7_no_export_start_date_fails_the_run_instead_of_looking_back_90_days(abc, expensify_sim, sage_sim):
    Company.objects.filter(pk=abc.pk).update(export_start_date=None)

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    assert "no export start date" in failed.message
    assert states(abc) == {}


def test_7_the_export_start_date_is_inclusive(abc, expensify_sim, sage_sim):
    day = TODAY - timedelta(days=100)
    load_reports(expensify_sim, [report("OLD1", [expense("T-OLD-1", 1000, day=day)], approved=day)])
    Company.objects.filter(pk=abc.pk).update(export_start_date=day)

    run(abc)

    assert states(abc) == {"OLD1": ReportState.EXPORTED}


def test_7b_a_look_back_over_a_year_exports_in_windows(abc, expensify_sim, sage_sim):
    old = TODAY - timedelta(days=500)
    load_reports(
        expensify_sim,
        [report("OLD2", [expense("T-OLD-2", 1200, day=old)], approved=old), *demo_reports(DENVER)],
    )

    result = run(abc, since=TODAY - timedelta(days=800))

    assert result.outcome != RunOutcome.FAILED, result.message
    assert states(abc)["OLD2"] in (ReportState.EXPORTED, ReportState.FAILED, ReportState.NEEDS_MAPPING)
    assert states(abc)[DENVER] == ReportState.EXPORTED


# -- 8. due retries ---------------------------------------------------------------------------------


def test_8_a_due_retry_runs_at_its_time_without_a_full_export(denver, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "unavailable", "ops": "post", "times": None})
    run(denver)
    assert states(denver)[DENVER] == ReportState.RETRY_WAIT
    sage_faults(sage_sim)
    exp_control(expensify_sim, "/_sim/reset", {})
    load_reports(expensify_sim, demo_reports(DENVER))
    assert "nothing due" in retry_due()  # not yet due
    make_past(denver, DENVER)

    summary = retry_due()

    assert "ABC" in summary
    assert states(denver)[DENVER] == ReportState.EXPORTED
    exports = [r for r in exp_control(expensify_sim, "/_sim/requests")["requests"] if r.get("type") == "file"]
    assert exports and all("reportIDList" in r["filters"] for r in exports)  # by report ID only
    assert SyncRun.objects.filter(trigger="retry").count() == 1


def test_8_the_retry_schedule_exists_once(db):
    from django_q.models import Schedule

    from sync.schedules import RETRY_SCHEDULE, ensure_all_schedules

    ensure_all_schedules()
    ensure_all_schedules()
    (schedule,) = Schedule.objects.filter(name=RETRY_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("sync.tasks.retry_due", "I", 1)


# -- 9b. one bad answer is transient ------------------------------------------------------------------


def test_9b_one_unreadable_read_degrades_the_company_and_does_not_stop_it(abc, expensify_sim, sage_sim):
    sage_faults(sage_sim, {"fault": "answer", "ops": "read", "status": 200, "body": "text", "times": 1})
    run(abc, report_ids=["-"])  # the chart refresh reads first

    company = Company.objects.get(pk=abc.pk)
    assert company.degraded_reason and company.blocked_reason == ""
    result = run(abc, trigger="schedule")
    assert result.outcome != RunOutcome.FAILED or "stopped" not in result.message
    assert Company.objects.get(pk=abc.pk).degraded_reason == ""


# -- 15. runs ---------------------------------------------------------------------------------------


def test_15_a_run_left_by_a_killed_worker_is_closed_as_interrupted(abc, expensify_sim, sage_sim):
    dead = SyncRun.objects.create(company=abc, trigger="schedule")
    assert leases.acquire("run:ABC", holder="dead-worker", seconds=600)
    assert leases.renew("run:ABC", holder="dead-worker", seconds=0.001)  # then it expires
    time.sleep(0.01)

    run(abc)

    dead.refresh_from_db()
    assert dead.outcome == RunOutcome.INTERRUPTED
    assert dead.finished_at is not None
    assert audit(abc, "run_interrupted")


def test_15_a_skipped_run_writes_no_row_and_is_not_a_failure(abc, expensify_sim, sage_sim, capsys):
    assert leases.acquire("run:ABC", holder="other-worker", seconds=600)
    runs, events = SyncRun.objects.count(), len(audit(abc, "run_started"))

    call_command("sync", company=["ABC"])  # exits 0

    assert "Skipped" in capsys.readouterr().out
    assert SyncRun.objects.count() == runs
    assert len(audit(abc, "run_started")) == events


# -- reconcile sees every breach ------------------------------------------------------------------


def test_reconcile_reports_duplicates_strays_missing_and_different_lines(abc, expensify_sim, sage_sim):
    run(abc)
    assert reconcile_clean(abc)
    posted = JournalEntry.objects.filter(company=abc, state=EntryState.POSTED).order_by("id")
    twice, different, missing = posted[0], posted[1], posted[2]
    gateway = gateway_for(abc)
    try:
        # Sage holds one report twice, and an entry with our prefix the ledger never made.
        gateway.post_entry(payload_of(twice), idempotency_key="typed-by-hand-again")
        stray = payload_of(twice)
        from dataclasses import replace

        gateway.post_entry(replace(stray, reference="EXP NOBODY-KNOWS"), idempotency_key="stray-1")
    finally:
        gateway.close()
    JournalEntry.objects.filter(pk=different.pk).update(sage_entry_no="999999")
    JournalEntry.objects.filter(pk=missing.pk).update(reference="EXP GONE")

    rows = {(r.reference, r.status) for r in reconcile(company=Company.objects.get(pk=abc.pk))}

    assert (twice.reference, "duplicated") in rows
    assert ("EXP NOBODY-KNOWS", "unknown to the connector") in rows
    assert (different.reference, "different") in rows
    assert ("EXP GONE", "missing") in rows
    with pytest.raises(Exception, match="difference"):
        call_command("reconcile", company="ABC")


def test_reconcile_sees_different_lines(abc, expensify_sim, sage_sim):
    run(abc)
    entry = JournalEntry.objects.filter(company=abc, state=EntryState.POSTED).first()
    line = entry.lines.filter(debit_cents__gt=0).first()
    line.account = "6999-00-000"
    line.save()

    (row,) = [r for r in reconcile(company=Company.objects.get(pk=abc.pk)) if r.reference == entry.reference]
    assert row.status == "different"


def test_sage_entries_helper_lists_what_sage_holds(denver, sage_sim):
    run(denver)
    assert [e["reference"] for e in sage_entries(sage_sim)] == [DENVER_REF]
    assert date.fromisoformat(sage_entries(sage_sim)[0]["postingDate"]) <= TODAY
