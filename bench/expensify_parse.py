"""Peak memory of parsing a 100,000-expense Expensify export, streamed from a file.

    .venv/bin/python bench/expensify_parse.py [--expenses 100000] [--per-report 50]

Writes the export (shaped exactly as template.ftl renders it) to a temp file one report at a
time, then parses it with connector.expensify.parse_export and prints peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings_test")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_export(path: Path, expenses: int, per_report: int) -> int:
    """Write the export one expense at a time, so generating it costs no memory either."""
    from simulators.expensify.render import render_export

    def rendered(report: dict) -> dict:
        return json.loads(render_export([report]))["reports"][0]

    reports = (expenses + per_report - 1) // per_report
    with path.open("w", encoding="utf-8") as out:
        out.write('{"reports": [\n')
        for r in range(reports):
            count = min(per_report, expenses - r * per_report)
            head = rendered({
                "reportID": f"R{r:07d}", "reportName": f"Trip \"{r}\" to Denver",
                "status": "Approved", "accountEmail": f"employee{r % 300}@example.com",
                "policyID": "POL1", "policyName": "Acme", "currency": "USD", "total": 0,
                "created": "2026-11-01", "submitted": "2026-11-02", "approved": "2026-11-03",
                "transactionList": [],
            })
            text = json.dumps(head, ensure_ascii=False)
            assert text.endswith("[]}")
            out.write(("," if r else "") + text[:-3] + "[\n")
            for i in range(count):
                expense = rendered({"transactionList": [{
                    "transactionID": f"{r:07d}{i:06d}", "merchant": f"Merchant {i} caf\u00e9",
                    "category": "Meals", "categoryGlCode": "6130", "tag": "Sales:West\\:Coast",
                    "currency": "USD", "amount": 1000 + i, "modifiedAmount": "",
                    "reimbursable": True, "billable": False, "created": "2026-11-01",
                    "comment": "Client dinner\nwith \"quotes\"", "type": "expense", "receiptID": "r1",
                }]})["transactions"][0]
                out.write(("," if i else "") + json.dumps(expense, ensure_ascii=False) + "\n")
            out.write("]}\n")
        out.write("]}\n")
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--expenses", type=int, default=100_000)
    parser.add_argument("--per-report", type=int, default=50)
    args = parser.parse_args()
    import django

    django.setup()
    from connector.expensify import ExpensifyReport, parse_export

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.json"
        reports = write_export(path, args.expenses, args.per_report)
        size_mb = path.stat().st_size / 1e6
        before = rss_mb()
        started = time.perf_counter()
        parsed = expenses = cents = 0
        with path.open("rb") as handle:
            for item in parse_export(handle):
                parsed += 1
                if isinstance(item, ExpensifyReport):
                    expenses += len(item.expenses)
                    cents += sum(e.amount_cents for e in item.expenses)
        elapsed = time.perf_counter() - started
    print(f"export: {reports} reports, {expenses} expenses, {size_mb:.1f} MB on disk")
    print(f"parsed {parsed} reports in {elapsed:.2f} s; total {cents} cents")
    print(f"peak RSS before parsing: {before:.1f} MB; peak RSS after parsing: {rss_mb():.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
