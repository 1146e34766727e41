"""Upgrades: pause every django-q2 schedule, wait for running syncs, resume.

A paused schedule keeps its row; its `cluster` names a cluster that never runs
("paused-for-upgrade", or "paused-for-upgrade:<its own cluster>"), so no scheduler picks it up,
a company save (which rewrites name, cron and next run) does not un-pause it, and resuming
restores exactly what was there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import transaction

from connector.coordination import RUN_LEASE_PREFIX, get_backend

PAUSED = "paused-for-upgrade"


def pause_schedules() -> int:
    """Pause every schedule not paused yet; returns how many were paused now."""
    from django_q.models import Schedule

    with transaction.atomic():
        schedules = list(Schedule.objects.select_for_update().exclude(cluster__startswith=PAUSED))
        for schedule in schedules:
            schedule.cluster = PAUSED if not schedule.cluster else f"{PAUSED}:{schedule.cluster}"
        Schedule.objects.bulk_update(schedules, ["cluster"])
    return len(schedules)


def resume_schedules() -> int:
    """Give every paused schedule its own cluster back; returns how many were resumed."""
    from django_q.models import Schedule

    with transaction.atomic():
        schedules = list(Schedule.objects.select_for_update().filter(cluster__startswith=PAUSED))
        for schedule in schedules:
            original = (schedule.cluster or "").removeprefix(PAUSED).removeprefix(":")
            schedule.cluster = original or None
        Schedule.objects.bulk_update(schedules, ["cluster"])
    return len(schedules)


def paused_count() -> int:
    """How many schedules are paused now."""
    from django_q.models import Schedule

    return int(Schedule.objects.filter(cluster__startswith=PAUSED).count())


def running_syncs() -> int:
    """Sync runs in progress on any host: run leases not expired by the coordination store's clock
    (the same backend the runs take them in: `connector.coordination.get_backend()`)."""
    return len(get_backend().held(RUN_LEASE_PREFIX))


def wait_for_running_syncs(
    *,
    timeout: float,
    poll: float = 1.0,
    progress: Callable[[int, float], None] | None = None,
) -> bool:
    """Wait until no sync runs anywhere; False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        running = running_syncs()
        if running == 0:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if progress is not None:
            progress(running, left)
        time.sleep(min(poll, left))
