"""The heavy reliability runs (docs/reliability.md): real processes on PostgreSQL + Redis.

Both simulators run in this process on loopback ports (children reach them over HTTP), with test
hooks the stock simulators lack: a Sage book that can hold a post just before or just after its
commit (so a test can SIGKILL the worker at that moment) and that injects seeded unknown outcomes
(504 or a dropped connection after the commit); an Expensify handler that answers a seeded share
of requests with 429 or 5xx. Child processes (`manage.py qcluster`, `manage.py sync`,
`manage.py reconcile`) use the test database, the test Redis, a queue of their own and the same
keys as connector/settings_test.py, and each runs in its own process group, killed at teardown.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from simulators.expensify import ExpensifySimulator
from simulators.expensify.server import _Handler
from simulators.sage100 import SageSimulator
from simulators.sage100.core import DropConnection, Fault, SageBook
from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME, demo

REPO = Path(__file__).resolve().parents[2]
TODAY = date.today()
CATEGORIES = {
    "Airfare": "6100-00-000",
    "Lodging": "6100-00-000",
    "Ground Transportation": "6100-00-000",
    "Conference Fees": "6100-00-000",
    "Meals & Entertainment": "6110-00-000",
    "Office Supplies": "6200-00-000",
    "Mileage": "6400-00-000",
}
DEPARTMENTS = {"Field Ops": "01", "Engineering": "02", "Sales": "00", "Finance": "00"}
LABEL = "ml-connector"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = ""
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        reason = "chaos runs need PostgreSQL: set DATABASE_URL=postgres://... (make chaos does)"
    elif not getattr(settings, "REDIS_URL", ""):
        reason = (
            "chaos runs need Redis (django-q2 broker, write slots, limiter): set REDIS_URL (make chaos does)"
        )
    if not reason:
        return
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


# -- seeds -------------------------------------------------------------------------------------------


@pytest.fixture
def chaos_seed() -> int:
    """CHAOS_SEED replays a run; otherwise a fresh seed, printed so a failure can be replayed."""
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"\nCHAOS_SEED={seed}", flush=True)
    return seed


# -- the Sage 100 simulator with hooks -------------------------------------------------------------


class HoldPoint:
    """Stops the next post at one point of its write until the test releases (or drops) it."""

    def __init__(self) -> None:
        self.armed = False
        self.reached = threading.Event()
        self.released = threading.Event()
        self.drop = False
        self.key = ""

    def arm(self) -> None:
        self.armed, self.drop = True, False
        self.reached.clear()
        self.released.clear()

    def hit(self, key: str) -> None:
        if not self.armed:
            return
        self.armed = False
        self.key = key
        self.reached.set()
        self.released.wait(120)
        if self.drop:
            raise DropConnection

    def release(self, *, drop: bool = False) -> None:
        self.drop = drop
        self.released.set()


class ChaosBook(SageBook):
    """SageBook plus hold points around the commit and seeded after-commit failures."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.before_commit = HoldPoint()
        self.after_commit = HoldPoint()
        self.chaos_rng: random.Random | None = None
        self.timeout_after = 0.0
        self.drop_after = 0.0
        self.injected: dict[str, int] = {}

    def unknown_outcomes(self, *, seed: int, timeout_after: float, drop_after: float) -> None:
        with self.cond:
            self.chaos_rng = random.Random(seed)
            self.timeout_after, self.drop_after = timeout_after, drop_after

    def take_fault(self, op: str, company: str) -> Fault | None:
        fault = super().take_fault(op, company)
        if fault is not None or op != "post" or self.chaos_rng is None:
            return fault
        with self.cond:
            draw = self.chaos_rng.random()
            kind = ""
            if draw < self.timeout_after:
                kind = "timeout_after"
            elif draw < self.timeout_after + self.drop_after:
                kind = "drop_after"
            if kind:
                self.injected[kind] = self.injected.get(kind, 0) + 1
        return Fault(kind, times=None) if kind else None

    def _write(self, company: Any, key: str, entry: dict[str, Any], fault: Fault | None) -> Any:
        self.before_commit.hit(key)
        status, answer, after = super()._write(company, key, entry, fault)
        if after is not None:
            self.count(f"committed_then_{after.fault}")
        self.after_commit.hit(key)
        return status, answer, after


def sage_config(codes: list[str], *, max_writes: int = 2) -> dict[str, Any]:
    """The demo's company ABC (chart, periods, structure) under each of `codes`."""
    config = demo()
    (abc,) = [c for c in config["companies"] if c["code"] == "ABC"]
    config["companies"] = [
        dict(abc, code=code, name=f"Chaos {code}", maxConcurrentWrites=max_writes) for code in codes
    ]
    config["users"][DEMO_USERNAME]["companies"] = {code: "post" for code in codes}
    config["pageSize"] = 1000
    return config


def start_sage(codes: list[str], *, max_writes: int = 2) -> SageSimulator:
    simulator = SageSimulator(sage_config(codes, max_writes=max_writes))
    simulator.book = simulator.server.book = ChaosBook(simulator.book.config)
    return simulator.start()


def sage_stats(simulator: SageSimulator) -> dict[str, Any]:
    return dict(httpx.get(simulator.base_url + "/_sim/stats", timeout=10).json())


def sage_entries(simulator: SageSimulator, code: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{simulator.base_url}/_sim/entries/{code}", timeout=30).json())


def sage_faults(simulator: SageSimulator, *faults: dict[str, Any], **spec: Any) -> None:
    payload = {"faults": list(faults), **spec}
    httpx.post(simulator.base_url + "/_sim/faults", json=payload, timeout=5).raise_for_status()


# -- the Expensify simulator with seeded 429/5xx --------------------------------------------------------


class ChaosHandler(_Handler):
    """Queued faults first; then, when the server has a chaos draw, a seeded share of 429/5xx."""

    def _next_fault(self, job_type: str | None) -> dict[str, Any] | None:
        fault = super()._next_fault(job_type)
        draw: Callable[[], dict[str, Any] | None] | None = getattr(self.server, "chaos_draw", None)
        if fault is None and draw is not None:
            fault = draw()
        return fault


class ExpensifyChaos:
    KINDS = ("429", "500", "502", "503")

    def __init__(self, seed: int, fraction: float) -> None:
        self.rng = random.Random(seed)
        self.fraction = fraction
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def __call__(self) -> dict[str, Any] | None:
        with self.lock:
            if self.rng.random() >= self.fraction:
                return None
            kind = self.rng.choice(self.KINDS)
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return {"kind": kind}


def start_expensify(
    data: dict[str, Any], *, rates: list[tuple[int, float]], render_delay: float = 0.2
) -> ExpensifySimulator:
    simulator = ExpensifySimulator(data=data, rates=rates, render_delay=render_delay)
    simulator._server.RequestHandlerClass = ChaosHandler
    return simulator.start()


def set_expensify_chaos(simulator: ExpensifySimulator, chaos: ExpensifyChaos | None) -> None:
    simulator._server.chaos_draw = chaos  # type: ignore[attr-defined]


def exp_get(simulator: ExpensifySimulator, path: str) -> Any:
    return httpx.get(simulator.root_url + path, timeout=30).json()


def exp_post(simulator: ExpensifySimulator, path: str, payload: Any) -> Any:
    answer = httpx.post(simulator.root_url + path, json=payload, timeout=30)
    answer.raise_for_status()
    return answer.json()


# -- data ------------------------------------------------------------------------------------------


def partner_of(code: str) -> tuple[str, str, str]:
    """(partner user ID, secret, policy ID) of a chaos company."""
    return f"chaos_{code.lower()}_partner", f"chaos-secret-{code}", f"POL{code}CHAOS"


def make_reports(code: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` small approved reports (1-3 positive expenses) of the company's policy."""
    _, _, policy = partner_of(code)
    reports = []
    for n in range(count):
        report_id = f"{code}{n:05d}"
        approved = TODAY - timedelta(days=rng.randint(1, 20))
        expenses = []
        for k in range(rng.randint(1, 3)):
            expenses.append(
                {
                    "transactionID": f"{report_id}T{k}",
                    "merchant": rng.choice(["Delta", "Hilton", "Uber", "Staples", 'Cafe "Nord"']),
                    "modifiedMerchant": "",
                    "category": rng.choice(sorted(CATEGORIES)),
                    "categoryGlCode": "",
                    "tag": f"{rng.choice(sorted(DEPARTMENTS))}:General",
                    "currency": "USD",
                    "amount": rng.randint(100, 250_000),
                    "modifiedAmount": "",
                    "created": (approved - timedelta(days=2)).isoformat(),
                    "modifiedCreated": "",
                    "reimbursable": rng.random() < 0.8,
                    "billable": False,
                    "comment": "",
                    "type": "expense",
                    "receiptID": "",
                    "hasTax": False,
                }
            )
        reports.append(
            {
                "reportID": report_id,
                "reportName": f"Chaos {report_id}",
                "status": "Approved",
                "accountEmail": f"emp{n % 17}@{code.lower()}.example.com",
                "accountID": 1000 + n,
                "policyID": policy,
                "policyName": f"Chaos {code}",
                "currency": "USD",
                "total": sum(e["amount"] for e in expenses),
                "created": (approved - timedelta(days=3)).isoformat() + " 09:00:00",
                "submitted": (approved - timedelta(days=2)).isoformat() + " 17:00:00",
                "approved": approved.isoformat() + " 11:00:00",
                "managerEmail": f"controller@{code.lower()}.example.com",
                "transactionList": expenses,
            }
        )
    return reports


def expensify_data(reports_by_code: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    credentials, policies, reports = {}, {}, []
    for code, items in reports_by_code.items():
        partner, secret, policy = partner_of(code)
        credentials[partner] = secret
        policies[policy] = {"name": f"Chaos {code}", "admins": [partner]}
        reports += items
    return {"credentials": credentials, "policies": policies, "reports": reports}


def make_company(
    code: str,
    expensify: ExpensifySimulator,
    sage: SageSimulator,
    *,
    max_writes: int = 2,
    max_post_attempts: int = 6,
    max_retry_seconds: int = 30,
) -> Any:
    """A company wired like the demo's (mask, offsets, mappings), on its own code and partner user."""
    from connector.models import Company, ExpensifyCredential, SageConnection
    from mappings.models import CategoryMapping, TagMapping

    partner, secret, policy = partner_of(code)
    company = Company.objects.create(
        code=code,
        name=f"Chaos {code}",
        account_mask="####-##-###",
        segment_names=["Main", "Department", "Location"],
        required_segments=[],
        reimbursable_offset_account="2100-00-000",
        card_offset_account="2150-00-000",
        expensify_policy_ids=policy,
        export_label=LABEL,
        export_start_date=TODAY - timedelta(days=90),
        schedule_kind="manual",
        max_concurrent_writes=max_writes,
        max_post_attempts=max_post_attempts,
        max_retry_seconds=max_retry_seconds,
    )
    ExpensifyCredential.objects.create(
        company=company,
        base_url=expensify.base_url,
        partner_user_id=partner,
        partner_user_secret=secret,
        timeout_seconds=10,
    )
    SageConnection.objects.create(
        company=company,
        transport="agent",
        base_url=sage.base_url,
        agent_api_key=DEMO_AGENT_API_KEY,
        sage_username=DEMO_USERNAME,
        sage_password=DEMO_PASSWORD,
        connect_timeout=2,
        read_timeout=10,
    )
    for category, account in CATEGORIES.items():
        CategoryMapping.objects.create(company=company, category=category, account=account)
    for department, segment_code in DEPARTMENTS.items():
        TagMapping.objects.create(
            company=company, tag_level=1, tag_value=department, segment="Department", code=segment_code
        )
    return company


def forget_redis_state(codes: list[str]) -> None:
    """Write slots and Expensify pacing of these companies (left by an earlier run on this Redis)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for code in codes:
        partner, _, _ = partner_of(code)
        for pattern in (f"ml-connector:write:{code}:*", f"mlc:throttle:expensify:{partner}*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)


def _dead(holder: str) -> bool:
    """True when a lease or claim holder (host:pid:nonce) is a process of this host that is gone."""
    import socket

    parts = holder.split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        state = Path(f"/proc/{parts[1]}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def expire_dead_holders(codes: list[str], *, stuck_seconds: float = 2.0) -> dict[str, int]:
    """Fast-forward the expiry of what dead workers left: run leases and report claims whose holder
    process is gone, and write slots still held by one token after `stuck_seconds` (a live post
    holds its slot for one request only). Returns how many of each."""
    import redis
    from django.utils import timezone

    from sync import leases as run_leases
    from sync.models import ExpenseReport, ReportState

    past = timezone.now() - timedelta(seconds=1)
    leases = [lease for lease in run_leases.running() if _dead(lease.holder)]
    for lease in leases:  # released for the dead holder, as its expiry would
        run_leases.release(lease.key, holder=lease.holder)
    claims = [
        pk
        for pk, holder in ExpenseReport.objects.filter(
            company__code__in=codes, state=ReportState.POSTING
        ).values_list("pk", "claimed_by")
        if _dead(holder)
    ]
    ExpenseReport.objects.filter(pk__in=claims).update(claimed_until=past)
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [k for code in codes for k in client.scan_iter(match=f"ml-connector:write:{code}:*")]
    before = {k: client.get(k) for k in keys}
    time.sleep(stuck_seconds)
    slots = 0
    for key, token in before.items():
        if token is not None and client.get(key) == token:
            slots += int(client.delete(key))
    return {"run leases": len(leases), "claims": len(claims), "write slots": slots}


# -- child processes ---------------------------------------------------------------------------------


def child_env(queue: str, **extra: str) -> dict[str, str]:
    """The environment of a child: the test database and Redis, the test keys, our own queue."""
    db = settings.DATABASES["default"]
    auth = db["USER"] or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SETTINGS_MODULE="tests.chaos.child_settings",
        DEBUG="1",
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEY),
        CHAOS_QUEUE=queue,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        Q_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class Child:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (the qcluster master and every worker)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self._wait_group_gone()

    def _wait_group_gone(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def close(self) -> None:
        self.kill()
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])


class Children:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Child] = []
        self.queue = f"mlc-chaos-{uuid.uuid4().hex[:10]}"

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(self.queue, **extra)

    def start(self, name: str, *argv: str, **extra_env: str) -> Child:
        child = Child(name, ["manage.py", *argv], self.env(**extra_env), self.logs)
        self.started.append(child)
        return child

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A manage.py command to its end (its own process group; killed on timeout)."""
        process = subprocess.Popen(
            [sys.executable, "manage.py", *argv],
            cwd=REPO,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def enqueue(self, company_id: int, actor: str = "chaos") -> str:
        from django_q.tasks import async_task

        return str(
            async_task(
                "sync.tasks.sync_company", company_id, "schedule", actor, cluster=self.queue, save=True
            )
        )

    def queued(self) -> int:
        from django_q.brokers import get_broker

        return int(get_broker(self.queue).queue_size() or 0)

    def close(self) -> None:
        for child in self.started:
            child.close()
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete(f"django_q:{self.queue}:q")


@pytest.fixture
def children(transactional_db: Any, tmp_path: Path) -> Iterator[Children]:
    """Child processes on the test database; every one is killed before the database is flushed."""
    logs = tmp_path / "logs"
    logs.mkdir()
    group = Children(logs)
    try:
        yield group
    finally:
        group.close()


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
