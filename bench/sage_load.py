"""Load on the Sage 100 simulator: several OS processes post at once under one WriteSlots limit.

    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python bench/sage_load.py \
        --processes 6 --per-process 10 --limit 2 --storm 0.3

Prints the simulator's maximum of writes in flight against the limit, and the retries by code
(a lock storm makes a fraction of writes hit RECORD_LOCKED). Backend: Redis with REDIS_URL,
PostgreSQL lease rows with a postgres DATABASE_URL (migrated), else one process with threads.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings_test")


def worker(args: tuple[str, str, int, int, int, Any]) -> dict[str, int]:
    """Post `count` entries from this process; return the retries seen, by code."""
    base_url, backend, limit, count, number, start = args
    import django

    django.setup()
    from datetime import date

    from connector.sage100.gateway import SageSettings, open_gateway
    from connector.sage100.retry import RetryPolicy, post_with_retries
    from connector.sage100.slots import WriteSlots
    from connector.sage100.types import JournalEntryPayload, JournalLinePayload
    from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME

    gateway = open_gateway(
        SageSettings("agent", base_url, DEMO_AGENT_API_KEY, DEMO_USERNAME, DEMO_PASSWORD, "ABC", 2, 10)
    )
    slots = WriteSlots("ABC", limit, lease_seconds=30, backend=backend, poll_seconds=0.005)
    policy = RetryPolicy(max_attempts=20, max_seconds=60, base_delay=0.01, max_delay=0.2)
    start.wait(60)
    retries: dict[str, int] = {}
    for i in range(count):
        entry = JournalEntryPayload(
            "GJ",
            date(2026, 11, 20),
            f"EXP BENCH {number}-{i}",
            "",
            (JournalLinePayload("6100-01-000", 1000 + i, 0), JournalLinePayload("2100-00-000", 0, 1000 + i)),
        )
        outcome = post_with_retries(
            gateway, entry, idempotency_key=f"bench-{number}-{i}", policy=policy, slots=slots
        )
        for code, n in outcome.retries_by_code.items():
            retries[code] = retries.get(code, 0) + n
    gateway.close()
    return retries


def main() -> int:
    """Run the load and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--per-process", type=int, default=10)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--storm", type=float, default=0.0, help="fraction of writes hitting a lock")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds each write takes")
    args = parser.parse_args()

    import django

    django.setup()
    import httpx

    from connector.sage100.slots import default_backend
    from simulators.sage100 import SageSimulator

    backend = default_backend()
    sim = SageSimulator().start()
    # The simulator allows 16 at once: only the connector's slots hold the limit.
    httpx.post(
        sim.base_url + "/_sim/faults",
        json={
            "writeLatency": args.latency,
            "maxConcurrentWrites": {"ABC": 16},
            "lockStorm": {"fraction": args.storm, "seed": 42},
        },
    ).raise_for_status()
    if backend == "redis":
        import redis
        from django.conf import settings

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("ml-connector:write:ABC:*"):
            client.delete(key)
    ctx = multiprocessing.get_context("spawn")
    started = time.monotonic()
    if backend == "local":
        print("No shared backend (set REDIS_URL or a postgres DATABASE_URL): one process, threads.")
        from concurrent.futures import ThreadPoolExecutor
        from threading import Event

        event = Event()
        event.set()
        with ThreadPoolExecutor(args.processes) as pool:
            results = list(
                pool.map(
                    worker,
                    [
                        (sim.base_url, backend, args.limit, args.per_process, n, event)
                        for n in range(args.processes)
                    ],
                )
            )
    else:
        with ctx.Manager() as manager:
            event = manager.Event()
            with ctx.Pool(args.processes) as pool:
                pending = pool.map_async(
                    worker,
                    [
                        (sim.base_url, backend, args.limit, args.per_process, n, event)
                        for n in range(args.processes)
                    ],
                )
                time.sleep(2)
                started = time.monotonic()
                event.set()
                results = pending.get(timeout=300)
    elapsed = time.monotonic() - started
    stats = httpx.get(sim.base_url + "/_sim/stats").json()
    sim.stop()
    retries: dict[str, int] = {}
    for r in results:
        for code, n in r.items():
            retries[code] = retries.get(code, 0) + n
    total = args.processes * args.per_process
    duplicates = sum(1 for n in stats["referenceCounts"]["ABC"].values() if n > 1)
    print(f"backend={backend} processes={args.processes} entries={stats['entries']['ABC']}/{total}")
    print(
        f"max writes in flight={stats['maxInFlight']['ABC']} limit={args.limit} "
        f"over_limit={stats['overLimit']}"
    )
    print(f"lock storm fraction={args.storm}: locks hit={stats['counts'].get('locked', 0)} retries={retries}")
    print(f"duplicate references={duplicates} elapsed={elapsed:.2f}s")
    ok = stats["maxInFlight"]["ABC"] <= args.limit and stats["entries"]["ABC"] == total and not duplicates
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
