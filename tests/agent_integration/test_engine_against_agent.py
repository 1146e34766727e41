"""One engine run of the demo company against the real agent process with the fake BOI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mlc_agent.testing import AgentProcess

from connector.models import Company
from simulators.expensify import ExpensifySimulator
from tests.sync.conftest import TODAY, demo_data


@pytest.fixture
def expensify() -> Iterator[ExpensifySimulator]:
    with ExpensifySimulator(data=demo_data(TODAY), rates=[(1000, 1.0)], render_delay=0) as simulator:
        yield simulator


def test_demo_run_posts_through_the_agent_once(
    db: Any, fast_clients: None, expensify: ExpensifySimulator, agent: AgentProcess
) -> None:
    from console.demo import ensure_demo_company
    from sync.services import RunOptions, run_sync

    company = ensure_demo_company()
    company.max_concurrent_writes = 2
    company.max_retry_seconds = 3
    company.schedule_kind = "manual"
    company.save()
    credential = company.expensify
    credential.base_url = expensify.base_url
    credential.save()
    sage = company.sage
    sage.transport, sage.base_url, sage.agent_api_key = "agent", agent.base_url, agent.api_key
    sage.agent_certificate = agent.cert.read_text()
    sage.connect_timeout, sage.read_timeout = 2, 10
    sage.save()
    before = len(agent.sage_entries("ABC"))

    first = run_sync(
        company=Company.objects.get(pk=company.pk), options=RunOptions(trigger="command", actor="test")
    )
    posted = len(agent.sage_entries("ABC")) - before
    print(
        f"\nengine run through the agent: outcome {first.outcome}, posted {first.reports_posted}, "
        f"Sage entries written {posted}"
    )
    assert first.reports_posted == 4 and posted == 4
    second = run_sync(
        company=Company.objects.get(pk=company.pk), options=RunOptions(trigger="command", actor="test")
    )
    assert second.reports_posted == 0
    assert len(agent.sage_entries("ABC")) - before == 4
