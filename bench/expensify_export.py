"""Requests per export: how many Integration Server calls export_reports makes for N reports.

    .venv/bin/python bench/expensify_export.py [--limit 1000] [--render-delay 0]

Runs the simulator in-process (rate limits off, so only the request count matters) with N
approved reports spread over 300 days and prints the calls per export.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings_test")


def seconds_at_real_limits(requests: int) -> float:
    """Least wall time for this many requests under 5/10 s and 20/60 s (answers taking 0 s)."""
    from connector.expensify.pacing import EXPENSIFY_RULES, wait_needed

    now, sent = 0.0, []
    for _ in range(requests):
        now += wait_needed(sent, now, EXPENSIFY_RULES)
        sent.append(now)
    return now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--render-delay", type=float, default=0.0)
    parser.add_argument("--sizes", default="10,500,999,1000,2500,10000")
    args = parser.parse_args()
    import django

    django.setup()
    from connector.expensify import ExpensifyClient, RateLimiter
    from connector.expensify.pacing import MemoryBackend
    from simulators.expensify import ExpensifySimulator

    first = date(2026, 1, 1)
    for size in (int(s) for s in args.sizes.split(",")):
        reports = []
        for i in range(size):
            day = (first + timedelta(days=i % 300)).isoformat()
            reports.append({"reportID": f"R{i}", "status": "Approved", "currency": "USD", "policyID": "BENCH",
                            "created": day, "submitted": day, "approved": day, "total": 100,
                            "transactionList": [{"transactionID": f"t{i}", "amount": 100}]})
        with ExpensifySimulator(data={"reports": reports, "credentials": {"p": "secret-xyz"}},
                                rates=[(10**9, 1.0)], render_delay=args.render_delay) as sim:
            client = ExpensifyClient(
                base_url=sim.base_url, partner_user_id="p", partner_user_secret="secret-xyz",
                limiter=RateLimiter("bench", backend=MemoryBackend(), rules=()),
                download_poll_seconds=1.0,
            )
            got = sum(1 for _ in client.export_reports(
                label="L", policy_ids=["BENCH"], start_date=first, end_date=date(2026, 11, 25),
                limit=args.limit))
            stats = client.last_export
            print(f"{size:>6} reports (limit {args.limit}): {got} returned, {client.calls} requests "
                  f"({stats.renders} renders, {stats.downloads} downloads, "
                  f"{stats.windows_split} windows split); at Expensify's limits "
                  f">= {seconds_at_real_limits(client.calls):.0f} s")
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
