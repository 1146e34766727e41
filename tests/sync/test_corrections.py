"""Changed after posting → Post correction: an adjusting entry for the difference, exactly once."""

from __future__ import annotations

from collections import defaultdict

import pytest

from audit.models import AuditEvent
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState
from sync.services import reconcile
from sync.services.corrections import CorrectionRefused, correction_reference, difference, post_correction
from tests.sync.conftest import (
    demo_reports,
    load_reports,
    reference_counts,
    run,
    sage_entries,
    sage_faults,
    states,
    with_amount,
)

DENVER = "R00X9oNOn2MO"


@pytest.fixture
def changed(abc, expensify_sim, sage_sim):
    """Denver posted and marked, then reopened in Expensify and approved again 100.00 dearer."""
    reports = demo_reports(DENVER)
    load_reports(expensify_sim, reports)
    run(abc)
    first = reports[0]["transactionList"][0]
    edited = with_amount(reports, DENVER, first["transactionID"], first["amount"] + 10000)
    load_reports(expensify_sim, edited, marks={})  # reopening cleared our mark
    run(abc)
    assert states(abc)[DENVER] == ReportState.CHANGED
    return ExpenseReport.objects.get(report_id=DENVER)


def net_by_account(entries) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for entry in entries:
        for line in entry["lines"]:
            cents = round(float(line["debit"]) * 100) - round(float(line["credit"]) * 100)
            net[line["account"]] += cents
    return {account: amount for account, amount in net.items() if amount}


def test_a_correction_posts_the_difference_once(changed, sage_sim):
    new_state = post_correction(report=changed, actor="admin:controller", reason="reapproved with a fee")

    assert new_state == ReportState.POSTED
    counts = reference_counts(sage_sim)
    assert counts == {f"EXP {DENVER}": 1, f"EXP {DENVER}/C1": 1}
    correction = JournalEntry.objects.get(report=changed, correction_no=1)
    assert correction.state == EntryState.POSTED and correction.reference == f"EXP {DENVER}/C1"
    assert sorted((x.account, x.debit_cents, x.credit_cents) for x in correction.lines.all()) == [
        ("2100-00-000", 0, 10000),
        ("6100-01-000", 10000, 0),
    ]
    (row,) = AuditEvent.objects.filter(report=changed, action="correction_posted")
    assert row.sage_entry_no == correction.sage_entry_no
    assert (
        "reapproved with a fee"
        in AuditEvent.objects.get(report=changed, action="correction_requested").message
    )
    # Sage now holds, per account, what Expensify's latest revision says.
    latest = net_by_account(sage_entries(sage_sim))
    assert latest["6100-01-000"] == 109895 + 10000 and latest["2100-00-000"] == -(114213 + 10000)
    assert [r for r in reconcile(company=changed.company) if not r.ok] == []


def test_the_next_run_marks_it_and_does_not_flag_it_again(changed, abc, sage_sim):
    post_correction(report=changed, actor="admin:controller", reason="fee")

    run(abc)

    assert states(abc)[DENVER] == ReportState.EXPORTED
    assert reference_counts(sage_sim) == {f"EXP {DENVER}": 1, f"EXP {DENVER}/C1": 1}


def test_an_unknown_outcome_on_a_correction_is_settled_under_its_own_key(changed, abc, sage_sim):
    abc.max_post_attempts = 1
    abc.save()
    sage_faults(sage_sim, {"fault": "timeout_before", "times": 1})

    assert post_correction(report=changed, actor="admin:x", reason="fee") == ReportState.UNKNOWN
    opened = JournalEntry.objects.get(report=changed, state=EntryState.OPEN)
    assert opened.correction_no == 1

    run(abc)

    assert reference_counts(sage_sim) == {f"EXP {DENVER}": 1, f"EXP {DENVER}/C1": 1}
    assert JournalEntry.objects.get(pk=opened.pk).state == EntryState.POSTED
    assert states(abc)[DENVER] == ReportState.EXPORTED  # not flagged again: a difference is no whole build


def test_a_correction_needs_a_reason_and_a_changed_report(changed, abc):
    with pytest.raises(CorrectionRefused, match="say why"):
        post_correction(report=changed, actor="a", reason=" ")
    other = ExpenseReport.objects.exclude(pk=changed.pk).first() or changed
    other.state = ReportState.POSTED
    with pytest.raises(CorrectionRefused, match="not changed after posting"):
        post_correction(report=other, actor="a", reason="x")


def test_difference_and_reference_helpers():
    class L:
        def __init__(self, account, debit, credit):
            self.account, self.debit_cents, self.credit_cents = account, debit, credit

    lines = difference([L("A", 100, 0), L("B", 0, 100)], [L("A", 150, 0), L("B", 0, 150)])
    assert [(x.account, x.debit_cents, x.credit_cents) for x in lines] == [("A", 50, 0), ("B", 0, 50)]
    assert difference([L("A", 100, 0)], [L("A", 100, 0)]) == []
    assert correction_reference("X" * 40, 12) == "EXP " + "X" * 22 + "/C12"
    assert len(correction_reference("X" * 40, 12)) == 30
