"""Peak memory of one run over a large export, in a fresh process per size.

    python -m bench.memory --reports 2000 --per-report 50      (prints one JSON line)

Each size runs in its own subprocess (its own scratch database), so peaks do not carry over.
The simulators run in a child process of that subprocess: their copy of the data and of the
rendered export is not the connector's memory. Peak RSS is ru_maxrss of the measuring process,
which holds only the connector: parse, upsert, build, post, mark.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Row

TARGET_MB = 300


def _serve(codes: tuple[str, ...], reports: int, per_report: int, pipe: Any) -> None:
    """Child process: both simulators, until the parent closes the pipe."""
    sys.path.insert(0, str(ROOT))
    from bench import harness
    from simulators.expensify import ExpensifySimulator

    data = harness.expensify_data(harness.make_reports(codes[0], reports, per_report, days=60))
    sage = harness.start_sage(codes, latency=0.0, write_limit=4)
    with ExpensifySimulator(data=data, rates=[(10**9, 1.0)]) as exp:
        pipe.send((exp.base_url, sage.base_url))
        try:
            pipe.recv()
        except EOFError:
            pass
    sage.stop()


def measure(reports: int, per_report: int) -> dict[str, Any]:
    from bench import harness

    harness.configure()
    # Migrating the scratch database has a peak of its own: measure from here on (Linux resets
    # VmHWM, the peak RSS, when 5 is written to clear_refs).
    peak_from_start = reset_peak()
    rss_start = status_mb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_serve, args=(("ABC",), reports, per_report, theirs), daemon=True)
    child.start()
    expensify_url, sage_url = ours.recv()
    try:
        with harness.unpaced_expensify():
            company = harness.wire_company(
                "ABC", expensify_url=expensify_url, sage_url=sage_url, write_limit=1
            )
            started = time.perf_counter()
            run = harness.run_company(company)
            elapsed = time.perf_counter() - started
    finally:
        ours.send("stop")
        child.join(10)
    return {
        "reports": reports,
        "expenses": reports * per_report,
        "posted": run.reports_posted,
        "outcome": str(run.outcome),
        "seconds": elapsed,
        "rss_start_mb": rss_start,
        "peak_rss_mb": (status_mb("VmHWM") if peak_from_start else None)
        or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_is_whole_process": not peak_from_start,
    }


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def status_mb(name: str) -> float | None:
    """A memory figure from /proc/self/status in MB (None where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def in_subprocess(reports: int, per_report: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.memory",
        "--reports",
        str(reports),
        "--per-report",
        str(per_report),
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory bench failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[Row]:
    per_report = 50
    sizes = (200, 400) if quick else (1000, 2000)
    results = [in_subprocess(n, per_report) for n in sizes]
    for r in results:
        print(
            f"  memory {r['reports']} reports x {per_report} = {r['expenses']:,} expenses: peak RSS "
            f"{r['peak_rss_mb']:.0f} MB (before the run {r['rss_start_mb']:.0f} MB), {r['posted']} posted "
            f"in {r['seconds']:.0f} s",
            flush=True,
        )
    small, large = results
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    rows = [
        Row(
            "4 Memory",
            f"peak RSS, {r['expenses']:,} expenses ({r['reports']:,} reports)",
            f"{r['peak_rss_mb']:.0f} MB",
            f"< {TARGET_MB} MB",
            r["peak_rss_mb"] < TARGET_MB and r["posted"] == r["reports"],
            f"run took {r['seconds']:.0f} s",
        )
        for r in results
    ]
    rows.append(
        Row(
            "4 Memory",
            "growth when the export doubles",
            f"{growth:+.0f} MB",
            "flat (< 10% of the peak)",
            growth < 0.1 * large["peak_rss_mb"],
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--per-report", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(measure(args.reports, args.per_report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
