"""The chaos run: 1,000 reports, 3 companies, 2 qclusters and `manage.py sync` at once, faults everywhere.

30 % of Sage writes fail transiently (a seeded lock storm before the commit, seeded 504s and dropped
connections after it), Expensify answers a seeded share of requests with 429 or 5xx on top of its
own (scaled) rate limits. Two `manage.py qcluster` processes take the companies' sync tasks from
Redis while a third process runs `manage.py sync` over and over, until every report is exported
or the time bound passes. Then: one entry per report in Sage, GL totals to the cent, every report
marked, the write limit held, `manage.py reconcile` clean. CHAOS_SEED replays the seeded streams
(data and faults; the interleaving of processes is the machine's). CHAOS_REPORTS and
CHAOS_SECONDS scale the run.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest
from django.db.models import Count

from audit.models import AuditEvent
from sync.models import ExpenseReport, ReportState, SyncRun
from tests.chaos.conftest import (
    LABEL,
    ExpensifyChaos,
    exp_get,
    expensify_data,
    expire_dead_holders,
    forget_redis_state,
    make_company,
    make_reports,
    sage_entries,
    sage_faults,
    sage_stats,
    set_expensify_chaos,
    start_expensify,
    start_sage,
)

# (code, the company's max_concurrent_writes); the agent advertises 2, so the limits are 1, 2, 2.
COMPANIES = [("CH1", 1), ("CH2", 2), ("CH3", 3)]
AGENT_MAX_WRITES = 2
REPORTS = int(os.environ.get("CHAOS_REPORTS", "1000"))
TIME_BOUND = float(os.environ.get("CHAOS_SECONDS", "210"))
# Expensify's 5 per 10 s and 20 per 60 s, ten times faster, on both sides.
RATES = [(5, 1.0), (20, 6.0)]
LOCK_STORM = 0.125  # before the commit: RECORD_LOCKED
TIMEOUT_AFTER = 0.10  # committed, then 504
DROP_AFTER = 0.10  # committed, then the connection drops
# 0.125 + 0.875 * 0.2 = 0.30 of all writes fail
EXPENSIFY_FAULTS = 0.20
WRITE_LATENCY = 0.02  # BOI takes a moment per write, so parallel posts overlap
KILL_AT = 0.35  # share of reports in Sage when one qcluster is SIGKILLed


def test_chaos_run(children, chaos_seed, capsys):
    rng = random.Random(chaos_seed)
    codes = [code for code, _ in COMPANIES]
    forget_redis_state(codes)
    sizes = [REPORTS // len(codes) + (1 if i < REPORTS % len(codes) else 0) for i in range(len(codes))]
    reports = {
        code: make_reports(code, n, random.Random(rng.random())) for code, n in zip(codes, sizes, strict=True)
    }
    expensify = start_expensify(expensify_data(reports), rates=RATES, render_delay=0.2)
    sage = start_sage(codes, max_writes=AGENT_MAX_WRITES)
    try:
        companies = [
            make_company(code, expensify, sage, max_writes=limit, max_post_attempts=12, max_retry_seconds=60)
            for code, limit in COMPANIES
        ]
        sage_faults(
            sage, lockStorm={"fraction": LOCK_STORM, "seed": rng.randrange(2**31)}, writeLatency=WRITE_LATENCY
        )
        sage.book.unknown_outcomes(
            seed=rng.randrange(2**31), timeout_after=TIMEOUT_AFTER, drop_after=DROP_AFTER
        )
        exp_chaos = ExpensifyChaos(rng.randrange(2**31), EXPENSIFY_FAULTS)
        set_expensify_chaos(expensify, exp_chaos)

        started = time.monotonic()
        rates = ",".join(f"{n}/{w:g}" for n, w in RATES)
        workers = [children.start(f"qcluster-{i}", "qcluster", CHAOS_EXPENSIFY_RATES=rates) for i in (1, 2)]
        command, commands = None, 0
        total = sum(sizes)
        crash: dict[str, object] = {}
        while True:
            exported = ExpenseReport.objects.filter(state=ReportState.EXPORTED).count()
            if exported == total:
                break
            in_sage = sum(len(c.entries) for c in sage.book.companies.values())
            victim = holding_a_run(workers) if not crash and in_sage >= KILL_AT * total else None
            if victim is not None:
                # SIGKILL a whole cluster in the middle of a run, fast-forward what it left, start another.
                victim.kill()
                workers.remove(victim)
                crash["killed with entries in Sage"] = in_sage
                crash["posting at kill"] = ExpenseReport.objects.filter(state=ReportState.POSTING).count()
                crash.update(expire_dead_holders(codes))
                workers.append(children.start("qcluster-3", "qcluster", CHAOS_EXPENSIFY_RATES=rates))
            elapsed = time.monotonic() - started
            if elapsed > TIME_BOUND:
                left = dict(
                    ExpenseReport.objects.exclude(state=ReportState.EXPORTED)
                    .values_list("state")
                    .annotate(n=Count("id"))
                )
                tails = "\n".join(f"--- {c.name}\n{c.tail(15)}" for c in children.started)
                pytest.fail(f"{exported}/{total} exported after {elapsed:.0f} s; left: {left}\n{tails}")
            for worker in workers:
                assert worker.running(), worker.tail()
            if children.queued() < len(companies):
                for company in companies:
                    children.enqueue(company.pk)
            if command is None or not command.running():
                commands += 1
                command = children.start(f"sync-{commands}", "sync", CHAOS_EXPENSIFY_RATES=rates)
            time.sleep(0.5)
        wall = time.monotonic() - started
        for child in children.started:
            child.kill()

        # Quiet now: the checks read Sage and Expensify without faults.
        set_expensify_chaos(expensify, None)
        sage.book.unknown_outcomes(seed=0, timeout_after=0.0, drop_after=0.0)
        sage_faults(sage, lockStorm={"fraction": 0.0})
        stats = sage_stats(sage)
        reconciled = {code: children.run("reconcile", "--company", code, timeout=180) for code in codes}
        figures = collect_figures(stats, exp_chaos, expensify, reports, companies, wall, commands, chaos_seed)
        figures["qcluster killed mid-run"] = crash
        with capsys.disabled():
            print("\n" + "\n".join(f"  {k}: {v}" for k, v in figures.items()), flush=True)

        marks = exp_get(expensify, "/_sim/marks")["marks"]
        for company, (code, _limit) in zip(companies, COMPANIES, strict=True):
            ids = [r["reportID"] for r in reports[code]]
            assert stats["referenceCounts"][code] == {f"EXP {r}": 1 for r in ids}, code
            in_sage = sage_entries(sage, code)
            debits = sum(cents(line["debit"]) for entry in in_sage for line in entry["lines"])
            credits = sum(cents(line["credit"]) for entry in in_sage for line in entry["lines"])
            assert debits == credits == sum(r["total"] for r in reports[code]), code
            assert all(marks.get(r) == [LABEL] for r in ids), code
            limit = min(company.max_concurrent_writes, AGENT_MAX_WRITES)
            assert stats["maxInFlight"].get(code, 0) <= limit, (code, stats["maxInFlight"])
            result = reconciled[code]
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
            assert f"{len(ids)} entr(ies) checked, 0 difference(s)." in result.stdout
        assert stats["overLimit"] == 0
        assert set(ExpenseReport.objects.values_list("state", flat=True)) == {ReportState.EXPORTED}
        per_report = Counter(AuditEvent.objects.filter(action="posted").values_list("report_ref", flat=True))
        assert len(per_report) == total and set(per_report.values()) == {1}
        marked = Counter(
            AuditEvent.objects.filter(action="marked_exported").values_list("report_ref", flat=True)
        )
        assert len(marked) == total and set(marked.values()) == {1}
        assert figures["duplicates"] == 0 and figures["lost"] == 0
        # The run must have been the run the docs quote: a cluster really killed mid-run, faults fired.
        assert crash, "no qcluster was killed: the chaos run proved nothing about crashes"
        assert int(crash["killed with entries in Sage"]) > 0
        faults = figures["sage faults"]
        assert faults["RECORD_LOCKED (storm)"] > 0, faults
        assert faults["committed then 504"] + faults["committed then dropped"] > 0, faults
        assert sum(figures["post retries by code"].values()) > 0
        assert sum(figures["expensify faults injected"].values()) > 0
        assert figures["runs"].get("interrupted", 0) >= 1  # the killed cluster's run, closed by its successor
    finally:
        expensify.stop()
        sage.stop()


def holding_a_run(workers):
    """The qcluster one of whose worker processes holds a company's run lease now, if any."""
    from sync import leases

    for holder in [lease.holder for lease in leases.running() if lease.key.startswith("run:CH")]:
        try:
            group = os.getpgid(int(holder.split(":")[1]))
        except (ValueError, IndexError, ProcessLookupError):
            continue
        for worker in workers:
            if worker.pid == group and worker.running():
                return worker
    return None


def cents(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int(fraction)


def collect_figures(stats, exp_chaos, expensify, reports, companies, wall, commands, seed) -> dict:
    requests = exp_get(expensify, "/_sim/requests")["requests"]
    retries: Counter[str] = Counter()
    for event in AuditEvent.objects.filter(action="post_retried"):
        retries.update(event.detail.get("retries", {}))
    posted = AuditEvent.objects.filter(action="posted")
    total = sum(len(r) for r in reports.values())
    counts = stats["counts"]
    in_sage = sum(sum(refs.values()) for refs in stats["referenceCounts"].values())
    distinct = sum(len(refs) for refs in stats["referenceCounts"].values())
    runs = Counter(SyncRun.objects.values_list("outcome", flat=True))
    return {
        "seed": seed,
        "reports": total,
        "companies": ", ".join(
            f"{c.code} limit {min(c.max_concurrent_writes, AGENT_MAX_WRITES)} max in flight "
            f"{stats['maxInFlight'].get(c.code, 0)}"
            for c in companies
        ),
        "wall seconds": round(wall, 1),
        "sage posts sent": counts.get("post", 0),
        "sage faults": {
            "RECORD_LOCKED (storm)": counts.get("locked", 0),
            "committed then 504": counts.get("committed_then_timeout_after", 0),
            "committed then dropped": counts.get("committed_then_drop_after", 0),
        },
        "sage replays (same key, same body)": counts.get("replay", 0),
        "post retries by code": dict(retries),
        "settled by lookup": posted.filter(message__contains="settled by lookup").count(),
        "re-sent after an unknown outcome": posted.filter(message__contains="re-sent").count(),
        "expensify requests": len(requests),
        "expensify faults injected": dict(exp_chaos.injected),
        "expensify rate-limited by its own limits": sum(1 for r in requests if r.get("rate_limited")),
        "runs": dict(runs),
        "manage.py sync invocations": commands,
        "duplicates": in_sage - distinct,
        "lost": total - distinct,
    }
