"""manage.py setup_demo: the admin login and the demo company wired to the bundled simulators."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from console.demo import ensure_admin, ensure_demo_company


class Command(BaseCommand):
    help = "Create the demo admin user and the demo company (ABC) pointing at the bundled simulators."

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = ensure_admin()
        company = ensure_demo_company()
        self.stdout.write(f"Demo company {company} is set up with its mappings.")
        self.stdout.write(f"Admin login: username '{username}', password '{password}' (kept in var/).")
