"""Posting throughput against its floor: N reports, Sage write latency L, write limit C.

The floor is N·L/C (every write takes L and at most C are in flight). The measured figure is
the wall time of the engine's posting phase (sync.services.runs.RunWork._post_all, from the first claim to
the last recorded post) over that floor. The export is not timed here (bench 1 covers it);
Expensify runs unpaced. Two companies at once: each in its own thread, as two qcluster
workers would run them, each with its own write limit.
"""

from __future__ import annotations

import threading
from typing import Any

from bench import harness
from bench.harness import Row

TARGET = 1.15


def measure(n: int, latency: float, limit: int, codes: tuple[str, ...]) -> dict[str, Any]:
    from django.db import close_old_connections

    from simulators.expensify import ExpensifySimulator

    harness.clear_data()
    reports = [r for code in codes for r in harness.make_reports(code, n, 3)]
    sage = harness.start_sage(codes, latency=latency, write_limit=limit)
    try:
        with (
            ExpensifySimulator(data=harness.expensify_data(reports), rates=[(10**9, 1.0)]) as exp,
            harness.unpaced_expensify(),
            harness.timed_posting() as spans,
        ):
            companies = [
                harness.wire_company(
                    code, expensify_url=exp.base_url, sage_url=sage.base_url, write_limit=limit
                )
                for code in codes
            ]
            runs: dict[str, Any] = {}

            def one(company: Any) -> None:
                try:
                    runs[company.code] = harness.run_company(company)
                finally:
                    close_old_connections()

            if len(companies) == 1:
                one(companies[0])
            else:
                threads = [threading.Thread(target=one, args=(c,)) for c in companies]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        import httpx

        stats = httpx.get(sage.base_url + "/_sim/stats", timeout=5).json()
    finally:
        sage.stop()
    floor = n * latency / limit
    posted = {code: runs[code].reports_posted for code in codes}
    wall = {code: sum(spans.get(code, [0.0])) for code in codes}
    return {
        "floor": floor,
        "wall": wall,
        "ratio": max(wall.values()) / floor,
        "posted": posted,
        "max_in_flight": stats["maxInFlight"],
        "outcomes": {code: runs[code].outcome for code in codes},
    }


def run(quick: bool, vendor: str) -> list[Row]:
    n = 100 if quick else 1000
    latency = 0.05
    rows: list[Row] = []
    cases = [(1, ("ABC",)), (4, ("ABC",)), (4, ("ABC", "ABD"))]
    for limit, codes in cases:
        r = measure(n, latency, limit, codes)
        label = f"N={n}, L=50 ms, C={limit}" + (f", {len(codes)} companies at once" if len(codes) > 1 else "")
        walls = ", ".join(f"{c} {w:.1f} s" for c, w in r["wall"].items())
        print(
            f"  posting {label}: floor {r['floor']:.1f} s, wall {walls}, ratio {r['ratio']:.2f}, "
            f"posted {r['posted']}, max in flight {r['max_in_flight']}, {r['outcomes']}",
            flush=True,
        )
        complete = all(p == n for p in r["posted"].values())
        rows.append(
            Row(
                "2 Posting",
                f"wall / floor, {label}",
                f"{r['ratio']:.2f} ({walls}; floor {r['floor']:.1f} s)",
                f"<= {TARGET}",
                complete and r["ratio"] <= TARGET,
                "" if complete else f"posted {r['posted']}",
            )
        )
    return rows
