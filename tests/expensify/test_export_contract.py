"""export_reports and mark_exported as expensify-api.md and accounting.md now say (issue 11)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from connector.expensify import (
    ExpensifyAnswerTooLarge,
    ExpensifyConfigError,
    ExpensifyError,
)
from tests.expensify.conftest import report, sim_control

TODAY = date.today()


def load(sim, reports):
    sim_control(sim, "/_sim/load", {"reports": reports})


def renders(sim):
    return [r for r in sim_control(sim, "/_sim/requests")["requests"] if r["type"] == "file"]


def dated(report_id, *, submitted, approved, **fields):
    return report(report_id, created=submitted.isoformat(), submitted=submitted.isoformat(),
                  approved=approved.isoformat(), **fields)


@pytest.mark.parametrize("policies", [[], ["", "  "]])
def test_no_policy_listed_exports_nothing_and_says_so(sim, make_client, policies):
    load(sim, [report("R1")])
    client = make_client()
    with pytest.raises(ExpensifyConfigError, match="No Expensify policy is listed") as caught:
        list(client.export_reports(label="L", policy_ids=policies, approved_since=TODAY))
    assert isinstance(caught.value, ExpensifyError) and caught.value.kind == "config"
    assert client.calls == 0 and renders(sim) == []


def test_approved_since_is_inclusive(sim, make_client):
    since = TODAY - timedelta(days=20)
    load(sim, [
        dated("ON", submitted=since - timedelta(days=2), approved=since),
        dated("DAY_BEFORE", submitted=since - timedelta(days=2), approved=since - timedelta(days=1)),
        dated("AFTER", submitted=since, approved=since + timedelta(days=1)),
    ])
    client = make_client()
    ids = [r.report_id for r in client.export_reports(label="L", policy_ids=["POL1"], approved_since=since)]
    assert sorted(ids) == ["AFTER", "ON"]
    (render,) = renders(sim)
    assert render["filters"]["approvedAfter"] == (since - timedelta(days=1)).isoformat()
    assert render["reportState"] == "APPROVED,REIMBURSED"


def test_a_look_back_of_two_years_is_asked_in_windows_of_at_most_a_year(sim, make_client):
    since = TODAY - timedelta(days=730)
    load(sim, [
        dated("OLD_IN", submitted=since - timedelta(days=60), approved=since + timedelta(days=5)),
        dated("OLD_OUT", submitted=since - timedelta(days=60), approved=since - timedelta(days=5)),
        dated("ON_DAY", submitted=since - timedelta(days=1), approved=since),
        dated("MIDDLE", submitted=since + timedelta(days=400), approved=since + timedelta(days=401)),
        dated("RECENT", submitted=TODAY - timedelta(days=3), approved=TODAY - timedelta(days=2)),
        dated("PAID", submitted=TODAY - timedelta(days=3), approved=TODAY - timedelta(days=2),
              status="Reimbursed"),
    ])
    client = make_client()
    ids = [r.report_id for r in client.export_reports(label="L", policy_ids=["POL1"], approved_since=since)]
    assert sorted(ids) == ["MIDDLE", "OLD_IN", "ON_DAY", "PAID", "RECENT"]
    after = since - timedelta(days=1)
    asked = renders(sim)
    assert len(asked) >= 3
    for render in asked:
        filters = render["filters"]
        assert "responseCode" not in render  # the simulator refused nothing
        start, end = date.fromisoformat(filters["startDate"]), date.fromisoformat(filters["endDate"])
        assert (end - start).days < 365
        # approvedAfter exactly where the window reaches back to it, never alone with an old date.
        assert ("approvedAfter" in filters) == (start <= after)
        if "approvedAfter" in filters:
            assert filters["approvedAfter"] == after.isoformat()


def test_archived_reports_only_when_the_company_asks(sim, make_client):
    load(sim, [report("CLOSED", status="Closed"), report("OPEN", status="Open"), report("A")])
    client = make_client()
    common = {"label": "L", "policy_ids": ["POL1"], "start_date": date(2026, 11, 1),
              "end_date": date(2026, 11, 25)}
    assert [r.report_id for r in client.export_reports(**common)] == ["A"]
    with_archived = client.export_reports(report_states=("APPROVED", "REIMBURSED", "ARCHIVED"), **common)
    assert [r.report_id for r in with_archived] == ["CLOSED", "A"]
    assert renders(sim)[-1]["reportState"] == "APPROVED,REIMBURSED,ARCHIVED"


def test_an_unknown_report_state_is_refused_before_asking(sim, make_client):
    client = make_client()
    with pytest.raises(ExpensifyConfigError, match="Report states"):
        list(client.export_reports(label="L", policy_ids=["POL1"], report_states=("PAID",)))
    assert client.calls == 0


def test_report_ids_are_asked_within_the_policies_and_states(sim, make_client):
    load(sim, [report("R1"), report("R2", status="Open"), report("R3", policyID="OTHER")])
    client = make_client()
    ids = [r.report_id for r in client.export_reports(label="L", policy_ids=["POL1"],
                                                      report_ids=["R1", "R2", "R3"])]
    assert ids == ["R1"]
    (render,) = renders(sim)
    assert render["filters"] == {"markedAsExported": "L", "policyIDList": "POL1", "reportIDList": "R1,R2,R3"}


# --- marks, confirmed by reading back -----------------------------------------------------------


def test_marks_that_do_not_stick_are_not_confirmed(sim, make_client):
    sim_control(sim, "/_sim/config", {"render_delay": 0.2, "unmarkable": ["R2"]})
    load(sim, [report("R1"), report("R2"), report("R3")])
    client = make_client()
    assert client.mark_exported(["R1", "R2", "R3"], label="L") == {"R1", "R3"}
    # The fault fired: Expensify took the job but R2 never got the label.
    assert sim_control(sim, "/_sim/marks")["marks"] == {"R1": ["L"], "R3": ["L"]}
    marking, confirming = renders(sim)
    assert marking["test"] == "false" and marking["onFinish"] == ["L"]
    assert confirming["test"] == "true" and confirming["onFinish"] == []
    assert confirming["filters"] == {"markedAsExported": "L", "reportIDList": "R1,R2,R3"}
    assert confirming["reports"] == 1  # R2, still lacking the label


def test_a_report_reopened_before_marking_is_not_confirmed(sim, make_client):
    load(sim, [report("R1"), report("R2", status="Open"), report("R3", state="REIMBURSED")])
    client = make_client()
    assert client.mark_exported(["R1", "R2", "R3", "GONE"], label="L") == {"R1", "R3"}
    assert "R2" not in sim_control(sim, "/_sim/marks")["marks"]


def test_a_report_already_marked_is_confirmed(sim, make_client):
    sim_control(sim, "/_sim/load", {"reports": [report("R1")], "marks": {"R1": ["L"]}})
    assert make_client().mark_exported(["R1"], label="L") == {"R1"}


# --- answer size cap ------------------------------------------------------------------------------


def wait_for_huge_answer(sim):
    # The simulator logs the request once it stops writing (the client hung up).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = [r for r in sim_control(sim, "/_sim/requests")["requests"] if "sent_bytes" in r]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError("the simulator never finished the huge answer")


@pytest.mark.parametrize("declare_length", [False, True])
def test_an_answer_over_the_cap_stops_reading_and_names_the_setting(sim, make_client, settings,
                                                                   declare_length):
    settings.EXPENSIFY_MAX_ANSWER_BYTES = 1 << 20
    load(sim, [report("R1")])
    total = 64 << 20
    sim_control(sim, "/_sim/faults", {"next": [
        {"kind": "huge", "bytes": total, "on": "download", "declare_length": declare_length}]})
    client = make_client()
    assert client.max_answer_bytes == 1 << 20
    with pytest.raises(ExpensifyAnswerTooLarge, match="EXPENSIFY_MAX_ANSWER_BYTES") as caught:
        list(client.export_reports(label="L", policy_ids=["POL1"], start_date=date(2026, 11, 1),
                                   end_date=date(2026, 11, 25)))
    assert caught.value.kind == "permanent"
    huge = wait_for_huge_answer(sim)
    assert huge["fault"] == "huge" and huge["huge_total"] == total
    # Reading stopped near the cap: most of the 64 MiB was never sent.
    assert huge["sent_bytes"] < total // 2


def test_answers_under_the_cap_are_read_as_before(sim, make_client, settings):
    settings.EXPENSIFY_MAX_ANSWER_BYTES = 1 << 20
    load(sim, [report(f"R{i}") for i in range(50)])
    ids = [r.report_id for r in make_client().export_reports(
        label="L", policy_ids=["POL1"], start_date=date(2026, 11, 1), end_date=date(2026, 11, 25))]
    assert len(ids) == 50


def test_the_cap_defaults_to_fifty_mebibytes():
    from django.conf import settings

    assert settings.EXPENSIFY_MAX_ANSWER_BYTES == 50 * 1024 * 1024
