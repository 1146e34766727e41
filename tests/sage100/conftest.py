"""Fixtures for the Sage 100 tests: the simulator in-process, gateways for both transports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from connector.sage100.gateway import SageGateway, SageSettings, open_gateway
from connector.sage100.retry import RetryPolicy
from connector.sage100.types import JournalEntryPayload, JournalLinePayload
from simulators.sage100 import SageSimulator
from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME


@pytest.fixture
def sim() -> Iterator[SageSimulator]:
    simulator = SageSimulator().start()
    yield simulator
    simulator.stop()


@pytest.fixture(params=["agent", "soap"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_settings(sim: SageSimulator, transport: str, **changes: Any) -> SageSettings:
    settings = SageSettings(
        transport=transport,
        base_url=sim.base_url if transport == "agent" else sim.soap_url,
        agent_api_key=DEMO_AGENT_API_KEY,
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        company_code="ABC",
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    return dataclasses.replace(settings, **changes)


@pytest.fixture
def settings(sim: SageSimulator, transport: str) -> SageSettings:
    return make_settings(sim, transport)


@pytest.fixture
def gateway(settings: SageSettings) -> Iterator[SageGateway]:
    gw = open_gateway(settings)
    yield gw
    gw.close()


def make_entry(
    reference: str = "EXP R00X9oNOn2MO",
    *,
    cents: int = 12540,
    account: str = "6100-01-000",
    offset: str = "2100-00-000",
    posting_date: date = date(2026, 11, 20),
    comment: str = "Trip to Denver",
) -> JournalEntryPayload:
    return JournalEntryPayload(
        source_journal="GJ",
        posting_date=posting_date,
        reference=reference,
        comment=comment,
        lines=(
            JournalLinePayload(account, cents, 0, "Hotel"),
            JournalLinePayload(offset, 0, cents, ""),
        ),
    )


def fast_policy(**changes: Any) -> RetryPolicy:
    policy = RetryPolicy(max_attempts=6, max_seconds=20.0, base_delay=0.01, max_delay=0.05)
    return dataclasses.replace(policy, **changes)


def set_faults(sim: SageSimulator, spec: dict[str, Any]) -> None:
    """Through the HTTP control endpoint, as a subprocess user would."""
    httpx.post(sim.base_url + "/_sim/faults", json=spec).raise_for_status()


def stats(sim: SageSimulator) -> dict[str, Any]:
    return dict(httpx.get(sim.base_url + "/_sim/stats").json())
