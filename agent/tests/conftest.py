"""One agent process per test module (fake BOI over HTTPS on loopback); data reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlc_agent.testing import AgentProcess, make_agent

from tests.fakedata import POSTER, POSTER_PASSWORD, data


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """One agent per test module (starting one costs ~1 s); tests use their own keys/references."""
    proc = make_agent(
        tmp_path_factory.mktemp("agent"),
        data(),
        companies=["ABC:2", "XYZ:1"],
        settings={"boi_timeout_seconds": 3},
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "agent" in request.fixturenames:
        request.getfixturevalue("agent").faults()


@pytest.fixture
def client(agent: AgentProcess) -> Iterator[httpx.Client]:
    with agent.client() as c:
        yield c


def call(
    client: httpx.Client,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    user: str = POSTER,
    password: str = POSTER_PASSWORD,
    company: str = "ABC",
    **kwargs: Any,
) -> httpx.Response:
    payload = {"logon": {"username": user, "password": password}, "companyCode": company, **(body or {})}
    return client.post(path, json=payload, **kwargs)


def entry(
    reference: str = "EXP R1",
    cents: int = 12540,
    account: str = "6100-01-000",
    offset: str = "2100-00-000",
    day: str = "2026-11-20",
    comment: str = "Trip",
) -> dict[str, Any]:
    amount = f"{cents // 100}.{cents % 100:02d}"
    return {
        "sourceJournal": "GJ",
        "postingDate": day,
        "reference": reference,
        "comment": comment,
        "lines": [
            {"account": account, "debit": amount, "credit": "0.00", "comment": "Hotel"},
            {"account": offset, "debit": "0.00", "credit": amount, "comment": ""},
        ],
    }


def post(client: httpx.Client, key: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return call(client, "/v1/gl/journal-entries", {"entry": body}, headers={"Idempotency-Key": key}, **kwargs)


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])
