"""Kill the agent between the BOI write and the store commit: the next post finds the marker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from mlc_agent.testing import make_agent, wait_for

from tests.conftest import entry, post
from tests.fakedata import data


@pytest.mark.slow
def test_kill_between_boi_write_and_store_commit(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "a", data(), companies=["ABC:2"], settings={"boi_timeout_seconds": 30})
    agent.start()
    body = entry("EXP CRASH-1")
    try:
        agent.faults({"fault": "hang_after_commit", "seconds": 60})
        lost: dict[str, object] = {}

        def doomed() -> None:
            try:
                with agent.client() as c:
                    lost["r"] = post(c, "crash-key-1", body)
            except httpx.HTTPError as exc:
                lost["r"] = exc

        t = threading.Thread(target=doomed)
        t.start()
        # The entry is in Sage (the fake's files), the store still says pending: now crash.
        assert wait_for(lambda: len(agent.sage_entries("ABC")) == 1, timeout=10)
        killed_at = time.monotonic()
        agent.kill()
        t.join(10)
        assert isinstance(lost["r"], httpx.HTTPError), "the client saw the connection die"
    finally:
        agent.stop()
    comment = agent.sage_entries("ABC")[0]["header"]["JournalComment$"]
    assert "[mlc:" in comment

    agent.start()
    try:
        restarted = time.monotonic()
        with agent.client() as c:
            r = post(c, "crash-key-1", body)
        answered = time.monotonic()
        stats = agent.stats()
    finally:
        agent.stop()
    entries = agent.sage_entries("ABC")
    print(
        f"\ncrash test: entries in Sage before kill 1, after the re-post {len(entries)}; "
        f"re-post answered HTTP {r.status_code} replayed={r.json().get('replayed')} "
        f"entryNo={r.json().get('entryNo')} "
        f"in {answered - restarted:.3f} s after restart ({answered - killed_at:.2f} s after the kill); "
        f"BOI writes by the restarted agent: {stats['writes']}; store {stats['store']}"
    )
    assert r.status_code == 200 and r.json()["replayed"] is True
    assert r.json()["entryNo"] == entries[0]["header"]["EntryNo$"]
    assert len(entries) == 1 and stats["writes"] == 0
    assert stats["store"] == {"committed": 1}


@pytest.mark.slow
def test_kill_before_the_boi_commit_writes_once_on_retry(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "b", data(), companies=["ABC:2"], settings={"boi_timeout_seconds": 30})
    agent.start()
    body = entry("EXP CRASH-2")
    try:
        agent.faults({"fault": "hang_before_commit", "seconds": 60})
        t = threading.Thread(target=lambda: _quiet_post(agent, "crash-key-2", body))
        t.start()
        assert wait_for(lambda: agent.stats()["store"].get("pending") == 1, timeout=10)
        agent.kill()
        t.join(10)
    finally:
        agent.stop()
    assert agent.sage_entries("ABC") == []
    agent.start()
    try:
        with agent.client() as c:
            r = post(c, "crash-key-2", body)
            again = post(c, "crash-key-2", body)
    finally:
        agent.stop()
    assert r.status_code == 201 and again.status_code == 200
    assert len(agent.sage_entries("ABC")) == 1


def _quiet_post(agent, key: str, body: dict) -> None:  # type: ignore[no-untyped-def]
    try:
        with agent.client() as c:
            post(c, key, body)
    except httpx.HTTPError:
        pass
