"""manage.py rundemo: simulators, a first sync, a django-q2 cluster and the admin, in one go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from connector.demo import ADMIN_PORT, EXPENSIFY_PORT, SAGE_PORT, ensure_admin


def wait_for(url: str, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise CommandError(f"The {what} did not start on {url} within {seconds:.0f} s (is the port taken?).")


INTENDED = """
  Two reports wait for you on purpose, to show how a fix works (docs/demo.md walks through it):
  - R03OffS1te22 needs a mapping: category "Team Offsite" has none. The report's page links to the
    mapping form, prefilled; save it (e.g. 6100-00-000), then press Replay on the report.
  - R04G1fts0Nov failed: "Client Gifts" maps to 6900-00-000, retired (inactive) in Sage. Change the
    mapping to 6500-00-000 from the link on the report's page, then Replay.
  Your fixes stay: restarting the demo never overwrites a mapping you changed.
"""


class Command(BaseCommand):
    help = "Run the whole demo: Expensify and Sage 100 simulators, a first sync, qcluster and the admin."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-serve", action="store_true", help="Stop after the first sync (for tests).")

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        log_dir = settings.VAR_DIR / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        children: list[subprocess.Popen[bytes]] = []

        def spawn(name: str, argv: list[str]) -> None:
            log = open(log_dir / f"{name}.log", "ab")  # closed when the demo ends with the process
            children.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

        try:
            # The simulators keep their state under var/: a restarted demo still finds in Sage what it
            # posted and in Expensify what it marked, so `reconcile` stays clean.
            state = settings.VAR_DIR / "simulators"
            spawn(
                "expensify-simulator",
                [
                    python,
                    "-m",
                    "simulators.expensify",
                    "--demo",
                    "--port",
                    str(EXPENSIFY_PORT),
                    "--state",
                    str(state / "expensify.json"),
                ],
            )
            spawn(
                "sage100-simulator",
                [
                    python,
                    "-m",
                    "simulators.sage100",
                    "--demo",
                    "--port",
                    str(SAGE_PORT),
                    "--state",
                    str(state / "sage100.json"),
                ],
            )
            wait_for(f"http://127.0.0.1:{EXPENSIFY_PORT}/_sim/marks", "Expensify simulator")
            wait_for(f"http://127.0.0.1:{SAGE_PORT}/_sim/stats", "Sage 100 simulator")
            self.stdout.write(
                f"Simulators: Expensify on :{EXPENSIFY_PORT}, Sage 100 on :{SAGE_PORT} (logs in var/logs)"
            )
            self.stdout.write("First sync of the demo company:")
            try:
                call_command("sync", company=["ABC"], stdout=self.stdout)
            except CommandError as exc:
                self.stdout.write(f"  ({exc})")
            self.stdout.write(INTENDED)
            call_command("ensure_schedules", stdout=self.stdout)
            if options["no_serve"]:
                return
            spawn("qcluster", [python, "manage.py", "qcluster"])
            username, password = ensure_admin()
            self.stdout.write(
                f"\nAdmin: http://127.0.0.1:{ADMIN_PORT}/admin/  login '{username}' / '{password}'\n"
                "Walk-through: docs/demo.md. Stop with Ctrl-C.\n"
            )
            server = subprocess.Popen(
                [python, "manage.py", "runserver", f"127.0.0.1:{ADMIN_PORT}", "--noreload"],
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            children.append(server)
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for child in reversed(children):
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
