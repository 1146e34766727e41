"""ExpensifyClient against the simulator over loopback HTTP."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest

from connector.expensify import (
    ExpensifyAuthError,
    ExpensifyPermanentError,
    ExpensifyProtocolError,
    ExpensifyReport,
    ExpensifyTransientError,
    RejectedReport,
)
from connector.expensify import (
    exports as client_module,
)
from tests.expensify.conftest import PARTNER_ID, SECRET, report, sim_control, tx

START = date(2026, 11, 1)
END = date(2026, 11, 25)


def load(sim, reports, **extra):
    sim_control(sim, "/_sim/load", {"reports": reports, **extra})


def api_requests(sim):
    return [r for r in sim_control(sim, "/_sim/requests")["requests"]]


def export_ids(client, **kwargs):
    kwargs.setdefault("start_date", START)
    kwargs.setdefault("end_date", END)
    kwargs.setdefault("policy_ids", ["POL1"])
    return [r.report_id for r in client.export_reports(label="ml-connector", **kwargs)]


def test_export_returns_approved_and_reimbursed_reports_in_test_mode(sim, make_client):
    load(sim, [report("R1"), report("R2", status="Processing"), report("R3", state="REIMBURSED"),
               report("R4", policyID="OTHER"), report("R5", status="Open"),
               report("R6", status="Closed")])
    client = make_client()
    reports = list(client.export_reports(label="ml-connector", policy_ids=["POL1", "POL2"],
                                         start_date=START, end_date=END))
    assert [r.report_id for r in reports] == ["R1", "R3"]
    assert isinstance(reports[0], ExpensifyReport)
    assert reports[0].status == "Approved"  # website wording, carried as is
    render = next(r for r in api_requests(sim) if r["type"] == "file")
    assert render["test"] == "true"
    assert render["onFinish"] == []
    assert render["reportState"] == "APPROVED,REIMBURSED"
    assert render["filters"] == {"markedAsExported": "ml-connector", "policyIDList": "POL1,POL2",
                                 "startDate": "2026-11-01", "endDate": "2026-11-25"}
    assert render["template_sha256"] == hashlib.sha256(client_module.TEMPLATE.encode()).hexdigest()
    assert sim_control(sim, "/_sim/marks")["marks"] == {}


def test_rejected_reports_come_through_named(sim, make_client):
    load(sim, [report("R1", [tx("t1", 100, currency="EUR")]), report("R2")])
    reports = list(make_client().export_reports(label="x", policy_ids=["POL1"], start_date=START,
                                                end_date=END))
    assert isinstance(reports[0], RejectedReport) and "t1" in reports[0].reason
    assert isinstance(reports[1], ExpensifyReport)


def test_mark_exported_marks_exactly_those_reports_and_later_exports_skip_them(sim, make_client):
    sim_control(sim, "/_sim/config", {"render_delay": 0.2})
    load(sim, [report("R1"), report("R2"), report("R3")])
    client = make_client()
    assert client.mark_exported(["R1", "R3"], label="ml-connector") == {"R1", "R3"}
    # mark_exported returns once rendering finished, so the marks are there.
    assert sim_control(sim, "/_sim/marks")["marks"] == {"R1": ["ml-connector"], "R3": ["ml-connector"]}
    render = next(r for r in api_requests(sim) if r["type"] == "file")
    assert render["test"] == "false" and render["onFinish"] == ["ml-connector"]
    assert render["filters"] == {"reportIDList": "R1,R3"}
    assert export_ids(client) == ["R2"]
    assert export_ids(client, report_ids=["R1", "R2"]) == ["R2"]


def test_marks_apply_only_when_rendering_finishes(sim, make_client):
    sim_control(sim, "/_sim/config", {"render_delay": 5})
    load(sim, [report("R1")])
    client = make_client()
    client._render(filters={"reportIDList": "R1"}, limit=1, report_state="APPROVED",
                   on_finish=[{"actionName": "markAsExported", "label": "L"}], test=False)
    assert sim_control(sim, "/_sim/marks")["marks"] == {}


def test_mark_exported_batches_many_ids(sim, make_client):
    load(sim, [report(f"R{i}", []) for i in range(1200)])
    client = make_client()
    assert len(client.mark_exported([f"R{i}" for i in range(1200)], label="L")) == 1200
    # Each batch: the marking render, then the test-mode read-back that finds none lacking.
    renders = [r for r in api_requests(sim) if r["type"] == "file"]
    assert [(r["test"], r["reports"]) for r in renders] == [
        ("false", 500), ("true", 0), ("false", 500), ("true", 0), ("false", 200), ("true", 0)]
    assert len(sim_control(sim, "/_sim/marks")["marks"]) == 1200


def spread_reports(count: int, first: date, days: int) -> list[dict]:
    reports = []
    for i in range(count):
        day = first + timedelta(days=i % days)
        reports.append(report(f"P{i:05d}", [tx(f"x{i}", 100 + i)], created=day.isoformat(),
                              submitted=day.isoformat(), approved=(day + timedelta(days=1)).isoformat()))
    return reports


def test_paging_returns_thousands_of_reports_once_each(sim, make_client):
    load(sim, spread_reports(2500, date(2026, 1, 1), 300))
    client = make_client()
    ids = export_ids(client, start_date=date(2026, 1, 1), end_date=date(2026, 11, 25), limit=1000)
    assert len(ids) == 2500 and len(set(ids)) == 2500
    renders = [r for r in api_requests(sim) if r["type"] == "file"]
    assert all(r["reports"] <= 1000 for r in renders)
    assert client.calls == len(api_requests(sim))
    print(f"\nexport of 2,500 reports with limit 1000: {client.calls} requests, {client.last_export}")


def test_paging_from_approved_since_alone(sim, make_client):
    load(sim, spread_reports(1200, date(2026, 9, 1), 60))
    client = make_client()
    ids = [r.report_id for r in client.export_reports(
        label="L", policy_ids=["POL1"], approved_since=date(2026, 9, 2), limit=500)]
    assert sorted(ids) == sorted(f"P{i:05d}" for i in range(1200))
    first = next(r for r in api_requests(sim) if r["type"] == "file")
    assert first["filters"] == {"markedAsExported": "L", "policyIDList": "POL1",
                                "approvedAfter": "2026-09-01"}


def test_one_day_over_the_limit_is_asked_again_with_a_larger_limit(sim, make_client):
    load(sim, spread_reports(30, date(2026, 11, 5), 1))
    ids = export_ids(make_client(), limit=10)
    assert len(ids) == 30 and len(set(ids)) == 30


def test_windows_never_span_more_than_a_year(sim, make_client):
    load(sim, [report("OLD", created="2024-12-01", submitted="2024-12-02"), report("NEW")])
    client = make_client()
    ids = export_ids(client, start_date=date(2024, 6, 1), end_date=END)
    assert sorted(ids) == ["NEW", "OLD"]
    for render in (r for r in api_requests(sim) if r["type"] == "file"):
        span = date.fromisoformat(render["filters"]["endDate"]) - date.fromisoformat(
            render["filters"]["startDate"])
        assert span.days < 365


def test_bad_credentials_say_so_plainly(sim, make_client):
    client = make_client(partner_user_secret="wrong-secret-123")
    with pytest.raises(ExpensifyAuthError) as caught:
        client.list_policies()
    assert str(caught.value) == (
        f"Expensify refused the partner credentials for partner user ID '{PARTNER_ID}': "
        "check the partnerUserID and partnerUserSecret."
    )
    assert caught.value.kind == "auth"
    assert client.calls == 1  # never retried


def test_not_an_admin_is_an_auth_error(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [
        {"kind": "json_error", "code": 403, "message": "You are not an admin of this policy"}]})
    with pytest.raises(ExpensifyAuthError, match="admin"):
        make_client().list_policies()


def test_validation_error_is_permanent_and_not_retried(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [
        {"kind": "json_error", "code": 410, "message": "Missing filters.startDate"}]})
    client = make_client()
    with pytest.raises(ExpensifyPermanentError, match="startDate"):
        export_ids(client)
    assert client.calls == 1


def test_unknown_policy_is_permanent(sim, make_client):
    load(sim, [], policies={"POL1": {"name": "One", "categories": []}})
    with pytest.raises(ExpensifyPermanentError, match="Policy not found"):
        make_client().get_policy_data(["NOPE"])


def test_rate_limited_answer_is_retried_after_retry_after(sim, make_client):
    load(sim, [report("R1")])
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "429", "retry_after": 0.3}]})
    client = make_client()
    assert export_ids(client) == ["R1"]
    statuses = [r["status"] for r in api_requests(sim)]
    assert statuses[0] == 429
    times = [r["at"] for r in api_requests(sim)]
    assert times[1] - times[0] >= 0.3


def test_429_penalizes_the_shared_limiter(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "429", "retry_after": 0.4}]})
    client = make_client(max_retry_seconds=0)
    with pytest.raises(ExpensifyTransientError) as caught:
        client.list_policies()
    assert caught.value.retry_after == 0.4
    assert client.limiter.acquire() >= 0.3  # the next slot was pushed for every worker


@pytest.mark.parametrize("fault", [
    {"kind": "500"}, {"kind": "503"}, {"kind": "drop"},
    {"kind": "json_error", "code": 500, "message": "Internal error"},
    {"kind": "json_error", "code": 429, "message": "You have been rate-limited"},
])
def test_transient_failures_are_retried(sim, make_client, fault):
    load(sim, [report("R1")])
    sim_control(sim, "/_sim/faults", {"next": [fault, fault]})
    client = make_client()
    assert export_ids(client) == ["R1"]
    assert client.calls == 4  # two failures, then render and download


def test_persistent_5xx_gives_up_as_transient_within_the_time_bound(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "503"}] * 200})
    client = make_client(max_retry_seconds=0.5, retry_initial_seconds=0.05)
    with pytest.raises(ExpensifyTransientError, match="503"):
        client.list_policies()
    assert client.calls >= 2


def test_slow_answer_times_out_as_transient(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "slow", "seconds": 1.0}]})
    client = make_client(timeout=0.3, max_retry_seconds=0)
    with pytest.raises(ExpensifyTransientError, match="did not answer"):
        client.list_policies()


def test_slow_answer_then_retry_succeeds(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "slow", "seconds": 1.0}]})
    assert make_client(timeout=0.3).list_policies() == []


@pytest.mark.parametrize("body", ["<html><body>Bad gateway</body></html>", "two words", "{not json"])
def test_garbage_is_a_protocol_error_with_the_start_of_the_body(sim, make_client, body):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "garbage", "body": body}]})
    client = make_client()
    with pytest.raises(ExpensifyProtocolError) as caught:
        export_ids(client)
    assert body[:20] in str(caught.value)
    assert client.calls == 1


@pytest.mark.parametrize("style", ["message", "empty", "code"])
def test_download_waits_while_the_file_is_rendering(sim, make_client, style):
    sim_control(sim, "/_sim/config", {"render_delay": 0.4, "not_ready_style": style})
    load(sim, [report("R1")])
    client = make_client()
    assert export_ids(client) == ["R1"]
    downloads = [r for r in api_requests(sim) if r["type"] == "download"]
    assert downloads[0]["ready"] is False and downloads[-1]["ready"] is True


def test_download_gives_up_with_a_clear_transient_error(sim, make_client):
    sim_control(sim, "/_sim/config", {"render_delay": 60})
    load(sim, [report("R1")])
    with pytest.raises(ExpensifyTransientError, match="did not finish rendering"):
        export_ids(make_client(download_wait_seconds=0.5))


def test_download_faults_are_retried(sim, make_client):
    load(sim, [report("R1")])
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "502", "on": "download"}]})
    assert export_ids(make_client()) == ["R1"]


POLICY = {
    "name": "Acme",
    "categories": [{"name": "Meals", "glCode": "6130", "enabled": True}],
    "tags": [{"name": "Department", "tags": [{"name": "Sales", "glCode": "01"}]}],
    "flatTags": [{"name": "Sales:West", "glCode": "W"}],
    "employees": [{"email": "a@acme.com", "role": "user"}],
}


@pytest.mark.parametrize(("shape", "expected"), [
    ("levels", [(1, "Department", "Sales", "01")]),
    ("flat", [(1, "", "Sales", ""), (2, "", "West", "W")]),
])
def test_policy_data_in_both_tag_shapes(sim, make_client, shape, expected):
    load(sim, [], policies={"POL1": POLICY})
    sim_control(sim, "/_sim/config", {"tag_shape": shape})
    data = make_client().get_policy_data(["POL1", "MISSING"])
    assert list(data) == ["POL1"]
    assert [(t.level, t.level_name, t.name, t.gl_code) for t in data["POL1"].tags] == expected
    assert data["POL1"].categories[0].gl_code == "6130"
    request = next(r for r in api_requests(sim) if r["type"] == "get")
    assert request["inputType"] == "policy"


def test_list_policies_and_test_connection(sim, make_client):
    load(sim, [], policies={"POL1": POLICY, "POL2": {"name": "Beta"}})
    client = make_client()
    assert [p["id"] for p in client.list_policies()] == ["POL1", "POL2"]
    summary = client.test_connection()
    assert summary == (f"Connected to Expensify as partner user '{PARTNER_ID}': 2 policies visible: "
                       "Acme (POL1), Beta (POL2).")
    assert "\n" not in summary


def test_counters(sim, make_client):
    load(sim, [report("R1")])
    client = make_client()
    export_ids(client)
    client.list_policies()
    assert client.calls == 3
    assert client.rate_wait_seconds == 0.0


def test_secret_is_never_in_the_simulator_log_or_the_client_repr(sim, make_client):
    client = make_client()
    client.list_policies()
    assert SECRET not in str(sim_control(sim, "/_sim/requests"))
    assert SECRET not in repr(client)


def test_plus_signs_in_the_template_arrive_intact(sim, make_client, monkeypatch):
    template = '<#-- a+b -->${1 + 2} {"reports": []} %2B &amp;'
    monkeypatch.setattr(client_module, "TEMPLATE", template)
    load(sim, [report("R1")])
    export_ids(make_client())
    render = next(r for r in api_requests(sim) if r["type"] == "file")
    assert render["template_sha256"] == hashlib.sha256(template.encode()).hexdigest()


class BrokenStore:
    name = "broken"

    def pace(self, key, rules, hold):
        raise ConnectionRefusedError("redis is down")

    def paced(self, key, token):
        raise ConnectionRefusedError("redis is down")

    def block(self, key, seconds):
        raise ConnectionRefusedError("redis is down")


def test_limiter_store_outage_is_a_transient_error(sim, make_client):
    from connector.expensify import RateLimiter

    client = make_client(limiter=RateLimiter("k", backend=BrokenStore()), max_retry_seconds=0)
    with pytest.raises(ExpensifyTransientError, match="rate limiter is unavailable"):
        client.list_policies()


def test_default_window_is_the_last_year_up_to_tomorrow(sim, make_client):
    today = date.today()
    load(sim, [
        report("TODAY", created=today.isoformat(), submitted=today.isoformat()),
        report("TOMORROW", created=(today + timedelta(days=1)).isoformat(), submitted=""),
        report("ANCIENT", created="2020-01-01", submitted="2020-01-02"),
    ])
    client = make_client()
    assert [r.report_id for r in client.export_reports(label="L", policy_ids=["POL1"])] == [
        "TODAY", "TOMORROW"]


@pytest.mark.parametrize(("partner", "secret"), [("", SECRET), (PARTNER_ID, "")])
def test_incomplete_credentials_are_an_auth_error(sim, partner, secret):
    from connector.expensify import ExpensifyClient

    with pytest.raises(ExpensifyAuthError, match="incomplete"):
        ExpensifyClient(base_url=sim.base_url, partner_user_id=partner, partner_user_secret=secret)


def test_429_stays_a_typed_error_when_the_limiter_store_is_down(sim, make_client):
    from connector.expensify import RateLimiter
    from connector.expensify.pacing import MemoryBackend

    class PenaltyFails(MemoryBackend):
        def block(self, key, seconds):
            raise ConnectionRefusedError("redis is down")

    sim_control(sim, "/_sim/faults", {"next": [{"kind": "429", "retry_after": 0.1}]})
    client = make_client(limiter=RateLimiter("k", backend=PenaltyFails(), rules=()),
                         max_retry_seconds=0)
    with pytest.raises(ExpensifyTransientError, match="429"):
        client.list_policies()
