"""manage.py health: the health page as a command for cron-style monitors (exit 0 ok, 1 degraded, 2 down)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from connector.ops.health import DEGRADED, DOWN, check_health

EXIT_CODES = {DEGRADED: 1, DOWN: 2}


class Command(BaseCommand):
    help = (
        "Check the database, the broker, migrations, workers, schedules and company stop flags. "
        "Exit 0 when ok, 1 when degraded (a company stopped, schedules paused), 2 when down."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Print the health page's JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = check_health()
        body = report.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(body, indent=2))
        else:
            self.stdout.write(f"status: {body['status']}")
            for name, passed in body["checks"].items():
                self.stdout.write(f"  {name}: {_word(passed)}")
            for name, count in body["counts"].items():
                self.stdout.write(f"  {name.replace('_', ' ')}: {'unknown' if count is None else count}")
            for company in body["companies"]:
                if company["enabled"] and company["stopped"]:
                    self.stdout.write(f"  company {company['code']}: stopped (see its page in the admin)")
        code = EXIT_CODES.get(report.status, 0)
        if code:
            sys.exit(code)


def _word(passed: bool | None) -> str:
    return "unknown" if passed is None else ("ok" if passed else "FAILED")
