"""The connector against the real agent process (fake BOI, HTTPS on loopback, a self-signed cert).

One agent process serves the whole session (started once: ~1 s). The `sim` and `sage_sim`
fixtures of the connector's agent-transport suite (tests/sage100) and its engine end-to-end
suite (tests/sync) are overridden here by `AgentSim`, an adapter with the simulator's shape
(base_url, port, the /_sim/ controls, a book-like `book`) over the agent's test-mode controls;
each test starts from a fresh book (`/_sim/reset`). The test modules themselves are re-used
unchanged (tests/agent_integration/test_*_against_agent.py import them); what only the simulator
can do is skipped here with its reason (SIM_ONLY, and every SOAP case).

Trust: the connector pins the agent's self-signed certificate the way a customer does, on
`SageSettings.agent_certificate` and the company's `SageConnection.agent_certificate`; nothing
else trusts it (no SSL_CERT_FILE), so an unpinned client is refused (test_https_is_verified).
"""

from __future__ import annotations

import copy
import dataclasses
import ssl
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import pytest

pytest.importorskip("mlc_agent", reason="install agent/ (make test-agent)")

from mlc_agent.security import hash_api_key
from mlc_agent.testing import AgentProcess, make_agent

from connector.sage100.gateway import SageSettings
from simulators.sage100 import SOAP_PATH
from simulators.sage100.demo import DEMO_AGENT_API_KEY, demo
from tests.sage100.conftest import gateway, settings  # noqa: F401 - the agent-transport suite's fixtures
from tests.sync.conftest import expensify_sim, fast_clients, wire_company  # noqa: F401 - the engine's

# The simulator's book rewritten by a test, a simulator that is stopped, a Retry-After the test
# chooses: what only the simulator can do. SOAP cases and the proxy-shaped faults (`answer`,
# `answer_after`, `html`: refused by the agent's controls) are skipped by the rules below.
SIM_ONLY = {
    "test_unreachable_is_transient": "stops and restarts the simulator's server object",
    "test_record_locked_is_transient_with_retry_after": "the simulator's chosen Retry-After; "
    "the agent answers its own (1 s for a lock)",
    "test_retry_after_is_a_minimum_wait": "the simulator's chosen Retry-After; the agent answers its own",
    "test_a_coded_refusal_of_the_same_key_is_definite": "closes a period inside the simulator's book",
    "test_account_inactive_in_sage_but_active_in_our_cache_fails_with_sages_reason": "edits the "
    "simulator's chart in place",
}
# Tests that open a SOAP gateway themselves (besides every "soap" name and transport).
SOAP_CASES = {"test_replay_across_transports", "test_429_without_envelope_is_the_same_on_both_transports"}
PROXY_FAULTS = ("answer", "answer_after")
AGENT_FIXTURES = {"sim", "sage_sim", "agent"}


def agent_data() -> dict[str, Any]:
    """The simulator's demo Sage (users, ABC and XYZ, its page size of 7) as the fake BOI's data."""
    config = copy.deepcopy(demo())
    return {
        "sageVersion": config["sageVersion"],
        "users": config["users"],
        "companies": config["companies"],
        "pageSize": config["pageSize"],
    }


@pytest.fixture(scope="session")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """One agent for the session, in test mode, answering the demo's API key."""
    proc = make_agent(
        tmp_path_factory.mktemp("agent"),
        agent_data(),
        companies=["ABC:2", "XYZ:1"],
        # Long enough for the suites' `slow` faults (≤ 0.8 s), short enough for the timeouts.
        settings={"boi_timeout_seconds": 1.5, "api_key_hash": f'"{hash_api_key(DEMO_AGENT_API_KEY)}"'},
    )
    proc.api_key = DEMO_AGENT_API_KEY
    proc.start()
    yield proc
    proc.stop()


class AgentBook:
    """What the tests read from `sim.book`, answered by the agent's controls."""

    def __init__(self, sim: AgentSim) -> None:
        self._sim = sim

    def entries(self, code: str) -> list[dict[str, Any]]:
        return self._sim.entries(code)

    def set_faults(self, spec: dict[str, Any]) -> None:
        self._sim.set_faults(spec)

    @property
    def faults(self) -> list[SimpleNamespace]:
        """The installed faults with what is left of their `times`."""
        return [SimpleNamespace(**f) for f in self._sim.stats()["faults"]]


class AgentSim:
    """The simulator's test surface over the running agent (base_url is the agent's HTTPS URL)."""

    def __init__(self, agent: AgentProcess) -> None:
        self.agent = agent
        self.book = AgentBook(self)

    @property
    def base_url(self) -> str:
        return self.agent.base_url

    @property
    def soap_url(self) -> str:
        return self.base_url + SOAP_PATH  # every SOAP case is skipped: the agent has no SOAP

    @property
    def port(self) -> int:
        return self.agent.port

    @property
    def certificate(self) -> str:
        return self.agent.cert.read_text()

    def _client(self) -> httpx.Client:
        return self.agent.client()

    def reset(self) -> None:
        with self._client() as c:
            c.post("/_sim/reset").raise_for_status()

    def set_faults(self, spec: dict[str, Any]) -> None:
        with self._client() as c:
            answer = c.post("/_sim/faults", json=spec)
            assert answer.status_code == 200, answer.text
            answer.raise_for_status()

    def stats(self) -> dict[str, Any]:
        with self._client() as c:
            return dict(c.get("/_sim/stats").raise_for_status().json())

    def entries(self, code: str) -> list[dict[str, Any]]:
        with self._client() as c:
            return list(c.get(f"/_sim/entries/{code}").raise_for_status().json())

    def stop(self) -> None:
        raise NotImplementedError("the agent process is shared by the session; see SIM_ONLY")


@pytest.fixture(scope="session")
def agent_sim(agent: AgentProcess) -> AgentSim:
    return AgentSim(agent)


@pytest.fixture
def sim(agent_sim: AgentSim) -> Iterator[AgentSim]:
    """The agent in place of tests/sage100's simulator: a fresh book for each test."""
    agent_sim.reset()
    yield agent_sim
    agent_sim.set_faults({"faults": [], "writeLatency": 0, "lockStorm": {"fraction": 0}})


@pytest.fixture
def sage_sim(sim: AgentSim) -> AgentSim:
    """The agent in place of tests/sync's simulator."""
    return sim


@pytest.fixture(params=["agent", "soap"])
def transport(request: pytest.FixtureRequest) -> str:
    if request.param == "soap":
        pytest.skip("SOAP case: the agent speaks only the agent contract")
    return str(request.param)


@pytest.fixture
def abc(db: Any, fast_clients: None, expensify_sim: Any, sage_sim: AgentSim, transport: str) -> Any:  # noqa: F811
    """tests/sync's company ABC, pointed at the agent, its certificate pinned on the connection."""
    company = wire_company(expensify_sim, sage_sim, transport)
    company.sage.agent_certificate = sage_sim.certificate
    company.sage.save()
    return type(company).objects.get(pk=company.pk)


# -- the suites' control helpers, pointed at the agent ---------------------------------------------

REUSED = (
    "tests.sage100.conftest",
    "tests.sync.conftest",
    "tests.sage100.test_gateway",
    "tests.sage100.test_retry",
    "tests.sage100.test_outcomes",
    "tests.sage100.test_settle",
    "tests.sage100.test_search",
    "tests.sage100.test_secrets",
    "tests.sage100.test_slots",
    "tests.sync.test_engine",
    "tests.sync.test_engine_faults",
    "tests.sync.test_adversary",
)


def _helpers(original_make_settings: Callable[..., SageSettings]) -> dict[str, Callable[..., Any]]:
    def make_settings(sim: AgentSim, transport: str, **changes: Any) -> SageSettings:
        made = original_make_settings(sim, transport, **changes)
        if "agent_certificate" not in changes:
            made = dataclasses.replace(made, agent_certificate=sim.certificate)
        return made

    def sage_faults(sim: AgentSim, *faults: dict[str, Any], **spec: Any) -> None:
        sim.set_faults({"faults": list(faults), **spec})

    return {
        "set_faults": lambda sim, spec: sim.set_faults(spec),
        "stats": lambda sim: sim.stats(),
        "sage_faults": sage_faults,
        "sage_stats": lambda sim: sim.stats(),
        "sage_entries": lambda sim: sim.entries("ABC"),
        "make_settings": make_settings,
    }


@pytest.fixture(autouse=True)
def controls_through_the_agent(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the re-used modules, the simulator's control helpers talk to the agent (with its key)."""
    if "agent_sim" not in request.fixturenames:
        return
    import tests.sage100.conftest as sage_conftest

    helpers = _helpers(sage_conftest.make_settings)
    for name in REUSED:
        module: ModuleType | None = sys.modules.get(name)
        if module is None:
            continue
        for attr, replacement in helpers.items():
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, replacement)
    search: ModuleType | None = sys.modules.get("tests.sage100.test_search")
    if search is not None:
        context = ssl.create_default_context(cafile=str(request.getfixturevalue("agent").cert))
        monkeypatch.setattr(
            search, "httpx", SimpleNamespace(post=lambda *a, **k: httpx.post(*a, verify=context, **k))
        )


def _fault_specs(item: pytest.Item) -> list[dict[str, Any]]:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return [v for v in params.values() if isinstance(v, dict) and "fault" in v]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In this folder: re-used tests that need no agent are left out; simulator-only ones skipped."""
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            keep.append(item)
            continue
        function = getattr(item, "function", None)
        reused = function is not None and function.__module__ != item.module.__name__  # type: ignore[attr-defined]
        if reused and not AGENT_FIXTURES & set(getattr(item, "fixturenames", ())):
            drop.append(item)  # runs in its own suite; nothing of the agent in it
            continue
        keep.append(item)
        params = getattr(getattr(item, "callspec", None), "params", {})
        name = getattr(item, "originalname", item.name)
        if name in SIM_ONLY:
            item.add_marker(pytest.mark.skip(reason=f"simulator only: {SIM_ONLY[name]}"))
        elif params.get("html") is True or any(f.get("html") for f in _fault_specs(item)):
            item.add_marker(pytest.mark.skip(reason="simulator only: an IIS-style HTML page (a proxy)"))
        elif reused and _uses_proxy_faults(function):
            item.add_marker(pytest.mark.skip(reason="simulator only: a proxy's answer (answer/answer_after)"))
        elif reused and ("soap" in name or name in SOAP_CASES or params.get("transport") == "soap"):
            item.add_marker(pytest.mark.skip(reason="SOAP case: the agent speaks only the agent contract"))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _uses_proxy_faults(function: Any) -> bool:
    """True when the test's own source installs the simulator's proxy-shaped faults."""
    import inspect

    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    module = sys.modules.get(function.__module__)
    names = [n for n, v in vars(module).items() if isinstance(v, dict) and v.get("fault") in PROXY_FAULTS]
    return any(f'"fault": "{f}"' in source for f in PROXY_FAULTS) or any(n in source for n in names)
