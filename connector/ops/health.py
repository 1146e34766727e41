"""What a load balancer or monitor may know: reachability, migrations, workers, stop flags.

Only booleans, counts, company codes and status words leave this module: never an error's text,
which might carry a host, a user name or a password.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from connector.ops.upgrade import PAUSED, running_syncs

logger = logging.getLogger(__name__)

# django-q2's scheduler looks every 30 s; a schedule this late means no cluster is running it.
SCHEDULE_LATE_AFTER = dt.timedelta(minutes=5)
BROKER_TIMEOUT_SECONDS = 2.0

OK, DEGRADED, DOWN = "ok", "degraded", "down"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class CompanyFlags:
    code: str
    enabled: bool
    stopped: bool


@dataclasses.dataclass(frozen=True)
class Health:
    database: bool
    broker: bool
    migrations_applied: bool | None
    unapplied_migrations: int | None
    # Clusters whose heartbeat (django-q2 keeps it 3 s) is in the broker; None when the broker can't tell.
    worker_clusters: int | None
    schedules_late: int | None
    schedules_paused: int | None
    running_syncs: int | None
    companies: tuple[CompanyFlags, ...]

    @property
    def workers_ok(self) -> bool:
        """Workers seen in the broker (when it can tell) and no schedule left unrun."""
        seen = self.worker_clusters is None or self.worker_clusters > 0
        return seen and self.schedules_late == 0

    @property
    def status(self) -> str:
        """down: something the connector cannot work without; degraded: a person should look."""
        if not (self.database and self.broker and self.migrations_applied and self.workers_ok):
            return DOWN
        if self.schedules_paused or any(c.enabled and c.stopped for c in self.companies):
            return DEGRADED
        return OK

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the health page and of `manage.py health --json`."""
        stopped = [c.code for c in self.companies if c.enabled and c.stopped]
        return {
            "status": self.status,
            "checks": {
                "database": self.database,
                "broker": self.broker,
                "migrations_applied": self.migrations_applied,
                "workers": self.workers_ok,
            },
            "counts": {
                "unapplied_migrations": self.unapplied_migrations,
                "worker_clusters": self.worker_clusters,
                "schedules_late": self.schedules_late,
                "schedules_paused": self.schedules_paused,
                "running_syncs": self.running_syncs,
                "companies": len(self.companies),
                "companies_enabled": sum(c.enabled for c in self.companies),
                "companies_stopped": len(stopped),
            },
            "companies": [dataclasses.asdict(c) for c in self.companies],
        }


def check_health() -> Health:
    """Run every check; a failing check is logged by its exception's type only."""
    database = _database_reachable()
    broker = _broker_reachable(database)
    if not database:
        return Health(False, broker, None, None, None, None, None, None, ())
    unapplied = _guard("migrations", _unapplied_migrations)
    return Health(
        database=True,
        broker=broker,
        migrations_applied=None if unapplied is None else unapplied == 0,
        unapplied_migrations=unapplied,
        worker_clusters=_guard("workers", _worker_clusters) if broker else None,
        schedules_late=_guard("schedules", _late_schedules),
        schedules_paused=_guard("schedules", _paused_schedules),
        # Run leases live in the coordination store (Redis when the broker is): not asked when down.
        running_syncs=_guard("leases", running_syncs) if broker else None,
        companies=_guard("companies", _company_flags) or (),
    )


def _guard(what: str, check: Callable[[], T]) -> T | None:
    try:
        return check()
    except Exception as exc:  # a health check reports, it never raises
        logger.warning("health: the %s check failed (%s)", what, type(exc).__name__)
        return None


def _database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means the same to a monitor
        logger.warning("health: the database check failed (%s)", type(exc).__name__)
        connection.close_if_unusable_or_obsolete()
        return False
    return True


def _redis_url() -> str:
    return str(settings.Q_CLUSTER.get("redis") or "")


def _broker_reachable(database: bool) -> bool:
    url = _redis_url()
    if not url:
        return database  # the ORM broker is the database
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT_SECONDS, socket_connect_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        return bool(client.ping())
    except Exception as exc:  # connection refused, timeout, auth: a monitor needs only "no"
        logger.warning("health: the broker check failed (%s)", type(exc).__name__)
        return False
    finally:
        client.close()


def _unapplied_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _worker_clusters() -> int | None:
    if not _redis_url():
        return None  # the ORM broker keeps heartbeats in a per-process cache: nothing to see
    from django_q.brokers import get_broker
    from django_q.status import Stat

    return len(Stat.get_all(broker=get_broker()))


def _late_schedules() -> int:
    from django_q.models import Schedule

    due_long_ago = timezone.now() - SCHEDULE_LATE_AFTER
    live = Schedule.objects.exclude(repeats=0).exclude(cluster__startswith=PAUSED)
    return int(live.filter(next_run__lt=due_long_ago).count())


def _paused_schedules() -> int:
    from django_q.models import Schedule

    return int(Schedule.objects.filter(cluster__startswith=PAUSED).count())


def _company_flags() -> tuple[CompanyFlags, ...]:
    from connector.models import Company

    rows = Company.objects.order_by("code").values_list("code", "enabled", "blocked_reason")
    return tuple(CompanyFlags(code, enabled, bool(reason)) for code, enabled, reason in rows)

