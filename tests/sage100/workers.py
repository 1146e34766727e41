"""Code run in child OS processes (multiprocessing spawn) by the concurrency tests."""

from __future__ import annotations

import os
from typing import Any


def setup_django(env: dict[str, str]) -> None:
    """A fresh process: same settings as the parent, pointed at the parent's test database."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings_test")
    import django

    django.setup()


def post_many(
    env: dict[str, str],
    base_url: str,
    backend: str,
    limit: int,
    count: int,
    worker: int,
    start_event: Any,
    slot_code: str = "ABC",
) -> dict[str, Any]:
    """Post `count` entries through WriteSlots(limit) from this process; return what happened."""
    setup_django(env)
    from connector.sage100.gateway import SageSettings, open_gateway
    from connector.sage100.retry import RetryPolicy, post_with_retries
    from connector.sage100.slots import WriteSlots
    from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME
    from tests.sage100.conftest import make_entry

    settings = SageSettings(
        "agent", base_url, DEMO_AGENT_API_KEY, DEMO_USERNAME, DEMO_PASSWORD, "ABC", 2.0, 10.0
    )
    gateway = open_gateway(settings)
    slots = WriteSlots(slot_code, limit, lease_seconds=30, backend=backend, poll_seconds=0.005)
    policy = RetryPolicy(max_attempts=10, max_seconds=30, base_delay=0.01, max_delay=0.05)
    start_event.wait(30)
    retries: dict[str, int] = {}
    for i in range(count):
        outcome = post_with_retries(
            gateway,
            make_entry(reference=f"EXP W{worker} N{i}"),
            idempotency_key=f"w{worker}-n{i}",
            policy=policy,
            slots=slots,
        )
        for code, n in outcome.retries_by_code.items():
            retries[code] = retries.get(code, 0) + n
    gateway.close()
    return {"worker": worker, "retries": retries}


def hold_slot_and_die(env: dict[str, str], backend: str, lease_seconds: float, slot_code: str) -> None:
    """Claim the only write slot and exit without releasing it (a crashed worker)."""
    setup_django(env)
    from connector.sage100.slots import WriteSlots

    slots = WriteSlots(slot_code, 1, lease_seconds=lease_seconds, backend=backend)
    assert slots.try_acquire() is not None
    os._exit(3)
