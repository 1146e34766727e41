"""Pausing schedules for an upgrade: django-q2's own scheduler skips them; resume restores them."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from connector.coordination import get_backend
from connector.ops.upgrade import (
    PAUSED,
    pause_schedules,
    resume_schedules,
    running_syncs,
    wait_for_running_syncs,
)
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A queue of this test's own, so tasks the scheduler creates reach no other test's workers."""
    own = get_broker(list_key=f"upgrade-test-{uuid.uuid4().hex[:8]}")
    yield own
    own.delete_queue()


def due_schedule(cluster: str | None = None) -> Schedule:
    return Schedule.objects.create(
        name=f"due {uuid.uuid4().hex[:6]}",
        func="math.floor",
        args="1.5",
        schedule_type=Schedule.MINUTES,
        minutes=5,
        repeats=-1,
        next_run=timezone.now() - dt.timedelta(seconds=5),
        cluster=cluster,
    )


def test_pause_and_resume_restore_each_cluster() -> None:
    plain, routed = due_schedule(), due_schedule(cluster="reports")
    assert pause_schedules() == 2
    assert pause_schedules() == 0  # pausing twice changes nothing
    plain.refresh_from_db()
    routed.refresh_from_db()
    assert (plain.cluster, routed.cluster) == (PAUSED, f"{PAUSED}:reports")
    assert resume_schedules() == 2
    plain.refresh_from_db()
    routed.refresh_from_db()
    assert (plain.cluster, routed.cluster) == (None, "reports")


# django-q2's scheduler closes the connection it finds inside a transaction: no test transaction here.
@pytest.mark.django_db(transaction=True)
def test_scheduler_skips_paused_schedules_and_runs_them_after_resume(broker: Broker) -> None:
    schedule = due_schedule()
    due_at = schedule.next_run
    pause_schedules()
    scheduler(broker=broker)
    schedule.refresh_from_db()
    assert (schedule.task, schedule.next_run) == (None, due_at)
    resume_schedules()
    scheduler(broker=broker)
    schedule.refresh_from_db()
    assert schedule.task is not None
    assert schedule.next_run > timezone.now()


def test_a_company_saved_during_the_pause_stays_paused(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        company = CompanyFactory(code="ABC", schedule_kind="daily", schedule_time=dt.time(6, 15))
    pause_schedules()
    company.schedule_time = dt.time(7, 30)
    with django_capture_on_commit_callbacks(execute=True):
        company.save()
    schedule = Schedule.objects.get(func="sync.tasks.sync_company")
    assert schedule.cron == "30 7 * * *"
    assert schedule.cluster == PAUSED


def take_lease(key: str, seconds: float) -> None:
    """Taken in the backend the runs use (the one rule), as a run on another host would."""
    assert get_backend().claim(key, holder="host:1:test", seconds=seconds)


def test_only_unexpired_run_leases_are_running_syncs() -> None:
    take_lease("run:ABC", 60)
    take_lease("run:OLD", 0.001)
    take_lease("write:ZZZ:0", 60)
    time.sleep(0.01)  # run:OLD has expired by the store's clock
    try:
        assert running_syncs() == 1
    finally:
        get_backend().release("write:ZZZ:0", holder="host:1:test")


def test_wait_gives_up_at_its_timeout_while_a_sync_runs() -> None:
    take_lease("run:ABC", 60)
    assert wait_for_running_syncs(timeout=0.3, poll=0.1) is False
    with pytest.raises(CommandError, match="1 sync"):
        call_command("schedules", "wait", "--timeout", "0.3")


def test_wait_returns_when_the_run_lease_is_released() -> None:
    take_lease("run:ABC", 60)
    seen: list[int] = []

    def release_on_first_look(running: int, left: float) -> None:
        seen.append(running)
        get_backend().release("run:ABC", holder="host:1:test")

    assert wait_for_running_syncs(timeout=10, poll=0.05, progress=release_on_first_look) is True
    assert seen == [1]


def test_command_pause_wait_resume() -> None:
    due_schedule()
    call_command("schedules", "pause", "--wait", "--timeout", "1")
    assert Schedule.objects.filter(cluster=PAUSED).count() == 1
    call_command("schedules", "resume")
    assert Schedule.objects.filter(cluster__startswith=PAUSED).count() == 0
