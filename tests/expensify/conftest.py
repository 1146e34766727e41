"""Fixtures for the Expensify tests: the simulator on a loopback port, fast clients, FreeMarker."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.expensify import ExpensifyClient, RateLimiter
from connector.expensify.pacing import MemoryBackend
from simulators.expensify import ExpensifySimulator

PARTNER_ID = "partner_tests"
SECRET = "sEcReT-partner-Pw9x"
FREEMARKER_JAR = Path("/usr/share/java/freemarker.jar")
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "connector" / "expensify"


def tx(transaction_id: str, amount: int = 1000, **fields: Any) -> dict[str, Any]:
    """An expense in Expensify's data-model shape."""
    expense: dict[str, Any] = {
        "transactionID": transaction_id,
        "merchant": "Merchant",
        "category": "Meals",
        "categoryGlCode": "6130",
        "tag": "",
        "currency": "USD",
        "amount": amount,
        "modifiedAmount": "",
        "created": "2026-11-02",
        "reimbursable": True,
        "billable": False,
        "comment": "",
        "type": "expense",
        "receiptID": "",
    }
    expense.update(fields)
    return expense


def report(report_id: str, expenses: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    """A report in Expensify's data-model shape."""
    expenses = [tx(f"{report_id}-1")] if expenses is None else expenses
    data: dict[str, Any] = {
        "reportID": report_id,
        "reportName": f"Report {report_id}",
        "status": "Approved",
        "accountEmail": "employee@example.com",
        "policyID": "POL1",
        "policyName": "Policy One",
        "currency": "USD",
        "total": sum(e["amount"] for e in expenses if isinstance(e.get("amount"), int)),
        "created": "2026-11-01 10:00:00",
        "submitted": "2026-11-02 10:00:00",
        "approved": "2026-11-03 10:00:00",
        "transactionList": expenses,
    }
    data.update(fields)
    return data


@pytest.fixture
def sim() -> Iterator[ExpensifySimulator]:
    """A simulator with test credentials and rate limits out of the way (pacing tests set them)."""
    with ExpensifySimulator(credentials={PARTNER_ID: SECRET}, rates=[(10_000, 1.0)]) as simulator:
        yield simulator


def sim_control(simulator: ExpensifySimulator, path: str, payload: Any = None) -> Any:
    """Steer the simulator over HTTP, as a test in another process would."""
    url = simulator.root_url + path
    if payload is None:
        return httpx.get(url, timeout=5).json()
    answer = httpx.post(url, json=payload, timeout=5)
    answer.raise_for_status()
    return answer.json()


def fast_limiter() -> RateLimiter:
    return RateLimiter("tests", backend=MemoryBackend(), rules=(), margin=0)


@pytest.fixture
def make_client(sim: ExpensifySimulator) -> Iterator[Callable[..., ExpensifyClient]]:
    """Build clients against the simulator with short waits; all are closed after the test."""
    clients: list[ExpensifyClient] = []

    def build(**overrides: Any) -> ExpensifyClient:
        options: dict[str, Any] = {
            "base_url": sim.base_url,
            "partner_user_id": PARTNER_ID,
            "partner_user_secret": SECRET,
            "timeout": 5.0,
            "limiter": fast_limiter(),
            "max_retry_seconds": 3,
            "download_wait_seconds": 3,
            "retry_initial_seconds": 0.01,
            "download_poll_seconds": 0.05,
        }
        options.update(overrides)
        client = ExpensifyClient(**options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def freemarker(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[Any]], list[str]]:
    """Render template.ftl with real FreeMarker over JSON data models (one JVM per call)."""
    java, javac = shutil.which("java"), shutil.which("javac")
    if not (java and javac and FREEMARKER_JAR.exists()):
        pytest.skip("java/javac or /usr/share/java/freemarker.jar is absent: install the JDK and "
                    "Debian's libfreemarker-java to check the template with real FreeMarker")
    classes = tmp_path_factory.mktemp("freemarker-classes")
    source = Path(__file__).parent / "freemarker" / "Render.java"
    subprocess.run([javac, "-cp", str(FREEMARKER_JAR), "-d", str(classes), str(source)],
                   check=True, capture_output=True, timeout=120)
    work = tmp_path_factory.mktemp("freemarker-models")
    counter = {"n": 0}

    def render(models: list[Any]) -> list[str]:
        args: list[str] = []
        outputs: list[Path] = []
        for model in models:
            counter["n"] += 1
            model_path = work / f"model{counter['n']}.json"
            out_path = work / f"out{counter['n']}.json"
            model_path.write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
            args += [str(model_path), str(out_path)]
            outputs.append(out_path)
        result = subprocess.run(
            [java, "-cp", f"{FREEMARKER_JAR}:{classes}", "Render", str(TEMPLATE_DIR), "template.ftl", *args],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"FreeMarker failed: {result.stderr[-3000:]}")
        return [p.read_text(encoding="utf-8") for p in outputs]

    return render
