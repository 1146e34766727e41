"""manage.py rundemo: simulators, a first sync, a django-q2 cluster and the admin, in one go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from console.demo import ADMIN_PORT, EXPENSIFY_PORT, SAGE_PORT, ensure_admin


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


class DemoProcesses:
    """The demo's child processes, logged under var/logs and stopped together (Ctrl-C, newest first)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, argv: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # closed when the demo process ends
        self.children.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def serve_admin(self) -> None:
        """Run the admin in the foreground until it stops."""
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{ADMIN_PORT}", "--noreload"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.children.append(server)
        server.wait()

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def start_simulators(processes: DemoProcesses, stdout: OutputWrapper) -> None:
    """Both simulators, keeping their state under var/: a restarted demo still finds in Sage what it
    posted and in Expensify what it marked, so `reconcile` stays clean."""
    state = settings.VAR_DIR / "simulators"
    for name, module, port, state_file in (
        ("expensify-simulator", "simulators.expensify", EXPENSIFY_PORT, "expensify.json"),
        ("sage100-simulator", "simulators.sage100", SAGE_PORT, "sage100.json"),
    ):
        argv = [
            sys.executable,
            "-m",
            module,
            "--demo",
            "--port",
            str(port),
            "--state",
            str(state / state_file),
        ]
        processes.spawn(name, argv)
    wait_for(f"http://127.0.0.1:{EXPENSIFY_PORT}/_sim/marks", "Expensify simulator")
    wait_for(f"http://127.0.0.1:{SAGE_PORT}/_sim/stats", "Sage 100 simulator")
    stdout.write(f"Simulators: Expensify on :{EXPENSIFY_PORT}, Sage 100 on :{SAGE_PORT} (logs in var/logs)")


def first_sync(stdout: OutputWrapper) -> None:
    """The demo company's first run, and the schedules the workers will follow."""
    stdout.write("First sync of the demo company:")
    try:
        call_command("sync", company=["ABC"], stdout=stdout)
    except CommandError as exc:
        stdout.write(f"  ({exc})")
    stdout.write(INTENDED)
    call_command("ensure_schedules", stdout=stdout)


class Command(BaseCommand):
    help = "Run the whole demo: Expensify and Sage 100 simulators, a first sync, qcluster and the admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="Stop after the first sync (for tests).")

    def handle(self, *args: Any, **options: Any) -> None:
        processes = DemoProcesses(settings.VAR_DIR / "logs")
        try:
            start_simulators(processes, self.stdout)
            first_sync(self.stdout)
            if options["no_serve"]:
                return
            processes.spawn("qcluster", [sys.executable, "manage.py", "qcluster"])
            username, password = ensure_admin()
            self.stdout.write(
                f"\nAdmin: http://127.0.0.1:{ADMIN_PORT}/admin/  login '{username}' / '{password}'\n"
                "Walk-through: docs/demo.md. Stop with Ctrl-C.\n"
            )
            processes.serve_admin()
        except KeyboardInterrupt:
            pass
        finally:
            processes.stop()
