"""Posting throughput against its floor: N reports, Sage write latency L, write limit C.

The floor is N·L/C (every write takes L and at most C are in flight). The measured figure is
the wall time of the engine's posting phase (sync.services.runs.RunWork._post_all, from the first claim to
the last recorded post) over that floor. The export is not timed here (bench 1 covers it);
Expensify runs unpaced. The Sage simulator runs in a process of its own, as Sage 100 runs on a
machine of its own: its work is not the connector's. Two companies at once: each run in its own
process, as two django-q2 workers (processes) run them, each with its own write limit; and, for
comparison only, both in threads of one process, where they share one interpreter lock.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from types import SimpleNamespace
from typing import Any

from bench import harness
from bench.harness import Row

TARGET = 1.15


def _run_child(url: str, code: str, pipe: Any) -> None:
    """Child process: one company's run on the parent's scratch database (a qcluster worker)."""
    sys.path.insert(0, str(harness.ROOT))
    harness.configure(scratch_url=url)
    from connector.models import Company

    with harness.unpaced_expensify(), harness.timed_posting() as spans:
        run = harness.run_company(Company.objects.get(code=code))
    pipe.send(
        (
            sum(spans.get(code, [0.0])),
            SimpleNamespace(reports_posted=run.reports_posted, outcome=str(run.outcome)),
        )
    )


def _in_processes(companies: list[Any]) -> tuple[dict[str, Any], dict[str, float]]:
    ctx = multiprocessing.get_context("spawn")
    url = harness.scratch_url()
    children = []
    for company in companies:
        ours, theirs = ctx.Pipe()
        child = ctx.Process(target=_run_child, args=(url, company.code, theirs), daemon=True)
        children.append((company.code, child, ours))
    for _, child, _ in children:
        child.start()
    runs: dict[str, Any] = {}
    wall: dict[str, float] = {}
    for code, child, ours in children:
        wall[code], runs[code] = ours.recv()
        child.join(30)
    return runs, wall


def _in_threads(
    companies: list[Any], spans: dict[str, list[float]]
) -> tuple[dict[str, Any], dict[str, float]]:
    from django.db import close_old_connections

    runs: dict[str, Any] = {}

    def one(company: Any) -> None:
        try:
            runs[company.code] = harness.run_company(company)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=one, args=(c,)) for c in companies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return runs, {c.code: sum(spans.get(c.code, [0.0])) for c in companies}


def measure(n: int, latency: float, limit: int, codes: tuple[str, ...], *, processes: bool) -> dict[str, Any]:
    import httpx
    from django.db import connections

    from simulators.expensify import ExpensifySimulator

    harness.clear_data()
    reports = [r for code in codes for r in harness.make_reports(code, n, 3)]
    with (
        harness.sage_in_child(codes, latency=latency, write_limit=limit) as sage_url,
        ExpensifySimulator(data=harness.expensify_data(reports), rates=[(10**9, 1.0)]) as exp,
        harness.unpaced_expensify(),
        harness.timed_posting() as spans,
    ):
        companies = [
            harness.wire_company(code, expensify_url=exp.base_url, sage_url=sage_url, write_limit=limit)
            for code in codes
        ]
        if len(companies) == 1:
            runs = {codes[0]: harness.run_company(companies[0])}
            wall = {codes[0]: sum(spans.get(codes[0], [0.0]))}
        elif processes:
            connections.close_all()  # the children write the same database
            runs, wall = _in_processes(companies)
        else:
            runs, wall = _in_threads(companies, spans)
        stats = httpx.get(sage_url + "/_sim/stats", timeout=5).json()
    floor = n * latency / limit
    posted = {code: runs[code].reports_posted for code in codes}
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
    cases = [(1, ("ABC",), True), (4, ("ABC",), True), (4, ("ABC", "ABD"), True), (4, ("ABC", "ABD"), False)]
    for limit, codes, processes in cases:
        r = measure(n, latency, limit, codes, processes=processes)
        label = f"N={n}, L=50 ms, C={limit}"
        if len(codes) > 1:
            label += f", {len(codes)} companies at once" + ("" if processes else " in one process (threads)")
        informational = len(codes) > 1 and not processes
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
                "-" if informational else f"<= {TARGET}",
                None if informational else complete and r["ratio"] <= TARGET,
                "" if complete else f"posted {r['posted']}",
            )
        )
    return rows
