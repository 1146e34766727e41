"""Expensify calls per run at Expensify's real limits, paced by the connector's own limiter.

One run's Expensify work is the test-mode export plus the markAsExported renders of what was
posted. The simulator enforces 5 per 10 s and 20 per 60 s and answers 429 above them; the
client uses the production limiter rules (plus its 0.5 s margin). Both read one virtual clock
that the client's sleeps advance, so minutes of pacing cost no real time: the waits reported
are what a real run would spend waiting, and any 429 would be the limiter's fault.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

from bench.harness import PARTNER_SECRET, Row, fmt_seconds, make_reports


class VirtualClock:
    """Wall-clock seconds that advance only when someone sleeps."""

    def __init__(self) -> None:
        self._now = time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


def one_size(size: int, *, render_delay: float = 2.0) -> dict[str, Any]:
    from connector.expensify import ExpensifyClient, ExpensifyReport, RateLimiter
    from connector.expensify.pacing import EXPENSIFY_RULES, MemoryBackend
    from simulators.expensify import ExpensifySimulator

    clock = VirtualClock()
    today = date.fromtimestamp(clock())
    reports = make_reports("ABC", size, 1, days=80, today=today)
    data = {"reports": reports, "credentials": {"bench-ABC": PARTNER_SECRET}}
    with ExpensifySimulator(data=data, rates=list(EXPENSIFY_RULES), render_delay=render_delay) as sim:
        sim.state.clock = clock
        limiter = RateLimiter(
            "expensify:bench-ABC", backend=MemoryBackend(clock=clock), sleep=clock.sleep
        )
        client = ExpensifyClient(
            base_url=sim.base_url,
            partner_user_id="bench-ABC",
            partner_user_secret=PARTNER_SECRET,
            limiter=limiter,
            sleep=clock.sleep,
        )
        started_virtual = clock()
        started = time.perf_counter()
        ids = [
            item.report_id
            for item in client.export_reports(
                label="ml-connector-bench", policy_ids=["POLABC"], approved_after=today - timedelta(days=90)
            )
            if isinstance(item, ExpensifyReport)
        ]
        export = client.last_export
        export_calls = client.calls
        client.mark_exported(ids, label="ml-connector-bench")
        elapsed_virtual = clock() - started_virtual
        real = time.perf_counter() - started
        client.close()
        log = sim.state.requests
        rate_limited = sum(1 for r in log if r.get("rate_limited") or r.get("status") == 429)
    return {
        "size": size,
        "returned": len(ids),
        "calls": client.calls,
        "export_calls": export_calls,
        "mark_calls": client.calls - export_calls,
        "renders": export.renders,
        "windows_split": export.windows_split,
        "rate_wait": client.rate_wait_seconds,
        "virtual": elapsed_virtual,
        "real": real,
        "status_429": rate_limited,
    }


def run(quick: bool) -> list[Row]:
    sizes = (10, 1000) if quick else (10, 1000, 10_000)
    rows: list[Row] = []
    results = []
    for size in sizes:
        r = one_size(size)
        results.append(r)
        print(
            f"  expensify N={size}: {r['returned']} reports, {r['calls']} calls "
            f"({r['export_calls']} export: {r['renders']} renders, {r['windows_split']} windows split; "
            f"{r['mark_calls']} marking), waited {r['rate_wait']:.0f} s on the limiter, "
            f"run {r['virtual']:.0f} s at real limits ({r['real']:.1f} s real), 429s: {r['status_429']}",
            flush=True,
        )
        ok = r["returned"] == size and r["status_429"] == 0
        rows.append(
            Row(
                "1 Expensify",
                f"calls per run, N={size:,}",
                f"{r['calls']} ({r['export_calls']} export + {r['mark_calls']} mark)",
                "~N/page size, not per report",
                ok and r["calls"] <= 12 + 8 * (size // 500),
            )
        )
        rows.append(
            Row(
                "1 Expensify",
                f"limiter wait / 429s, N={size:,}",
                f"{fmt_seconds(r['rate_wait'])} / {r['status_429']}",
                "inside 5/10 s + 20/60 s, 0 x 429",
                r["status_429"] == 0,
                f"run takes {r['virtual']:.0f} s at real limits",
            )
        )
    return rows
