"""What building an entry needs from the database and Sage, loaded once per run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from connector.models import Company
from connector.sage100.types import FiscalPeriod
from sync import journal, selectors


class PeriodCache:
    """Fiscal periods from Sage, fetched once per fiscal year per run."""

    def __init__(self, fetch: Callable[[int], list[FiscalPeriod]]) -> None:
        self._fetch = fetch
        self._years: dict[int, list[tuple[dt.date, dt.date, bool]]] = {}

    def around(self, day: dt.date) -> journal.Periods:
        rows: list[tuple[dt.date, dt.date, bool]] = []
        for year in (day.year, day.year + 1, day.year + 2):
            if year not in self._years:
                self._years[year] = [(p.start, p.end, p.status == "open") for p in self._fetch(year)]
            rows.extend(self._years[year])
        return journal.Periods(rows)


@dataclass
class BuildContext:
    """The company's rules, mappings, cached chart and Sage periods: all a build reads."""

    company: Company
    rules: journal.CompanyRules
    mappings: journal.MappingTables
    chart: journal.Chart
    periods: PeriodCache
    export_date: dt.date

    @classmethod
    def load(cls, company: Company, periods: PeriodCache) -> BuildContext:
        return cls(
            company=company,
            rules=selectors.company_rules(company),
            mappings=selectors.mapping_tables(company),
            chart=selectors.chart(company),
            periods=periods,
            export_date=timezone.localdate(),
        )

    def build(self, report: journal.ReportInput) -> journal.BuiltEntry | journal.NothingToPost:
        """The entry for this revision of the report (raises NeedsMapping / ReportRejected)."""
        anchor = report.approved_on or self.export_date
        latest = max([e.spent_on for e in report.expenses if e.spent_on] + [anchor, self.export_date])
        periods = self.periods.around(min(anchor, latest))
        return journal.build_entry(
            report, self.rules, self.mappings, self.chart, periods, export_date=self.export_date
        )
