"""manage.py export_company CODE: write one company's configuration as JSON or TOML, without secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connector.models import Company
from console.company_file import company_to_data, dumps


class Command(BaseCommand):
    help = (
        "Write a company's settings, connections and mappings as a company file. Secrets are "
        "never written: each set secret appears as an env:NAME placeholder to fill in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="The company's 3-character Sage company code.")
        parser.add_argument(
            "--format",
            choices=("json", "toml"),
            help="Output format (default: from the --output extension, else json).",
        )
        parser.add_argument("--output", type=Path, help="Write to this file instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        code = options["code"].strip().upper()
        company = Company.objects.filter(code=code).first()
        if company is None:
            raise CommandError(f"no company with code {code!r}")
        output: Path | None = options["output"]
        file_format = options["format"]
        if file_format is None:
            file_format = "toml" if output is not None and output.suffix.lower() == ".toml" else "json"
        text = dumps(company_to_data(company=company), file_format=file_format)
        if output is None:
            self.stdout.write(text, ending="")
            return
        output.write_text(text, encoding="utf-8")
        self.stderr.write(f"Wrote company {company.code} to {output} ({file_format}).")
