"""make smoke: the production shape on this machine, as docs/operations.md sets it up.

gunicorn (deploy/gunicorn.conf.py, started as deploy/systemd/ml-connector-web.service starts it)
with DEBUG=0 and deploy/production.env.example (placeholders filled) on PostgreSQL (database
`smoke`, dropped and created afresh) and Redis (DB 9); two `qcluster` processes as
ml-connector-worker@.service starts them; the bundled Expensify and Sage 100 simulators. Then:
the admin login through the headers a TLS proxy sends, a hashed compressed static file, the
health page and command, a scheduled sync to completion, the upgrade order (pause and wait, stop
workers, migrate, start, resume), a graceful reload, and SIGTERM to everything with a sync in
flight: no run left "running", no task lost. Prints timings; exit 1 on the first failed check.

Run: .venv/bin/python deploy/smoke.py   (SMOKE_DATABASE_URL, SMOKE_REDIS_URL override the services)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
ENV_EXAMPLE = DEPLOY / "production.env.example"
INSTALL_DIR = "/opt/ml-connector"  # where the unit files expect the checkout; here it is REPO
HOST = "connector.example.com"  # the example's ALLOWED_HOSTS, as the proxy passes it on
PLACEHOLDER = re.compile(r"<[^<>]+>")
T = TypeVar("T")


class SmokeFailure(Exception):
    """A check failed: the message says which and what was seen."""


# -- the environment file ---------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an environment file as systemd's EnvironmentFile= reads this one."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not a KEY=value line: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def fill_placeholders(values: dict[str, str]) -> dict[str, str]:
    """Replace each <placeholder> with a fresh value of the right kind, as an installer would."""
    from cryptography.fernet import Fernet

    def fresh(key: str) -> str:
        if key == "FIELD_ENCRYPTION_KEY":
            return Fernet.generate_key().decode()
        return secrets.token_urlsafe(50)

    filled: dict[str, str] = {}
    for key, value in values.items():
        filled[key] = PLACEHOLDER.sub(lambda _match, key=key: fresh(key), value)  # type: ignore[misc]
    return filled


def production_env(**overrides: str) -> dict[str, str]:
    """This process's environment without Django or connector settings, plus the example file."""
    dropped = set(read_env_file(ENV_EXAMPLE)) | {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**base, **fill_placeholders(read_env_file(ENV_EXAMPLE)), **overrides}


# -- the unit files ---------------------------------------------------------------------------------


def unit_directives(name: str) -> dict[str, list[str]]:
    """Directive → values of one unit file in deploy/systemd."""
    directives: dict[str, list[str]] = {}
    for raw in (DEPLOY / "systemd" / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            directives.setdefault(key, []).append(value)
    return directives


def unit_command(name: str, directive: str = "ExecStart") -> list[str]:
    """A unit's command with this checkout in place of /opt/ml-connector."""
    (line,) = unit_directives(name)[directive]
    return shlex.split(line.replace(INSTALL_DIR, str(REPO)))


# -- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Children started by the smoke test, each with a log file; all stopped at the end, whatever happens."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # the child keeps its own descriptor
        process = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.running[name] = process
        return process

    def stop(self, name: str, *, timeout: float = 60.0) -> int:
        """SIGTERM to the main process only (systemd's KillMode=mixed); its exit code."""
        process = self.running.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise SmokeFailure(f"{name} did not stop within {timeout:.0f} s of SIGTERM") from None

    def stop_all(self) -> None:
        for name in list(self.running):
            try:
                self.stop(name, timeout=30)
            except SmokeFailure as exc:
                print(f"  cleanup: {exc}", flush=True)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def manage(env: dict[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage_ok(env: dict[str, str], *args: str, timeout: float = 120.0) -> str:
    result = manage(env, *args, timeout=timeout)
    if result.returncode != 0:
        raise SmokeFailure(f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


def wait_until(what: str, probe: Callable[[], T | None], *, timeout: float, every: float = 0.2) -> T:
    """Call `probe` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception as exc:  # the thing may not be up yet: try again until the deadline
            last_error = f" (last: {type(exc).__name__}: {exc})"
            value = None
        if value:
            return value
        time.sleep(every)
    raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}{last_error}")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


# -- timings ----------------------------------------------------------------------------------------


class Timings:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"- {name} ...", flush=True)
        began = time.monotonic()
        yield
        took = time.monotonic() - began
        self.steps.append((name, took))
        print(f"  ok in {took:.1f} s", flush=True)

    def report(self) -> None:
        total = time.monotonic() - self.started
        print("\nsmoke timings:")
        for name, took in self.steps:
            print(f"  {took:6.1f} s  {name}")
        print(f"  {total:6.1f} s  total")


# -- the run ----------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    """Drop and create the smoke database: every run starts from a bare installation."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    check(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None, f"odd database name {name!r}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    client.flushdb()
    client.close()


class Web:
    """HTTP to gunicorn as the TLS proxy forwards it: Host, X-Forwarded-Proto, cookies by hand.

    httpx keeps Secure cookies away from an http:// URL, as a browser would; the proxy's client
    saw https, so the cookies are carried here explicitly.
    """

    def __init__(self, port: int) -> None:
        import httpx

        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15.0)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, https: bool = True, **kwargs: Any) -> Any:
        headers = {"Host": HOST, **kwargs.pop("headers", {})}
        if https:
            headers["X-Forwarded-Proto"] = "https"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, path, headers=headers, **kwargs)
        for name, value in response.cookies.items():
            self.cookies[name] = value
        return response

    def health(self) -> tuple[int, dict[str, Any]]:
        response = self.request("GET", "/health/", https=False)
        return response.status_code, response.json()

    def healthy_with_workers(self, clusters: int = 2) -> dict[str, Any] | None:
        """The health page's body once it says ok (HTTP 200) and sees `clusters` worker clusters."""
        status, body = self.health()
        seen = body.get("counts", {}).get("worker_clusters")
        return body if status == 200 and body["status"] == "ok" and seen == clusters else None


def run() -> None:
    import httpx

    timings = Timings()
    database_url = os.environ.get("SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smoke")
    redis_url = os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379/9")
    web_port, expensify_port, sage_port = free_port(), free_port(), free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="ml-connector-smoke-"))
    admin_password = secrets.token_urlsafe(16)
    env = production_env(
        DJANGO_SETTINGS_MODULE="connector.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GUNICORN_BIND=f"127.0.0.1:{web_port}",
        GUNICORN_WORKERS="2",
        STATIC_ROOT=str(log_dir / "static"),
        LOG_FORMAT="json",
        # Nothing leaves loopback: mail goes to the process log.
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        DEMO_EXPENSIFY_PORT=str(expensify_port),
        DEMO_SAGE_PORT=str(sage_port),
        DJANGO_SUPERUSER_PASSWORD=admin_password,
        PYTHONUNBUFFERED="1",
    )
    procs = Processes(log_dir, env)
    print(f"smoke: logs in {log_dir}; web :{web_port}, Expensify :{expensify_port}, Sage :{sage_port}")
    try:
        _run(timings, env, procs, web_port, expensify_port, sage_port, admin_password, redis_url, httpx)
    except SmokeFailure:
        for name in ("web", "worker-1", "worker-2", "expensify", "sage100"):
            tail = procs.log(name)[-2500:]
            if tail:
                print(f"\n--- {name}.log (tail) ---\n{tail}")
        raise
    finally:
        procs.stop_all()
        timings.report()


def _run(
    timings: Timings,
    env: dict[str, str],
    procs: Processes,
    web_port: int,
    expensify_port: int,
    sage_port: int,
    admin_password: str,
    redis_url: str,
    httpx: Any,
) -> None:
    with timings.step("bare database and broker, migrate, collectstatic, check --deploy"):
        recreate_database(env["DATABASE_URL"])
        flush_redis(redis_url)
        manage_ok(env, "migrate", "--noinput")
        collectstatic = subprocess.run(
            unit_command("ml-connector-web.service", "ExecStartPre"),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        check(collectstatic.returncode == 0, f"collectstatic failed:\n{collectstatic.stderr[-3000:]}")
        deploy_check = manage(env, "check", "--deploy", "--fail-level", "WARNING")
        check(
            deploy_check.returncode == 0,
            f"check --deploy failed:\n{deploy_check.stdout}{deploy_check.stderr}",
        )
        manage_ok(env, "createsuperuser", "--noinput", "--username", "admin", "--email", "it@example.com")

    # The smoke process reads the ledger and the queue with the same settings the services use.
    os.environ.update(env)
    import django

    django.setup()
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import Schedule, Task
    from django_q.tasks import async_task

    from console.demo import ensure_demo_company
    from sync.leases import run_key, running
    from sync.models import ExpenseReport, ReportState, RunOutcome, RunTrigger, SyncRun

    with timings.step("simulators, demo company, schedules"):
        python = sys.executable
        procs.start(
            "expensify", [python, "-m", "simulators.expensify", "--demo", "--port", str(expensify_port)]
        )
        procs.start("sage100", [python, "-m", "simulators.sage100", "--demo", "--port", str(sage_port)])
        wait_until(
            "the Expensify simulator",
            lambda: httpx.get(f"http://127.0.0.1:{expensify_port}/_sim/marks"),
            timeout=20,
        )
        wait_until(
            "the Sage simulator", lambda: httpx.get(f"http://127.0.0.1:{sage_port}/_sim/stats"), timeout=20
        )
        company = ensure_demo_company()
        manage_ok(env, "ensure_schedules")
        schedule = Schedule.objects.get(name=f"sync {company.code}")

    with timings.step("gunicorn and two qcluster workers, as the systemd units start them"):
        web = procs.start("web", unit_command("ml-connector-web.service"))
        for n in (1, 2):
            procs.start(f"worker-{n}", unit_command("ml-connector-worker@.service"))
        client = Web(web_port)
        body = wait_until("the health page: ok, 2 worker clusters", client.healthy_with_workers, timeout=45)
        check(body["checks"] == dict.fromkeys(body["checks"], True), f"health: {body}")
        health_cmd = manage(env, "health")
        check(
            health_cmd.returncode == 0,
            f"manage.py health exited {health_cmd.returncode}: {health_cmd.stdout}",
        )

    with timings.step("admin login through the proxy's headers; HSTS, secure cookies, SSL redirect"):
        plain = client.request("GET", "/admin/login/", https=False)
        check(
            plain.status_code == 301 and plain.headers["location"].startswith(f"https://{HOST}/"),
            f"plain http was not redirected to https: {plain.status_code} {plain.headers.get('location')}",
        )
        client.cookies.clear()
        page = client.request("GET", "/admin/login/")
        check(page.status_code == 200, f"login page: {page.status_code}")
        check("max-age=31536000" in page.headers.get("strict-transport-security", ""), "no HSTS header")
        check("secure" in page.headers.get("set-cookie", "").lower(), "the CSRF cookie is not Secure")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        check(token is not None, "no CSRF token on the login page")
        assert token is not None
        login = client.request(
            "POST",
            "/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": admin_password,
                "csrfmiddlewaretoken": token.group(1),
                "next": "/admin/",
            },
            headers={"Origin": f"https://{HOST}", "Referer": f"https://{HOST}/admin/login/"},
        )
        check(
            login.status_code == 302 and "sessionid" in client.cookies,
            f"login failed: {login.status_code} {login.text[:300]}",
        )
        home = client.request("GET", "/admin/")
        check(home.status_code == 200 and "ml-connector" in home.text, f"admin home: {home.status_code}")
        static_path = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.text)
        check(static_path is not None, "the login page links no hashed stylesheet (collectstatic, manifest)")
        assert static_path is not None

    with timings.step("a static file from gunicorn itself: hashed name, compressed, cached for long"):
        css = client.request("GET", static_path.group(1), headers={"Accept-Encoding": "gzip"})
        check(
            css.status_code == 200 and "text/css" in css.headers.get("content-type", ""),
            f"static file: {css.status_code} {css.headers.get('content-type')}",
        )
        check(css.headers.get("content-encoding") == "gzip", "static file not served compressed")
        check(b"body" in css.content, "the stylesheet came back empty")
        check(
            "immutable" in css.headers.get("cache-control", ""), "hashed static file not cached as immutable"
        )

    with timings.step("a scheduled sync to completion (schedule made due now)"):
        began = timezone.now()
        Schedule.objects.filter(pk=schedule.pk).update(next_run=began)
        run = wait_until(
            "the scheduled run to finish (django-q2's scheduler looks every 30 s)",
            lambda: (
                SyncRun.objects.filter(company=company, trigger=RunTrigger.SCHEDULE, started_at__gte=began)
                .exclude(outcome=RunOutcome.RUNNING)
                .first()
            ),
            timeout=90,
            every=0.5,
        )
        check(
            run.outcome in {RunOutcome.SUCCESS, RunOutcome.PARTIAL},
            f"scheduled run ended {run.outcome}: {run.message}",
        )
        check(run.reports_posted > 0, f"the scheduled run posted nothing: {run.message}")
        stats = httpx.get(f"http://127.0.0.1:{sage_port}/_sim/stats", timeout=10).json()
        per_reference = stats["referenceCounts"].get(company.code, {})
        in_ledger = ExpenseReport.objects.filter(
            company=company, state__in=[ReportState.POSTED, ReportState.EXPORTED]
        ).count()
        check(
            len(per_reference) == in_ledger,
            f"Sage holds {len(per_reference)} entries, the ledger {in_ledger}",
        )
        check(all(n == 1 for n in per_reference.values()), f"a reference posted twice: {per_reference}")
        print(
            f"  run {run.pk}: {run.outcome}, posted {run.reports_posted}, needs mapping "
            f"{run.reports_needing_mapping}, failed {run.reports_failed}"
        )

    with timings.step("upgrade: pause and wait, stop workers, migrate, start workers, resume"):
        schedules = Schedule.objects.count()
        out = manage_ok(env, "schedules", "pause", "--wait", "--timeout", "120", timeout=150)
        check(f"Paused {schedules} schedule" in out, f"pause said: {out}")
        status, body = client.health()
        check(
            status == 200
            and body["status"] == "degraded"
            and body["counts"]["schedules_paused"] == schedules,
            f"health while paused: {status} {body}",
        )
        for n in (1, 2):
            code = procs.stop(f"worker-{n}", timeout=60)
            check(code == 0, f"worker {n} exited {code} on SIGTERM")
        manage_ok(env, "migrate", "--noinput")
        for n in (1, 2):
            procs.start(f"worker-{n}", unit_command("ml-connector-worker@.service"))
        out = manage_ok(env, "schedules", "resume")
        check(f"Resumed {schedules} schedule" in out, f"resume said: {out}")
        wait_until(
            "health ok with 2 worker clusters after the upgrade", client.healthy_with_workers, timeout=45
        )

    with timings.step("graceful reload of the web (SIGHUP, as systemctl reload sends)"):
        check(
            unit_directives("ml-connector-web.service")["ExecReload"] == ["/bin/kill -s HUP $MAINPID"],
            "the web unit reloads with something other than SIGHUP",
        )
        web.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        check(web.poll() is None, "gunicorn exited on SIGHUP")
        wait_until(
            "the admin after the reload",
            lambda: client.request("GET", "/admin/").status_code == 200,
            timeout=20,
        )

    with timings.step("SIGTERM everything with a sync in flight: no run left running, no task lost"):
        # Expensify answers the run's first request after 3 s: the run is surely under way at SIGTERM.
        httpx.post(
            f"http://127.0.0.1:{expensify_port}/_sim/faults",
            json={"next": [{"kind": "slow", "seconds": 3}]},
            timeout=5,
        ).raise_for_status()
        task_id = async_task(
            "sync.tasks.sync_company",
            company.pk,
            RunTrigger.ADMIN,
            "smoke",
            task_name=f"sync {company.code} (smoke)",
        )
        wait_until(
            "the queued sync to take its run lease",
            lambda: run_key(company.code) in [lease.key for lease in running()],
            timeout=30,
            every=0.05,
        )
        check(not Task.objects.filter(id=task_id).exists(), "the sync finished before SIGTERM could be sent")
        for name in ("worker-1", "worker-2", "web"):
            code = procs.stop(name, timeout=120)
            check(code == 0, f"{name} exited {code} on SIGTERM")
        running = SyncRun.objects.filter(outcome=RunOutcome.RUNNING).count()
        check(running == 0, f"{running} run(s) left running after SIGTERM")
        done = Task.objects.filter(id=task_id).first()
        queued = get_broker().queue_size()
        check(done is not None or queued == 1, f"task {task_id} is neither done nor queued: lost")
        check(done is None or done.success, f"the in-flight sync task failed: {done and done.result}")
        for name in ("worker-1", "worker-2"):
            lines = [line for line in procs.log(name).splitlines() if line.startswith("{")]
            check(
                bool(lines) and all("level" in json.loads(line) for line in lines),
                f"{name} did not log JSON lines (LOG_FORMAT=json)",
            )
        state = "finished" if done else "still queued"
        print(f"  in-flight task {state}; runs in all: {SyncRun.objects.count()}")


def main() -> int:
    try:
        run()
    except SmokeFailure as exc:
        print(f"\nSMOKE FAILED: {exc}", file=sys.stderr)
        return 1
    print("\nsmoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
