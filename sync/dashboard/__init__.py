"""The operator's home page: per company, what needs a person, what was posted, runs and connections.

Selectors only (reads). Everything comes from a fixed number of grouped queries over all
companies at once, so the page costs the same at 10 reports or 100,000 (bench/dashboard.py):

- status.py    the company's status in words (stopped, degraded, waiting for a person, OK)
- history.py   posted today / this week / this month, and the weekly chart's history
- schedule.py  the last run and the next scheduled run in words
- health.py    one connection line per outside system (Expensify, Sage)
- cards.py     one card per company, put together from all of the above
"""

from __future__ import annotations

from sync.dashboard.cards import CompanyCard, Problem, company_cards
from sync.dashboard.health import SystemHealth, system_health
from sync.dashboard.history import CHART_WEEKS, Period, Week, posted_totals, weekly_history
from sync.dashboard.schedule import describe_run
from sync.dashboard.status import company_status

__all__ = [
    "CHART_WEEKS",
    "CompanyCard",
    "Period",
    "Problem",
    "SystemHealth",
    "Week",
    "company_cards",
    "company_status",
    "describe_run",
    "posted_totals",
    "system_health",
    "weekly_history",
]
