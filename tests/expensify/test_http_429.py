"""HTTP 429 from Expensify, with and without Retry-After (connector/expensify/transport.py)."""

from __future__ import annotations

import pytest

from connector.expensify import ExpensifyTransientError
from tests.expensify.conftest import sim_control


def test_429_with_retry_after_keeps_it_and_shares_the_wait(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "429", "retry_after": 2}]})
    client = make_client(max_retry_seconds=0)
    with pytest.raises(ExpensifyTransientError) as caught:
        client.list_policies()
    assert caught.value.kind == "transient" and caught.value.retry_after == 2.0
    assert client.limiter.acquire() >= 1.5  # every worker on this partner user waits


def test_429_without_retry_after_is_transient_and_retried_by_our_backoff(sim, make_client):
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "429"}]})
    client = make_client(max_retry_seconds=0)
    with pytest.raises(ExpensifyTransientError) as caught:
        client.list_policies()
    assert caught.value.retry_after is None
    sim_control(sim, "/_sim/faults", {"next": [{"kind": "429"}]})
    assert isinstance(make_client().list_policies(), list)  # the retry policy tries again
