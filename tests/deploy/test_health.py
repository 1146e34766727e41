"""The health page and `manage.py health`: what they say, what they never say, their codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from django_q.models import Schedule

from connector.models import Company
from connector.ops.health import check_health
from connector.ops.upgrade import pause_schedules
from tests.deploy.conftest import REPO
from tests.factories import CompanyFactory, ExpensifyCredentialFactory, SageConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def worker_heartbeat() -> Iterator[None]:
    """With Redis as the broker, a worker cluster's heartbeat, written as django-q2's Stat.save writes it."""
    if not settings.REDIS_URL:
        yield  # the ORM broker keeps heartbeats per process: the page reports workers as unknown
        return
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage
    from django_q.status import Stat, Status

    broker = get_broker()
    status = Status(pid=os.getpid(), cluster_id=uuid.uuid4())
    key = Stat.get_key(status.cluster_id)
    broker.set_stat(key, SignedPackage.dumps(status, True), 60)
    yield
    broker.connection.delete(key)


def get_health() -> tuple[int, dict[str, object]]:
    response = Client().get("/health/")
    return response.status_code, response.json()


def late_schedule() -> Schedule:
    return Schedule.objects.create(
        name="sync late",
        func="sync.tasks.sync_company",
        args="1",
        schedule_type=Schedule.MINUTES,
        minutes=1,
        repeats=-1,
        next_run=timezone.now() - dt.timedelta(minutes=10),
    )


def test_page_needs_no_login_and_says_ok() -> None:
    CompanyFactory(code="ABC")
    status, body = get_health()
    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"] == {"database": True, "broker": True, "migrations_applied": True, "workers": True}
    assert body["companies"] == [{"code": "ABC", "enabled": True, "stopped": False}]
    counts = body["counts"]
    assert isinstance(counts, dict)
    assert counts["unapplied_migrations"] == 0
    assert counts["worker_clusters"] == (1 if settings.REDIS_URL else None)


def test_stopped_company_degrades_and_the_reason_stays_inside() -> None:
    company = CompanyFactory(code="STP")
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    reason = "Sage rejected password sage-password-Wm2 for STP"
    Company.objects.filter(pk=company.pk).update(blocked_reason=reason)
    CompanyFactory(code="OFF", enabled=False, blocked_reason="old trouble")
    response = Client().get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["counts"]["companies_stopped"] == 1
    assert {"code": "STP", "enabled": True, "stopped": True} in body["companies"]
    text = response.content.decode()
    for leak in ("password", "sage-password-Wm2", "expensify-secret-Qx7", "agent-key-Zr4", "old trouble"):
        assert leak not in text


def test_a_schedule_left_unrun_means_no_worker_runs_it() -> None:
    late_schedule()
    status, body = get_health()
    assert status == 503
    assert body["status"] == "down"
    assert body["checks"]["workers"] is False
    assert body["counts"]["schedules_late"] == 1


def test_paused_schedules_are_not_late_but_degrade() -> None:
    late_schedule()
    pause_schedules()
    status, body = get_health()
    assert status == 200
    assert body["status"] == "degraded"
    assert body["counts"]["schedules_paused"] == 1
    assert body["counts"]["schedules_late"] == 0


def test_unreachable_broker_is_down_and_its_url_stays_inside() -> None:
    url = "redis://:hunter2-broker-secret@127.0.0.1:1/0"  # nothing listens on port 1
    with override_settings(Q_CLUSTER={**settings.Q_CLUSTER, "redis": url}):
        report = check_health()
    assert report.broker is False
    assert report.status == "down"
    assert "hunter2" not in json.dumps(report.as_dict())


def test_command_exit_codes() -> None:
    CompanyFactory(code="ABC")
    call_command("health")  # ok: no exit
    CompanyFactory(code="STP", blocked_reason="stopped")
    with pytest.raises(SystemExit) as degraded:
        call_command("health")
    assert degraded.value.code == 1
    late_schedule()
    with pytest.raises(SystemExit) as down:
        call_command("health", json=True)
    assert down.value.code == 2


def run_health(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", "health", "--json"],
        cwd=REPO,
        env={**env, "DJANGO_SETTINGS_MODULE": "connector.settings_test", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_on_an_unreachable_database_exits_2_without_its_password() -> None:
    result = run_health("postgres://mlc:hunter2-db-secret@127.0.0.1:1/none")
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["checks"]["database"] is False
    assert "hunter2" not in result.stdout + result.stderr


def test_command_before_migrate_exits_2(tmp_path: object) -> None:
    result = run_health(f"sqlite:///{tmp_path}/bare.sqlite3")
    assert result.returncode == 2, result.stderr
    body = json.loads(result.stdout)
    assert body["checks"]["migrations_applied"] is False
    assert body["counts"]["unapplied_migrations"] > 0
