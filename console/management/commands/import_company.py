"""manage.py import_company FILE: create or update one company from a JSON or TOML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.company_file import CompanyFileError, import_company_file


class Command(BaseCommand):
    help = (
        "Create or update one company (settings, connections, mappings) from a .json or .toml "
        "company file. Secrets are read from the environment variables the file references "
        "(env:NAME). Any problem: nothing is changed. See docs/company-file.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The company file (.json or .toml).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            outcome = import_company_file(path=path, environ=os.environ, dry_run=options["dry_run"])
        except CompanyFileError as exc:
            count = len(exc.problems)
            lines = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(
                f"{path}: {count} problem{'s' if count != 1 else ''}; nothing was changed:\n{lines}"
            ) from None
        prefix = "Dry run, nothing changed: would have " if options["dry_run"] else ""
        self.stdout.write(prefix + outcome.summary())
