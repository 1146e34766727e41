"""The connector against the real agent process (fake BOI, HTTPS on loopback, a self-signed cert).

The connector's httpx client trusts the agent's certificate through SSL_CERT_FILE (httpx reads it
when a client is created), since the company settings have no CA/fingerprint option yet.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlc_agent", reason="install agent/ (make test-agent)")

from mlc_agent.testing import AgentProcess, make_agent

from simulators.sage100.demo import demo
from tests.sync.conftest import fast_clients  # noqa: F401 - the engine tests' fixture


def agent_data() -> dict[str, Any]:
    """The simulator's demo Sage (users, ABC and XYZ) as the fake BOI's data file."""
    config = copy.deepcopy(demo())
    return {"sageVersion": config["sageVersion"], "users": config["users"], "companies": config["companies"]}


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    proc = make_agent(
        tmp_path_factory.mktemp("agent"),
        agent_data(),
        companies=["ABC:2", "XYZ:1"],
        settings={"boi_timeout_seconds": 3},
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def trust_agent(agent: AgentProcess, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSL_CERT_FILE", str(agent.cert))
    return agent.cert
