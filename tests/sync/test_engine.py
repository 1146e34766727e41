"""End to end: the sync engine over loopback HTTP with both simulators and both Sage transports.

Each test asserts the end state: report states, our journal entries and lines, the entries Sage
holds per reference, the marks in Expensify and the audit trail.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from connector.models import Company, GLAccount
from mappings.models import CategoryMapping
from sync.models import (
    EntryState,
    Expense,
    ExpenseReport,
    JournalEntry,
    JournalLine,
    ReportState,
    RunOutcome,
    SyncRun,
)
from sync.services import replay
from tests.sync.conftest import (
    LABEL,
    TODAY,
    audit,
    demo_reports,
    expense,
    lines_of,
    load_reports,
    mark_requests,
    marks,
    reference_counts,
    report,
    run,
    sage_entries,
    sage_faults,
    sage_lines,
    states,
    with_amount,
)

POSTED_IDS = ["R00X9oNOn2MO", "83647", "R01Lisb0aUd1", "R02PhX3nIxQ7"]
ONE_EACH = {f"EXP {report_id}": 1 for report_id in POSTED_IDS}


# -- 1. the demo data -------------------------------------------------------------------------------


def test_demo_run_posts_the_four_good_reports_once_each(abc, expensify_sim, sage_sim):
    sync_run = run(abc)

    assert states(abc) == {
        "R00X9oNOn2MO": ReportState.EXPORTED,
        "83647": ReportState.EXPORTED,
        "R01Lisb0aUd1": ReportState.EXPORTED,
        "R02PhX3nIxQ7": ReportState.EXPORTED,
        "R03OffS1te22": ReportState.NEEDS_MAPPING,
        "R04G1fts0Nov": ReportState.FAILED,
    }
    assert reference_counts(sage_sim) == ONE_EACH
    assert marks(expensify_sim) == {report_id: [LABEL] for report_id in POSTED_IDS}
    assert (sync_run.outcome, sync_run.message) == (RunOutcome.PARTIAL, "")
    assert (
        sync_run.reports_seen,
        sync_run.reports_posted,
        sync_run.reports_exported,
        sync_run.reports_failed,
        sync_run.reports_needing_mapping,
        sync_run.reports_retrying,
        sync_run.reports_changed,
    ) == (6, 4, 4, 1, 1, 0, 0)
    assert sync_run.finished_at is not None


def test_demo_entries_have_the_right_lines_here_and_in_sage(abc, sage_sim):
    run(abc)

    denver = {("6100-01-000", 109895, 0), ("6110-01-000", 4318, 0), ("2100-00-000", 0, 114213)}
    assert lines_of(abc, "R00X9oNOn2MO") == denver
    assert sage_lines(sage_sim, "EXP R00X9oNOn2MO") == [
        {
            ("6100-01-000", "1098.95", "0.00"),
            ("6110-01-000", "43.18", "0.00"),
            ("2100-00-000", "0.00", "1142.13"),
        }
    ]
    # The conference fee and its refund net to zero on 6100-02-000: only the Lyft ride is left.
    assert lines_of(abc, "83647") == {("6100-02-000", 2745, 0), ("2100-00-000", 0, 2745)}
    # Converted EUR amounts; the card expense credits the card clearing account.
    assert lines_of(abc, "R01Lisb0aUd1") == {
        ("6100-00-000", 158092, 0),
        ("6110-00-000", 9394, 0),
        ("2100-00-000", 0, 55006),
        ("2150-00-000", 0, 112480),
    }
    assert lines_of(abc, "R02PhX3nIxQ7") == {
        ("6200-02-000", 15633, 0),
        ("6400-02-000", 4020, 0),
        ("2100-00-000", 0, 4020),
        ("2150-00-000", 0, 15633),
    }
    entry = JournalEntry.objects.get(report__report_id="R00X9oNOn2MO")
    (in_sage,) = [e for e in sage_entries(sage_sim) if e["reference"] == "EXP R00X9oNOn2MO"]
    assert entry.sage_entry_no == in_sage["entryNo"]
    assert entry.sage_batch_no == in_sage["batchNo"]
    assert in_sage["idempotencyKey"] == entry.idempotency_key
    assert in_sage["postingDate"] == (TODAY - timedelta(days=6)).isoformat()  # the approval date
    assert entry.posting_date == TODAY - timedelta(days=6)


def test_demo_audit_has_one_row_per_posted_expense(abc):
    run(abc)

    rows = audit(abc, "expense_posted", "R00X9oNOn2MO")
    entry_no = JournalEntry.objects.get(report__report_id="R00X9oNOn2MO").sage_entry_no
    assert [
        (
            r.transaction_ref,
            r.report_ref,
            r.employee_email,
            r.amount_cents,
            r.currency,
            r.account,
            r.sage_entry_no,
        )
        for r in rows
    ] == [
        ("8832110001", "R00X9oNOn2MO", "maria.gonzalez@acmefield.com", 48620, "USD", "6100-01-000", entry_no),
        ("8832110002", "R00X9oNOn2MO", "maria.gonzalez@acmefield.com", 61275, "USD", "6100-01-000", entry_no),
        ("8832110003", "R00X9oNOn2MO", "maria.gonzalez@acmefield.com", 4318, "USD", "6110-01-000", entry_no),
    ]
    assert all(r.expense is not None and r.detail["category"] for r in rows)
    assert rows[0].detail["tag"] == "Field Ops:Denver Rollout"
    # Every expense of every posted report is in the trail, with its Sage entry number.
    posted_expenses = Expense.objects.filter(report__report_id__in=POSTED_IDS)
    trail = AuditEvent.objects.filter(action="expense_posted").exclude(sage_entry_no="")
    assert sorted(trail.values_list("transaction_ref", flat=True)) == sorted(
        posted_expenses.values_list("transaction_id", flat=True)
    )
    eur = AuditEvent.objects.get(action="expense_posted", transaction_ref="8832130001")
    assert (eur.amount_cents, eur.currency, eur.detail["original_currency"]) == (45612, "USD", "EUR")
    assert len(audit(abc, "marked_exported")) == 4


def test_demo_problems_are_named(abc):
    run(abc)

    offsite = ExpenseReport.objects.get(report_id="R03OffS1te22")
    assert "Team Offsite" in offsite.last_error
    assert "8832150001" in offsite.last_error
    gifts = ExpenseReport.objects.get(report_id="R04G1fts0Nov")
    assert "6900-00-000" in gifts.last_error
    assert "inactive" in gifts.last_error
    assert not JournalEntry.objects.filter(report__in=[offsite, gifts]).exists()
    assert [e.message for e in audit(abc, "needs_mapping")] == [offsite.last_error]
    assert [e.message for e in audit(abc, "failed")] == [gifts.last_error]


def test_second_run_posts_and_marks_nothing_new(abc, expensify_sim, sage_sim):
    run(abc)
    entries_before = JournalEntry.objects.count()

    second = run(abc)

    assert reference_counts(sage_sim) == ONE_EACH
    assert sorted(mark_requests(expensify_sim)) == sorted(POSTED_IDS)  # one mark request each, ever
    assert marks(expensify_sim) == {report_id: [LABEL] for report_id in POSTED_IDS}
    assert JournalEntry.objects.count() == entries_before
    assert (second.reports_seen, second.reports_posted, second.reports_exported) == (2, 0, 0)
    assert (second.reports_needing_mapping, second.reports_failed) == (1, 0)
    assert len(audit(abc, "posted")) == 4
    assert len(audit(abc, "needs_mapping")) == 1  # the same problem is not audited twice
    assert states(abc)["R04G1fts0Nov"] == ReportState.FAILED


# -- 2. replay after fixing a mapping ------------------------------------------------------------------


def fix_gifts(company: Company) -> None:
    CategoryMapping.objects.filter(company=company, category="Client Gifts").update(account="6500-00-000")


def assert_gifts_posted_once(company, expensify_sim, sage_sim):
    assert states(company)["R04G1fts0Nov"] == ReportState.EXPORTED
    assert lines_of(company, "R04G1fts0Nov") == {("6500-00-000", 31450, 0), ("2100-00-000", 0, 31450)}
    assert reference_counts(sage_sim)["EXP R04G1fts0Nov"] == 1
    assert mark_requests(expensify_sim).count("R04G1fts0Nov") == 1
    assert marks(expensify_sim)["R04G1fts0Nov"] == [LABEL]
    (row,) = audit(company, "expense_posted", "R04G1fts0Nov")
    assert (row.account, row.amount_cents, row.transaction_ref) == ("6500-00-000", 31450, "8832160001")


def test_replay_service_posts_the_fixed_report_once(abc, expensify_sim, sage_sim):
    run(abc)
    fix_gifts(abc)

    replayed = replay(company=abc, actor="admin:controller", report_ids=["R04G1fts0Nov"])

    assert replayed.outcome == RunOutcome.SUCCESS
    assert (replayed.reports_posted, replayed.reports_exported) == (1, 1)
    assert_gifts_posted_once(abc, expensify_sim, sage_sim)
    assert audit(abc, "replay_requested", "R04G1fts0Nov")[0].actor == "admin:controller"
    assert reference_counts(sage_sim) == {**ONE_EACH, "EXP R04G1fts0Nov": 1}
    # A second replay finds nothing to do (the report is exported, no longer replayable): no run.
    runs_before = SyncRun.objects.count()
    again = replay(company=abc, actor="admin:controller", report_ids=["R04G1fts0Nov"])
    assert again is None
    assert SyncRun.objects.count() == runs_before
    assert reference_counts(sage_sim)["EXP R04G1fts0Nov"] == 1


def test_replay_command_posts_the_fixed_report_once(abc, expensify_sim, sage_sim, capsys):
    run(abc)
    fix_gifts(abc)

    call_command("replay", company="ABC", report=["R04G1fts0Nov"])

    assert "ABC report R04G1fts0Nov: exported" in capsys.readouterr().out
    assert_gifts_posted_once(abc, expensify_sim, sage_sim)


def test_replay_command_fails_while_the_mapping_is_still_wrong(abc, sage_sim):
    run(abc)

    with pytest.raises(CommandError):
        call_command("replay", company="ABC", report=["R04G1fts0Nov"])

    assert states(abc)["R04G1fts0Nov"] == ReportState.FAILED
    assert "EXP R04G1fts0Nov" not in reference_counts(sage_sim)


def test_needs_mapping_report_posts_on_the_next_run_once_mapped(abc, expensify_sim, sage_sim):
    run(abc)
    CategoryMapping.objects.create(company=abc, category="Team Offsite", account="6110-00-000")

    second = run(abc)

    assert second.reports_posted == 1
    assert states(abc)["R03OffS1te22"] == ReportState.EXPORTED
    # Sales → department 00; one card expense and one reimbursable one.
    assert lines_of(abc, "R03OffS1te22") == {
        ("6110-00-000", 235000 + 18764, 0),
        ("2150-00-000", 0, 235000),
        ("2100-00-000", 0, 18764),
    }
    assert reference_counts(sage_sim)["EXP R03OffS1te22"] == 1
    assert mark_requests(expensify_sim).count("R03OffS1te22") == 1


# -- 3. closed periods ---------------------------------------------------------------------------------

MARCH = date(2026, 3, 16)  # the demo chart closes 2026-01 .. 2026-06


def load_march_report(expensify_sim) -> None:
    load_reports(
        expensify_sim,
        [
            report(
                "RMAR2026CLSD", [expense("9000000001", 12540, day=MARCH - timedelta(days=3))], approved=MARCH
            )
        ],
    )


def test_closed_period_fails_the_report_when_the_company_says_fail(abc, expensify_sim, sage_sim):
    Company.objects.filter(pk=abc.pk).update(closed_period_rule="fail", export_start_date=date(2026, 1, 1))
    load_march_report(expensify_sim)

    run(abc)

    closed = ExpenseReport.objects.get(report_id="RMAR2026CLSD")
    assert closed.state == ReportState.FAILED
    assert "period closed" in closed.last_error
    assert "2026-03-16" in closed.last_error
    assert reference_counts(sage_sim) == {}
    assert marks(expensify_sim) == {}


def test_closed_period_moves_to_the_next_open_period_and_says_so(abc, expensify_sim, sage_sim):
    Company.objects.filter(pk=abc.pk).update(
        closed_period_rule="next_open", export_start_date=date(2026, 1, 1)
    )
    load_march_report(expensify_sim)

    run(abc)

    assert states(abc) == {"RMAR2026CLSD": ReportState.EXPORTED}
    entry = JournalEntry.objects.get(report__report_id="RMAR2026CLSD")
    assert entry.posting_date == date(2026, 7, 1)
    (in_sage,) = sage_entries(sage_sim)
    assert in_sage["postingDate"] == "2026-07-01"
    (note,) = audit(abc, "note", "RMAR2026CLSD")
    assert "2026-03-16" in note.message
    assert "2026-07-01" in note.message
    assert "posted" in audit(abc, "posted", "RMAR2026CLSD")[0].message


# -- 4. inactive or missing accounts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "words"),
    [("6900-00-000", "inactive"), ("6800-00-000", "not in the Sage chart")],
)
def test_unusable_account_fails_until_the_mapping_is_fixed(abc, expensify_sim, sage_sim, account, words):
    lodging = expense("9000000011", 5000, category="Lodging", tag="Sales:General")  # department 00
    load_reports(expensify_sim, [report("RACCT0000001", [lodging])])
    CategoryMapping.objects.filter(company=abc, category="Lodging").update(account=account)

    run(abc)

    failed = ExpenseReport.objects.get(report_id="RACCT0000001")
    assert failed.state == ReportState.FAILED
    assert account in failed.last_error
    assert words in failed.last_error
    assert reference_counts(sage_sim) == {}

    CategoryMapping.objects.filter(company=abc, category="Lodging").update(account="6100-00-000")
    replay(company=abc, actor="test", report_ids=["RACCT0000001"])

    assert states(abc) == {"RACCT0000001": ReportState.EXPORTED}
    assert lines_of(abc, "RACCT0000001") == {("6100-00-000", 5000, 0), ("2100-00-000", 0, 5000)}
    assert reference_counts(sage_sim) == {"EXP RACCT0000001": 1}


def test_account_inactive_in_sage_but_active_in_our_cache_fails_with_sages_reason(
    abc, expensify_sim, sage_sim
):
    load_reports(expensify_sim, [report("RSTALE000001", [expense("9000000021", 7000, category="Lodging")])])
    run(abc, report_ids=["-"])  # refreshes the chart, posts nothing
    for account in sage_sim.book.companies["ABC"].accounts:
        if account["account"] == "6100-01-000":
            account["status"] = "I"  # retired in Sage after our chart was cached

    run(abc)

    stale = ExpenseReport.objects.get(report_id="RSTALE000001")
    assert stale.state == ReportState.FAILED
    assert "inactive" in stale.last_error
    assert audit(abc, "post_failed", "RSTALE000001")[0].detail["code"] == "ACCOUNT_INACTIVE"
    assert reference_counts(sage_sim) == {}

    # Fix: a refreshed chart and a mapping to a live account; the replay posts once.
    GLAccount.objects.filter(company=abc, account="6100-01-000").update(status="I")
    CategoryMapping.objects.filter(company=abc, category="Lodging").update(account="6110-00-000")
    replay(company=abc, actor="test", report_ids=["RSTALE000001"])

    assert states(abc) == {"RSTALE000001": ReportState.EXPORTED}
    assert lines_of(abc, "RSTALE000001") == {("6110-01-000", 7000, 0), ("2100-00-000", 0, 7000)}
    assert reference_counts(sage_sim) == {"EXP RSTALE000001": 1}
    superseded = JournalEntry.objects.filter(report=stale).exclude(state=EntryState.POSTED)
    assert superseded.count() == 1


# -- 5. changed after posting --------------------------------------------------------------------------


def test_report_changed_after_posting_is_flagged_not_reposted(abc, expensify_sim, sage_sim):
    run(abc)
    # Reopened and edited in Expensify: the hotel now costs 650.00, and our mark is gone.
    edited = with_amount(demo_reports(), "R00X9oNOn2MO", "8832110002", 65000)
    load_reports(expensify_sim, edited, marks={})

    second = run(abc)

    changed = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    assert changed.state == ReportState.CHANGED
    assert "1,142.13" in changed.change_summary
    assert "1,179.38" in changed.change_summary
    assert "8832110002" in changed.change_summary
    assert second.reports_changed == 1
    assert second.reports_posted == 0
    assert reference_counts(sage_sim) == ONE_EACH
    assert lines_of(abc, "R00X9oNOn2MO") == {
        ("6100-01-000", 109895, 0),
        ("6110-01-000", 4318, 0),
        ("2100-00-000", 0, 114213),
    }
    assert mark_requests(expensify_sim).count("R00X9oNOn2MO") == 1
    (event,) = audit(abc, "changed_after_posting", "R00X9oNOn2MO")
    assert event.message == changed.change_summary
    # The other reports, visible again but unchanged, stay exported and are not posted again.
    assert {k: v for k, v in states(abc).items() if k in POSTED_IDS[1:]} == {
        k: ReportState.EXPORTED for k in POSTED_IDS[1:]
    }

    third = run(abc)
    assert third.reports_posted == 0
    assert reference_counts(sage_sim) == ONE_EACH
    assert states(abc)["R00X9oNOn2MO"] == ReportState.CHANGED
    # Flagged once: the same revision seen again is not flagged or audited again.
    assert third.reports_changed == 0
    assert len(audit(abc, "changed_after_posting", "R00X9oNOn2MO")) == 1


@pytest.mark.parametrize("transport", ["agent"])
def test_accepted_change_is_not_flagged_again(abc, expensify_sim, sage_sim, admin_client):
    run(abc)
    edited = with_amount(demo_reports(), "R00X9oNOn2MO", "8832110002", 65000)
    load_reports(expensify_sim, edited, marks={})
    run(abc)
    report = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    admin_client.post(
        "/admin/sync/expensereport/", {"action": "accept_change", "_selected_action": [report.pk]}
    )
    assert states(abc)["R00X9oNOn2MO"] == ReportState.EXPORTED

    later = run(abc)

    assert later.reports_changed == 0
    assert states(abc)["R00X9oNOn2MO"] == ReportState.EXPORTED
    assert reference_counts(sage_sim) == ONE_EACH
    # A further edit is a new revision: flagged again.
    load_reports(expensify_sim, with_amount(edited, "R00X9oNOn2MO", "8832110003", 5000), marks={})
    assert run(abc).reports_changed == 1


# -- 6. credentials ------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["agent"])
def test_wrong_expensify_secret_stops_the_company(abc, expensify_sim, sage_sim):
    abc.expensify.partner_user_secret = "not-the-secret"
    abc.expensify.save()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    reason = Company.objects.get(pk=abc.pk).blocked_reason
    assert reason == failed.message
    assert "partner" in reason
    assert "\n" not in reason
    assert reason.endswith(".")
    assert reason.rstrip(".").count(". ") == 0  # one plain sentence
    assert "not-the-secret" not in reason
    assert not ExpenseReport.objects.exists()
    assert not JournalEntry.objects.exists()
    assert reference_counts(sage_sim) == {}
    assert audit(abc, "company_stopped")[0].message == reason


def test_wrong_sage_password_stops_the_company_and_keeps_reports_ready(abc, expensify_sim, sage_sim):
    abc.sage.sage_password = "wrong-password-Zz1"
    abc.sage.save()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    reason = Company.objects.get(pk=abc.pk).blocked_reason
    assert "Sage 100 refused the username or password" in reason
    assert "wrong-password-Zz1" not in reason
    assert "\n" not in reason
    assert set(states(abc).values()) <= {ReportState.NEW, ReportState.READY}
    assert len(states(abc)) == 6
    assert reference_counts(sage_sim) == {}
    assert marks(expensify_sim) == {}


def test_wrong_sage_password_found_at_the_first_post_keeps_that_report_ready(abc, expensify_sim, sage_sim):
    load_reports(expensify_sim, demo_reports("R00X9oNOn2MO"))
    run(abc, report_ids=["-"])  # the chart is fresh from here on
    sage_faults(sage_sim, {"fault": "auth", "ops": "post", "times": None})

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    assert "Sage 100 refused" in Company.objects.get(pk=abc.pk).blocked_reason
    assert states(abc) == {"R00X9oNOn2MO": ReportState.READY}
    assert audit(abc, "post_failed") == []
    assert reference_counts(sage_sim) == {}


def test_a_sage_user_without_posting_rights_stops_the_company_at_the_first_post(abc, expensify_sim, sage_sim):
    from simulators.sage100.demo import DEMO_READONLY_PASSWORD, DEMO_READONLY_USERNAME

    load_reports(expensify_sim, demo_reports("R00X9oNOn2MO", "83647"))
    connection = Company.objects.get(pk=abc.pk).sage
    connection.sage_username = DEMO_READONLY_USERNAME
    connection.sage_password = DEMO_READONLY_PASSWORD
    connection.save()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    assert "lacks General Ledger rights" in Company.objects.get(pk=abc.pk).blocked_reason
    # The report claimed ahead of a free thread went back as it was: ready, its entry closed unsent.
    assert set(states(abc).values()) <= {ReportState.NEW, ReportState.READY}
    assert not JournalEntry.objects.filter(report__company=abc, state=EntryState.OPEN).exists()
    assert GLAccount.objects.filter(company=abc).exists()  # reads were allowed
    assert reference_counts(sage_sim) == {}
    assert marks(expensify_sim) == {}


def test_a_command_run_after_the_fix_clears_the_block_and_posts(abc, expensify_sim, sage_sim):
    abc.sage.sage_password = "wrong-password-Zz1"
    abc.sage.save()
    run(abc)
    from sync.tasks import sync_company

    # A scheduled run does not even try while the company is stopped.
    assert "runs stopped until fixed" in sync_company(abc.pk)
    assert reference_counts(sage_sim) == {}

    from simulators.sage100.demo import DEMO_PASSWORD

    connection = Company.objects.get(pk=abc.pk).sage
    connection.sage_password = DEMO_PASSWORD
    connection.save()
    with pytest.raises(CommandError):  # R03 and R04 still need a person: a non-zero exit
        call_command("sync", company=["ABC"])

    assert Company.objects.get(pk=abc.pk).blocked_reason == ""
    assert reference_counts(sage_sim) == ONE_EACH
    assert audit(abc, "company_resumed")


def test_a_wrong_sage_url_is_a_configuration_error_that_stops_after_three_runs(
    abc, expensify_sim, sage_sim, transport
):
    connection = Company.objects.get(pk=abc.pk).sage
    connection.base_url = sage_sim.base_url + ("/nothing-here" if transport == "agent" else "/wrong.svc")
    connection.save()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    company = Company.objects.get(pk=abc.pk)
    assert "configuration error" in failed.message and "wrong" in failed.message
    assert "wrong" in company.degraded_reason
    assert company.blocked_reason == ""  # one bad answer is not yet a stop
    assert (company.failure_streak, set(states(abc).values())) == (1, {ReportState.NEW})
    run(abc)
    run(abc)
    company = Company.objects.get(pk=abc.pk)
    assert company.failure_streak == 3
    assert company.blocked_reason.startswith("stopped after 3 runs in a row failed the same way")
    assert reference_counts(sage_sim) == {}


def test_sage_out_of_reach_fails_the_run_without_stopping_the_company(
    abc, expensify_sim, sage_sim, transport
):
    connection = Company.objects.get(pk=abc.pk).sage
    connection.base_url = "http://127.0.0.1:9" + (
        "" if transport == "agent" else "/ebusinesswebservices/masservice.svc"
    )
    connection.save()

    failed = run(abc)

    assert failed.outcome == RunOutcome.FAILED
    assert "Sage 100 unavailable" in failed.message
    assert Company.objects.get(pk=abc.pk).blocked_reason == ""  # a schedule keeps trying
    assert set(states(abc).values()) == {ReportState.NEW}
    assert audit(abc, "sage_unavailable")
    assert marks(expensify_sim) == {}


# -- more report lifecycles ----------------------------------------------------------------------------


def test_a_report_that_nets_to_zero_posts_nothing_but_is_marked_and_audited(abc, expensify_sim, sage_sim):
    fee = expense("9000000031", 50000, category="Conference Fees", merchant="Summit")
    refund = expense("9000000032", -50000, category="Conference Fees", merchant="Summit (refund)")
    load_reports(expensify_sim, [report("RZERO0000001", [fee, refund])])

    sync_run = run(abc)

    assert sync_run.outcome == RunOutcome.SUCCESS
    assert states(abc) == {"RZERO0000001": ReportState.EXPORTED}
    assert reference_counts(sage_sim) == {}
    assert not JournalEntry.objects.filter(state=EntryState.POSTED).exists()
    assert marks(expensify_sim) == {"RZERO0000001": [LABEL]}
    rows = audit(abc, "expense_not_posted", "RZERO0000001")
    assert [(r.transaction_ref, r.amount_cents, r.account) for r in rows] == [
        ("9000000031", 50000, "6100-01-000"),
        ("9000000032", -50000, "6100-01-000"),
    ]
    assert len(audit(abc, "nothing_to_post", "RZERO0000001")) == 1


def test_a_report_edited_before_it_posted_posts_its_new_revision(abc, expensify_sim, sage_sim):
    run(abc)
    assert states(abc)["R03OffS1te22"] == ReportState.NEEDS_MAPPING
    # The employee recategorises the offsite and trims the groceries; it is approved again.
    edited = with_amount(demo_reports(), "R03OffS1te22", "8832150002", 15000)
    for item in edited:
        if item["reportID"] == "R03OffS1te22":
            item["transactionList"][0]["category"] = "Meals & Entertainment"
    load_reports(expensify_sim, edited)

    second = run(abc)

    assert second.reports_posted == 1
    assert states(abc)["R03OffS1te22"] == ReportState.EXPORTED
    assert lines_of(abc, "R03OffS1te22") == {
        ("6110-00-000", 235000 + 15000, 0),
        ("2150-00-000", 0, 235000),
        ("2100-00-000", 0, 15000),
    }
    assert len(audit(abc, "revised", "R03OffS1te22")) == 1
    assert reference_counts(sage_sim)["EXP R03OffS1te22"] == 1
    assert ExpenseReport.objects.get(report_id="R03OffS1te22").total_cents == 250000


def test_replay_command_with_failed_takes_every_failed_and_unmapped_report(abc, expensify_sim, sage_sim):
    run(abc)
    fix_gifts(abc)
    CategoryMapping.objects.create(company=abc, category="Team Offsite", account="6110-00-000")

    call_command("replay", "--failed", company="ABC")

    assert set(states(abc).values()) == {ReportState.EXPORTED}
    assert reference_counts(sage_sim) == {**ONE_EACH, "EXP R04G1fts0Nov": 1, "EXP R03OffS1te22": 1}
    assert sorted(mark_requests(expensify_sim)) == sorted([*POSTED_IDS, "R03OffS1te22", "R04G1fts0Nov"])


def test_detail_shape_posts_one_line_per_expense(abc, expensify_sim, sage_sim):
    Company.objects.filter(pk=abc.pk).update(entry_shape="detail")
    load_reports(expensify_sim, demo_reports("R00X9oNOn2MO"))

    run(abc)

    entry = JournalEntry.objects.get(report__report_id="R00X9oNOn2MO")
    debits = [(line.account, line.debit_cents) for line in entry.lines.filter(debit_cents__gt=0)]
    assert sorted(debits) == [("6100-01-000", 48620), ("6100-01-000", 61275), ("6110-01-000", 4318)]
    assert any("8832110002" in line.comment for line in entry.lines.all())
    (in_sage,) = sage_entries(sage_sim)
    assert len(in_sage["lines"]) == 4


def test_a_report_with_unusable_data_fails_once_and_the_run_says_so(abc, expensify_sim, sage_sim):
    unusable = report("RBAD00000001", [expense("9000000041", 1000)])
    unusable["currency"] = ""
    load_reports(expensify_sim, [unusable, report("RGOOD0000001", [expense("9000000042", 1000)])])

    first = run(abc)

    assert states(abc) == {"RBAD00000001": ReportState.FAILED, "RGOOD0000001": ReportState.EXPORTED}
    assert "currency" in ExpenseReport.objects.get(report_id="RBAD00000001").last_error
    assert (first.outcome, first.reports_failed) == (RunOutcome.PARTIAL, 1)
    assert reference_counts(sage_sim) == {"EXP RGOOD0000001": 1}
    second = run(abc)
    assert second.reports_failed == 0  # failed before; nothing new went wrong
    assert len(audit(abc, "rejected", "RBAD00000001")) == 1

    # Fixed in Expensify: the next run posts it.
    unusable["currency"] = "USD"
    load_reports(expensify_sim, [unusable])
    run(abc)
    assert states(abc)["RBAD00000001"] == ReportState.EXPORTED
    assert reference_counts(sage_sim) == {"EXP RGOOD0000001": 1, "EXP RBAD00000001": 1}


# -- 11. money stays integer ---------------------------------------------------------------------------


def test_amounts_are_integers_in_the_database_and_exact_strings_in_sage(abc, sage_sim):
    CategoryMapping.objects.create(company=abc, category="Team Offsite", account="6110-00-000")
    run(abc)

    values = [
        *Expense.objects.values_list("amount_cents", "original_amount_cents"),
        *ExpenseReport.objects.values_list("total_cents", "total_cents"),
        *JournalLine.objects.values_list("debit_cents", "credit_cents"),
        *AuditEvent.objects.exclude(amount_cents=None).values_list("amount_cents", "amount_cents"),
    ]
    assert values
    assert all(type(v) is int for pair in values for v in pair)
    for entry in sage_entries(sage_sim):
        for line in entry["lines"]:
            for side in (line["debit"], line["credit"]):
                assert isinstance(side, str)
                whole, dot, cents = side.partition(".")
                assert whole.isdigit() and dot == "." and len(cents) == 2 and cents.isdigit()
    debits = sum(JournalLine.objects.values_list("debit_cents", flat=True))
    credits = sum(JournalLine.objects.values_list("credit_cents", flat=True))
    assert debits == credits
