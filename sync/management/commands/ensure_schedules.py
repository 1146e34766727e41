"""Create, update or remove the django-q2 schedule of every company."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sync.schedules import ensure_all_schedules


class Command(BaseCommand):
    help = "Keep one django-q2 schedule per enabled company in step with its settings."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, what in sorted(ensure_all_schedules().items()):
            self.stdout.write(f"{name}: {what}")
