"""manage.py reconcile: compare what this connector posted with what Sage 100 holds."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connector.money import display
from sync.management.commands.sync import companies_for, parse_date
from sync.services import reconcile


class Command(BaseCommand):
    help = (
        "Every entry this connector posted against every Sage entry with its reference prefix: "
        "missing, duplicated, different (the accounts and amounts, in words), or unknown to the "
        "connector. A corrected report is one row: Sage's net per account against Expensify's "
        "latest approved revision."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", required=True, metavar="CODE")
        parser.add_argument("--since", metavar="DATE", help="Only entries dated on or after DATE.")

    def handle(self, *args: Any, **options: Any) -> None:
        (company,) = companies_for([options["company"]])
        since = parse_date(options["since"]) if options["since"] else None
        rows = reconcile(company=company, since=since)
        self.stdout.write(
            f"{'report':<16} {'reference':<22} {'ours':<8} {'Sage':<16} {'our total':>14} "
            f"{'Sage total':>14}  status"
        )
        for row in rows:
            ours = "" if row.our_total_cents is None else display(row.our_total_cents)
            theirs = "" if row.their_total_cents is None else display(row.their_total_cents)
            self.stdout.write(
                f"{row.report_id:<16} {row.reference:<22} {row.ours:<8} {row.theirs:<16} "
                f"{ours:>14} {theirs:>14}  {row.status}"
            )
            for part in filter(None, row.detail.split("; ")):
                self.stdout.write(f"    {part}")
        bad = [r for r in rows if not r.ok]
        self.stdout.write(f"{len(rows)} entr(ies) checked, {len(bad)} difference(s).")
        if bad:
            raise CommandError(f"{len(bad)} difference(s) between this connector and Sage 100.")
