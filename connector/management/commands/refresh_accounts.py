"""`manage.py refresh_accounts [--company CODE ...]`: refresh the cached Sage 100 chart."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connector.models import Company
from connector.sage100.errors import SageError
from connector.sage100.services import refresh_chart


class Command(BaseCommand):
    help = "Refresh the GL account cache from Sage 100 (all enabled companies by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--company", action="append", dest="codes", metavar="CODE", help="a company code; repeatable"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        codes = [c.strip().upper() for c in options.get("codes") or []]
        companies = Company.objects.filter(code__in=codes) if codes else Company.objects.filter(enabled=True)
        missing = sorted(set(codes) - set(companies.values_list("code", flat=True)))
        failed = len(missing)
        for code in missing:
            self.stderr.write(f"{code}: no such company.")
        for company in companies.order_by("code"):
            try:
                result = refresh_chart(company)
            except SageError as exc:
                failed += 1
                self.stderr.write(f"{company.code}: failed: {exc}")
                continue
            line = f"{company.code}: {result.message}"
            self.stdout.write(line if result.mask_ok else self.style.WARNING(line))
        if failed:
            raise CommandError(f"{failed} compan{'y' if failed == 1 else 'ies'} failed.")
