"""The simulator is strict about request shape and answers like Expensify does."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.expensify import ExpensifySimulator, demo_data
from simulators.expensify.demo import DEMO_PARTNER_USER_ID, DEMO_PARTNER_USER_SECRET
from tests.expensify.conftest import PARTNER_ID, SECRET, report, sim_control

CREDENTIALS = {"partnerUserID": PARTNER_ID, "partnerUserSecret": SECRET}


def render_job(**changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "type": "file",
        "credentials": CREDENTIALS,
        "onReceive": {"immediateResponse": ["returnRandomFileName"]},
        "inputSettings": {"type": "combinedReportData", "reportState": "APPROVED", "limit": "10",
                          "filters": {"startDate": "2026-11-01", "endDate": "2026-11-25"}},
        "outputSettings": {"fileExtension": "json"},
        "test": "true",
    }
    job.update(changes)
    return job


def post(sim: ExpensifySimulator, job: Any, template: str | None = "<#-- t -->") -> httpx.Response:
    form = {"requestJobDescription": job if isinstance(job, str) else json.dumps(job)}
    if template is not None:
        form["template"] = template
    return httpx.post(sim.base_url, data=form, timeout=5)


def refusal(answer: httpx.Response) -> tuple[int, str]:
    assert answer.status_code == 200
    body = answer.json()
    return body["responseCode"], body["responseMessage"]


def with_filters(**filters: Any) -> dict[str, Any]:
    job = render_job()
    job["inputSettings"]["filters"] = filters
    return job


@pytest.mark.parametrize(("job", "words"), [
    ("not json", "not valid JSON"),
    (render_job(credentials=None), "credentials"),
    (render_job(test=True), "test"),
    (render_job(inputSettings={"type": "combinedReportData", "reportState": "APPROVED", "limit": 10,
                               "filters": {"startDate": "2026-11-01"}}), "limit"),
    (with_filters(startDate="2026-11-01", policyIDList=["A", "B"]), "policyIDList"),
    (with_filters(endDate="2026-11-25"), "startDate is required"),
    (with_filters(startDate="2024-01-01", endDate="2026-11-25"), "more than one year"),
    (with_filters(startDate="2020-01-01"),
     "'endDate' is required when 'startDate' is more than one year ago"),
    (with_filters(approvedAfter="2024-06-01"),
     "'endDate' is required when 'approvedAfter' is more than one year ago"),
    (with_filters(approvedAfter="2024-06-01", endDate="2026-11-25"), "more than one year"),
    (with_filters(approvedAfter="2025-11-01", startDate="2024-11-01", endDate="2025-12-01"),
     "more than one year"),
    (render_job(inputSettings={"type": "combinedReportData", "reportState": "APPROVED,PAID",
                               "limit": "10", "filters": {"startDate": "2026-11-01"}}), "PAID"),
    (render_job(onReceive={}), "onReceive"),
    (render_job(onFinish=[{"actionName": "markAsExported"}]), "label"),
])
def test_malformed_render_requests_get_410(sim, job, words):
    code, message = refusal(post(sim, job))
    assert code == 410 and words in message


def test_template_is_required(sim):
    assert refusal(post(sim, render_job(), template=None)) == (410, "Missing template")


def test_wrong_secret_is_refused_like_expensify(sim):
    job = render_job(credentials={"partnerUserID": PARTNER_ID, "partnerUserSecret": "nope"})
    code, message = refusal(post(sim, job))
    assert code == 500 and message.startswith("Not authorized to authenticate as user")


def test_policy_getter_wants_an_array(sim):
    job = {"type": "get", "credentials": CREDENTIALS,
           "inputSettings": {"type": "policy", "fields": ["categories"], "policyIDList": "A,B"}}
    code, message = refusal(post(sim, job, template=None))
    assert code == 410 and "array" in message


def test_render_answers_a_bare_file_name_and_the_file_appears_later(sim):
    sim_control(sim, "/_sim/config", {"render_delay": 0.3})
    sim_control(sim, "/_sim/load", {"reports": [report("R1")]})
    name = post(sim, render_job()).text
    assert re.fullmatch(r"export[0-9a-f]+\.json", name)
    download = {"type": "download", "credentials": CREDENTIALS, "fileName": name,
                "fileSystem": "integrationServer"}
    assert post(sim, download, template=None).json() == {"responseMessage": "File not found"}
    time.sleep(0.35)
    assert [r["reportID"] for r in post(sim, download, template=None).json()["reports"]] == ["R1"]


def test_dates_compare_with_the_later_of_submitted_and_created(sim):
    sim_control(sim, "/_sim/load", {"reports": [
        report("IN", created="2026-10-20", submitted="2026-11-01"),
        report("OUT", created="2026-10-20", submitted="2026-10-31"),
    ]})
    sim_control(sim, "/_sim/config", {"render_delay": 0})
    name = post(sim, with_filters(startDate="2026-11-01", endDate="2026-11-01")).text
    download = {"type": "download", "credentials": CREDENTIALS, "fileName": name,
                "fileSystem": "integrationServer"}
    assert [r["reportID"] for r in post(sim, download, template=None).json()["reports"]] == ["IN"]


def test_rate_limits_answer_429():
    with ExpensifySimulator(credentials={PARTNER_ID: SECRET}, rates=[(5, 10.0), (20, 60.0)]) as sim:
        job = {"type": "get", "credentials": CREDENTIALS, "inputSettings": {"type": "policyList"}}
        statuses = [post(sim, job, template=None).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        other = {**job, "credentials": {"partnerUserID": "someone_else", "partnerUserSecret": "x"}}
        assert post(sim, other, template=None).status_code == 200  # limits are per partner user


def test_request_log_holds_no_secret(sim):
    post(sim, render_job())
    log = sim_control(sim, "/_sim/requests")["requests"]
    assert log[0]["partnerUserID"] == PARTNER_ID and SECRET not in json.dumps(log)


def test_reset_restores_the_initial_data(sim):
    sim_control(sim, "/_sim/load", {"reports": [report("R1")]})
    post(sim, render_job())
    sim_control(sim, "/_sim/reset", {})
    assert sim_control(sim, "/_sim/requests")["requests"] == []
    assert sim.state.reports == [] and sim.state.credentials == {PARTNER_ID: SECRET}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_runs_as_a_subprocess_with_the_demo_data():
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.expensify", "--port", str(port), "--demo",
         "--render-delay", "0"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        assert f"127.0.0.1:{port}" in process.stdout.readline()
        job = {"type": "get", "inputSettings": {"type": "policyList"},
               "credentials": {"partnerUserID": DEMO_PARTNER_USER_ID,
                               "partnerUserSecret": DEMO_PARTNER_USER_SECRET}}
        answer = httpx.post(f"http://127.0.0.1:{port}/Integration-Server/ExpensifyIntegrations",
                            data={"requestJobDescription": json.dumps(job)}, timeout=5)
        assert [p["name"] for p in answer.json()["policyList"]] == ["Acme Field Services"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_demo_data_has_the_promised_cases():
    data = demo_data()
    approved = [r for r in data["reports"] if r["status"] == "Approved"]
    assert len(approved) == 6
    expenses = [t for r in approved for t in r["transactionList"]]
    assert any(t["amount"] < 0 for t in expenses)
    assert any(t["currency"] != "USD" and t.get("convertedAmount") for t in expenses)
    assert any("\\:" in t["tag"] for t in expenses)
    assert {"Team Offsite", "Client Gifts"} <= {t["category"] for t in expenses}


def rendered_ids(sim: ExpensifySimulator, job: dict[str, Any]) -> list[str]:
    name = post(sim, job).text
    answer = post(sim, {"type": "download", "credentials": CREDENTIALS, "fileName": name,
                        "fileSystem": "integrationServer"}, template=None)
    return [r["reportID"] for r in answer.json()["reports"]]


def test_approved_after_keeps_reports_approved_strictly_after_its_date(sim):
    sim_control(sim, "/_sim/load", {"reports": [
        report("ON", approved="2026-11-10 09:00:00"), report("AFTER", approved="2026-11-11 09:00:00"),
        report("BEFORE", approved="2026-11-09 09:00:00")]})
    assert rendered_ids(sim, with_filters(approvedAfter="2026-11-10")) == ["AFTER"]


@pytest.mark.parametrize(("states", "expected"), [
    ("APPROVED", ["A"]),
    ("APPROVED,REIMBURSED", ["A", "R"]),
    ("APPROVED,REIMBURSED,ARCHIVED", ["A", "R", "C"]),
    ("OPEN,SUBMITTED", ["O", "S"]),
])
def test_report_state_lists_are_honoured_exactly(sim, states, expected):
    sim_control(sim, "/_sim/load", {"reports": [
        report("O", status="Open"), report("S", status="Processing"), report("A", status="Approved"),
        report("R", status="Reimbursed"), report("C", status="Closed")]})
    job = render_job()
    job["inputSettings"]["reportState"] = states
    assert rendered_ids(sim, job) == expected
