"""manage.py schedules: pause and resume every django-q2 schedule, wait for running syncs (upgrades)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connector.ops.upgrade import (
    pause_schedules,
    paused_count,
    resume_schedules,
    running_syncs,
    wait_for_running_syncs,
)


class Command(BaseCommand):
    help = (
        "Upgrades: `pause` stops every schedule from firing (add --wait to wait for running syncs), "
        "`wait` waits for running syncs, `resume` lets schedules fire again, `status` shows both. "
        "See docs/operations.md for the upgrade order."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["pause", "resume", "wait", "status"])
        parser.add_argument(
            "--wait", action="store_true", help="pause: then wait until no sync runs on any host."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=1800.0,
            help="Seconds to wait for running syncs before giving up with exit 1 (default 1800).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "pause":
            self.stdout.write(f"Paused {pause_schedules()} schedule(s); {paused_count()} paused in all.")
        elif action == "resume":
            self.stdout.write(f"Resumed {resume_schedules()} schedule(s).")
        elif action == "status":
            self.stdout.write(f"paused schedules: {paused_count()}; running syncs: {running_syncs()}")
        if action == "wait" or (action == "pause" and options["wait"]):
            self._wait(options["timeout"])

    def _wait(self, timeout: float) -> None:
        last = [-1]

        def progress(running: int, left: float) -> None:
            if running != last[0]:
                self.stdout.write(f"Waiting for {running} running sync(s), {left:.0f} s left...")
                last[0] = running

        if not wait_for_running_syncs(timeout=timeout, progress=progress):
            raise CommandError(
                f"{running_syncs()} sync(s) still running after {timeout:.0f} s: "
                "wait longer, or stop the workers (an interrupted run resumes safely)."
            )
        self.stdout.write("No sync is running.")
