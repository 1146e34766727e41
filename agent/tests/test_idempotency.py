"""Idempotency (replay, 409, freed keys, one key at once), BOI faults, write limit, session recycling."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from mlc_agent.testing import AgentProcess, wait_for

from tests.conftest import call, code, entry, post
from tests.fakedata import POSTER2, POSTER2_PASSWORD


def test_replay_gives_the_first_answer(client: httpx.Client, agent: AgentProcess) -> None:
    first = post(client, "idem-1", entry("EXP IDEM-1"))
    assert first.status_code == 201 and first.json()["replayed"] is False
    writes = agent.stats()["writes"]
    # Member order and an absent comment do not make another body.
    body = entry("EXP IDEM-1")
    body = {k: body[k] for k in reversed(list(body))}
    again = post(client, "idem-1", body)
    assert again.status_code == 200
    assert again.json() == dict(first.json(), replayed=True)
    assert agent.stats()["writes"] == writes


def test_absent_comment_equals_empty(client: httpx.Client) -> None:
    body = entry("EXP IDEM-C", comment="")
    assert post(client, "idem-c", body).status_code == 201
    del body["comment"]
    del body["lines"][1]["comment"]
    assert post(client, "idem-c", body).status_code == 200


def test_same_key_other_body_is_409(client: httpx.Client) -> None:
    assert post(client, "idem-2", entry("EXP IDEM-2", cents=100)).status_code == 201
    r = post(client, "idem-2", entry("EXP IDEM-2", cents=200))
    assert (r.status_code, code(r)) == (409, "IDEMPOTENCY_MISMATCH")


def test_keys_are_scoped_per_company(client: httpx.Client) -> None:
    assert post(client, "idem-co", entry("EXP CO")).status_code == 201
    xyz = entry("EXP CO", account="TRV-6100", offset="LIA-2100")
    assert post(client, "idem-co", xyz, company="XYZ").status_code == 201


def test_a_refused_body_leaves_the_key_free(client: httpx.Client) -> None:
    r = post(client, "idem-3", entry("EXP IDEM-3", account="6100-99-000"))
    assert code(r) == "INVALID_ACCOUNT"
    assert post(client, "idem-3", entry("EXP IDEM-3")).status_code == 201


def test_two_posts_with_one_key_at_once_give_one_entry(client: httpx.Client, agent: AgentProcess) -> None:
    before = agent.stats()["writes"]
    agent.faults({"fault": "hang_before_commit", "seconds": 0.5, "company": "ABC"})

    def one(user: tuple[str, str] | None) -> httpx.Response:
        with agent.client() as c:
            kwargs = {"user": user[0], "password": user[1]} if user else {}
            return post(c, "idem-race", entry("EXP RACE"), **kwargs)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, [None, (POSTER2, POSTER2_PASSWORD)]))
    assert sorted(r.status_code for r in results) == [200, 201]
    assert len({r.json()["entryNo"] for r in results}) == 1
    assert agent.stats()["writes"] == before + 1


def test_record_locked_is_423_and_retryable_and_frees_the_key(
    client: httpx.Client, agent: AgentProcess
) -> None:
    agent.faults({"fault": "record_locked"})
    r = post(client, "lock-1", entry("EXP LOCK"))
    assert (r.status_code, code(r)) == (423, "RECORD_LOCKED")
    assert r.json()["error"]["retryable"] is True and r.headers["Retry-After"] == "1"
    assert post(client, "lock-1", entry("EXP LOCK")).status_code == 201


def test_write_failing_after_commit_is_settled_by_its_marker(
    client: httpx.Client, agent: AgentProcess
) -> None:
    before = agent.stats()["writes"]
    agent.faults({"fault": "fail_after_commit"})
    r = post(client, "fail-after-1", entry("EXP FAILAFTER"))
    assert r.status_code == 201, r.text
    assert agent.stats()["writes"] == before + 1
    assert post(client, "fail-after-1", entry("EXP FAILAFTER")).status_code == 200


def test_hung_write_is_504_then_the_same_key_replays(client: httpx.Client, agent: AgentProcess) -> None:
    before = agent.stats()["writes"]
    agent.faults({"fault": "hang_after_commit", "seconds": 4})
    r = post(client, "hang-1", entry("EXP HANG"))
    assert (r.status_code, code(r)) == (504, "SAGE_TIMEOUT")
    assert r.json()["error"]["retryable"] is True
    # While BOI still holds the call the outcome stays unknown: never a second write.
    r = post(client, "hang-1", entry("EXP HANG"))
    assert code(r) == "SAGE_TIMEOUT"
    assert wait_for(lambda: agent.stats()["store"].get("pending", 0) == 0, timeout=10)
    r = post(client, "hang-1", entry("EXP HANG"))
    assert r.status_code == 200 and r.json()["replayed"] is True
    assert agent.stats()["writes"] == before + 1


def test_a_session_dead_before_the_call_is_reopened_one_dying_in_it_is_503(
    client: httpx.Client, agent: AgentProcess
) -> None:
    assert call(client, "/v1/gl/accounts", {}).status_code == 200
    opened = agent.stats()["sessionsOpened"]
    # Died while idle: found by the check before reuse, reopened, the call is answered.
    agent.faults({"fault": "session_dies"})
    assert call(client, "/v1/gl/accounts", {}).status_code == 200
    assert agent.stats()["sessionsOpened"] == opened + 1
    # Dies again while the call runs (in the reopened session): 503, and the next call reopens.
    agent.faults({"fault": "session_dies", "times": 2})
    r = call(client, "/v1/gl/accounts", {})
    assert (r.status_code, code(r)) == (503, "SAGE_UNAVAILABLE")
    assert call(client, "/v1/gl/accounts", {}).status_code == 200
    assert agent.stats()["sessionsOpened"] == opened + 2  # the one that died opening never counted


def test_sage_unreachable_is_503(client: httpx.Client, agent: AgentProcess) -> None:
    agent.faults({"fault": "unavailable"})
    r = call(client, "/v1/ping", user=POSTER2, password=POSTER2_PASSWORD, company="XYZ")
    assert (r.status_code, code(r)) == (503, "SAGE_UNAVAILABLE")


def test_write_limit_429_while_a_write_is_open(client: httpx.Client, agent: AgentProcess) -> None:
    """XYZ allows 1 write: a second poster gets 429 + Retry-After while the first write runs."""
    # The first write stays open (under the 3 s BOI timeout) long enough for the second poster's
    # logon, even one that reopens a BOI session on a loaded machine (1.5 s ran out once in CI).
    agent.faults({"fault": "hang_before_commit", "seconds": 2.5, "company": "XYZ"})
    body = entry("EXP LIMIT", account="TRV-6100", offset="LIA-2100")
    first: dict[str, httpx.Response] = {}

    def slow() -> None:
        with agent.client() as c:
            first["r"] = post(c, "limit-1", body, company="XYZ")

    t = threading.Thread(target=slow)
    t.start()
    assert wait_for(lambda: agent.stats()["writePeak"].get("XYZ", 0) == 1)
    r = post(
        client,
        "limit-2",
        dict(body, reference="EXP LIMIT2"),
        company="XYZ",
        user=POSTER2,
        password=POSTER2_PASSWORD,
    )
    t.join(10)
    assert (r.status_code, code(r)) == (429, "TOO_MANY_WRITES") and r.headers["Retry-After"] == "1"
    assert first["r"].status_code == 201
    assert agent.stats()["writePeak"]["XYZ"] == 1
    # The slot is free again once the answer was written.
    assert post(client, "limit-2", dict(body, reference="EXP LIMIT2"), company="XYZ").status_code == 201


def test_changed_password_opens_a_fresh_session(client: httpx.Client, agent: AgentProcess) -> None:
    assert call(client, "/v1/ping").status_code == 200
    assert code(call(client, "/v1/ping", password="not-it")) == "AUTH_SAGE"
    # The good session is kept: the right password still works.
    assert call(client, "/v1/ping").status_code == 200
