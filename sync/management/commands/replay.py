"""manage.py replay: post failed / needs-mapping / waiting reports again after a fix."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.management.commands.sync import companies_for
from sync.models import ExpenseReport, ReportState
from sync.services import replay


class Command(BaseCommand):
    help = "Re-read reports from Expensify, rebuild them with today's mappings and post them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", required=True, metavar="CODE")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument(
            "--report", action="append", metavar="ID", help="Expensify report ID (repeatable)."
        )
        group.add_argument(
            "--failed", action="store_true", help="Every failed, needs-mapping or waiting report."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        (company,) = companies_for([options["company"]])
        report_ids = options["report"]
        if report_ids:
            known = set(
                ExpenseReport.objects.filter(company=company, report_id__in=report_ids).values_list(
                    "report_id", flat=True
                )
            )
            unknown = [r for r in report_ids if r not in known]
            if unknown:
                raise CommandError(f"{company.code} has no report(s) {', '.join(unknown)}")
        run = replay(company=company, actor="command", report_ids=report_ids, failed=options["failed"])
        if run is None:
            self.stdout.write(
                f"{company.code}: nothing to replay (no failed, needs-mapping or waiting report)."
            )
            if report_ids:
                raise CommandError("None of the named reports can be replayed now.")
            return
        states = dict(
            ExpenseReport.objects.filter(company=company, report_id__in=report_ids or []).values_list(
                "report_id", "state"
            )
        )
        for report_id, state in sorted(states.items()):
            self.stdout.write(f"{company.code} report {report_id}: {state}")
        self.stdout.write(
            f"{company.code}: replay {run.get_outcome_display()} — posted {run.reports_posted}, exported "
            f"{run.reports_exported}, failed {run.reports_failed}, "
            f"needs mapping {run.reports_needing_mapping}" + (f"\n  {run.message}" if run.message else "")
        )
        still_bad = [s for s in states.values() if s not in (ReportState.POSTED, ReportState.EXPORTED)]
        if run.outcome not in ("success",) or still_bad:
            raise CommandError("Not every replayed report posted; see the messages above.")
