"""manage.py sync: run a sync now for some or all enabled companies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connector.models import Company
from connector.money import display
from sync.management.commands._output import progress_printer
from sync.models import RunOutcome
from sync.services import RunOptions, dry_run, run_sync


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since must be a date like 2026-11-01, not {text!r}") from None


def companies_for(codes: list[str] | None) -> list[Company]:
    if not codes:
        companies = list(Company.objects.filter(enabled=True))
        if not companies:
            raise CommandError("No enabled company: add one in the admin or with import_company.")
        return companies
    wanted = [c.strip().upper() for c in codes]
    found = {c.code: c for c in Company.objects.filter(code__in=wanted)}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise CommandError(f"Unknown company code(s): {', '.join(missing)}")
    return [found[c] for c in wanted]


class Command(BaseCommand):
    help = "Export approved reports from Expensify and post them to Sage 100 now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", action="append", metavar="CODE", help="Company code (repeatable).")
        parser.add_argument("--since", metavar="DATE", help="Look at reports approved on or after DATE.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the entries; post and mark nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = parse_date(options["since"]) if options["since"] else None
        failures = 0
        for company in companies_for(options["company"]):
            if options["dry_run"]:
                failures += self.print_dry_run(company, since)
                continue
            progress, close = progress_printer(self.stdout, company.code)
            try:
                run = run_sync(
                    company=company,
                    options=RunOptions(trigger="command", actor="command", since=since, progress=progress),
                )
            finally:
                close()
            self.stdout.write(
                f"{company.code}: {run.get_outcome_display()} — seen {run.reports_seen}, posted "
                f"{run.reports_posted}, exported {run.reports_exported}, failed {run.reports_failed}, "
                f"needs mapping {run.reports_needing_mapping}, retrying {run.reports_retrying}, "
                f"changed {run.reports_changed}" + (f"\n  {run.message}" if run.message else "")
            )
            # Another run holding the company's lease is doing the work: not a failure.
            if run.outcome not in (RunOutcome.SUCCESS, RunOutcome.SKIPPED):
                failures += 1
        if failures:
            raise CommandError(
                f"{failures} company run(s) did not finish cleanly; see the admin for details."
            )

    def print_dry_run(self, company: Company, since: dt.date | None) -> int:
        problems = 0
        try:
            items = dry_run(company=company, since=since)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not items:
            self.stdout.write(
                f"{company.code}: nothing to post — Expensify shows no approved, unexported report."
            )
        for item in items:
            self.stdout.write(
                f"{company.code} report {item.report_id} ({item.employee_email}): {item.outcome}"
            )
            if item.message:
                self.stdout.write(f"  {item.message}")
            if item.outcome in ("needs_mapping", "rejected"):
                problems += 1
            if item.built is None:
                continue
            self.stdout.write(
                f"  {item.built.reference} dated {item.built.posting_date}: {item.built.comment}"
            )
            for line in item.built.lines:
                debit = display(line.debit_cents) if line.debit_cents else ""
                credit = display(line.credit_cents) if line.credit_cents else ""
                self.stdout.write(f"    {line.account:<20} {debit:>14} {credit:>14}  {line.comment}")
        return 1 if problems else 0
