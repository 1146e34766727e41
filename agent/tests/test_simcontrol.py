"""Test mode's simulator-shaped controls (/_sim/...): each fault acts through the fake BOI."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import pytest
from mlc_agent.testing import AgentProcess

from tests.conftest import call, code, entry, post


def sim_faults(client: httpx.Client, *faults: dict[str, Any], **spec: Any) -> httpx.Response:
    return client.post("/_sim/faults", json={"faults": list(faults), **spec})


def sim_stats(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/_sim/stats").json())


@pytest.fixture
def client(agent: AgentProcess) -> Any:
    with agent.client() as c:
        assert c.post("/_sim/reset").status_code == 200
        yield c
        c.post("/_sim/reset")


def test_controls_need_the_api_key(agent: AgentProcess) -> None:
    context = ssl.create_default_context(cafile=str(agent.cert))
    with httpx.Client(base_url=agent.base_url, verify=context) as anonymous:
        assert code(anonymous.post("/_sim/faults", json={"faults": []})) == "AUTH_AGENT"
        assert anonymous.get("/_sim/stats").status_code == 401


def test_simulator_only_faults_are_refused_not_ignored(client: httpx.Client) -> None:
    for fault in (
        {"fault": "answer_after", "status": 502},
        {"fault": "answer", "ops": "read"},
        {"fault": "unavailable", "html": True},
        {"fault": "trickle"},
        {"fault": "record_locked", "ops": "read"},
        {"fault": "no_such_fault"},
    ):
        answer = sim_faults(client, fault)
        assert (answer.status_code, code(answer)) == (422, "VALIDATION"), fault
    assert sim_stats(client)["faults"] == []


def test_record_locked_is_a_lock_in_nwrite(client: httpx.Client) -> None:
    sim_faults(client, {"fault": "record_locked", "times": 2})
    for _ in range(2):
        r = post(client, "lock-1", entry("EXP LOCK"))
        assert (r.status_code, code(r), r.headers["Retry-After"]) == (423, "RECORD_LOCKED", "1")
    assert post(client, "lock-1", entry("EXP LOCK")).status_code == 201
    stats = sim_stats(client)
    assert stats["counts"]["locked"] == 2 and stats["counts"]["post"] == 3
    assert stats["referenceCounts"]["ABC"] == {"EXP LOCK": 1}


def test_unavailable_kills_the_session_and_init_fails(client: httpx.Client, agent: AgentProcess) -> None:
    assert call(client, "/v1/ping").status_code == 200
    opened = agent.stats()["sessionsOpened"]
    sim_faults(client, {"fault": "unavailable", "ops": "read", "times": 1})
    r = call(client, "/v1/ping")
    assert (r.status_code, code(r)) == (503, "SAGE_UNAVAILABLE")
    assert agent.stats()["sessionsOpened"] == opened  # the session died and none could open
    assert call(client, "/v1/ping").status_code == 200
    assert agent.stats()["sessionsOpened"] == opened + 1
    assert sim_stats(client)["faults"][0]["times"] == 0


def test_auth_kills_the_session_and_the_logon_is_refused(client: httpx.Client) -> None:
    assert call(client, "/v1/ping").status_code == 200
    sim_faults(client, {"fault": "auth", "ops": "post", "times": None})
    assert call(client, "/v1/ping").status_code == 200  # reads are not matched
    r = post(client, "auth-1", entry("EXP AUTH"))
    assert (r.status_code, code(r)) == (401, "AUTH_SAGE")
    assert sim_stats(client)["entries"]["ABC"] == 0


def test_timeout_before_is_504_and_nothing_written(client: httpx.Client) -> None:
    sim_faults(client, {"fault": "timeout_before"})
    started = time.monotonic()
    r = post(client, "tb-1", entry("EXP TB"))
    assert (r.status_code, code(r)) == (504, "SAGE_TIMEOUT")
    assert time.monotonic() - started >= 3  # the agent's own bounded wait (boi_timeout_seconds)
    assert post(client, "tb-1", entry("EXP TB")).status_code == 201
    assert sim_stats(client)["referenceCounts"]["ABC"] == {"EXP TB": 1}


def test_timeout_after_commits_then_504_and_the_lookup_finds_it(client: httpx.Client) -> None:
    sim_faults(client, {"fault": "timeout_after"})
    r = post(client, "ta-1", entry("EXP TA"))
    assert (r.status_code, code(r)) == (504, "SAGE_TIMEOUT")
    assert sim_stats(client)["entries"]["ABC"] == 1
    # BOI still hangs after the commit: the journal's marker answers the lookup.
    found = call(client, "/v1/gl/journal-entries/lookup", {"idempotencyKey": "ta-1"}).json()
    assert found["found"] is True and found["entry"]["idempotencyKey"] == "ta-1"
    (entry_,) = client.get("/_sim/entries/ABC").json()
    assert entry_["entryNo"] == found["entry"]["entryNo"] and entry_["reference"] == "EXP TA"


def test_drop_after_commits_and_closes_the_connection(client: httpx.Client, agent: AgentProcess) -> None:
    sim_faults(client, {"fault": "drop_after"})
    with agent.client() as other, pytest.raises(httpx.TransportError):
        post(other, "drop-1", entry("EXP DROP"))
    assert sim_stats(client)["referenceCounts"]["ABC"] == {"EXP DROP": 1}
    again = post(client, "drop-1", entry("EXP DROP"))
    assert again.status_code == 200 and again.json()["replayed"] is True


def test_write_limit_storm_latency_and_reset(client: httpx.Client) -> None:
    sim_faults(client, maxConcurrentWrites={"ABC": 0})
    r = post(client, "lim-1", entry("EXP LIM"))
    assert (r.status_code, code(r)) == (429, "TOO_MANY_WRITES")
    assert call(client, "/v1/ping").json()["maxConcurrentWrites"] == 0
    assert sim_stats(client)["overLimit"] == 1
    storm = {"fraction": 1.0, "seed": 3}
    sim_faults(client, maxConcurrentWrites={"ABC": 2}, lockStorm=storm, writeLatency=0.05)
    assert code(post(client, "storm-1", entry("EXP STORM"))) == "RECORD_LOCKED"
    assert client.post("/_sim/reset").status_code == 200
    stats = sim_stats(client)
    assert (stats["entries"]["ABC"], stats["counts"].get("locked"), stats["overLimit"]) == (0, 0, 0)
    assert post(client, "storm-1", entry("EXP STORM")).json()["entryNo"] == "000001"
