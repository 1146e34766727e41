"""The CLI (init, cert, rotate-key, check), secrets at rest and in logs, test mode off, the wheel."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest
from mlc_agent.testing import make_agent

from tests.conftest import call, entry, post
from tests.fakedata import POSTER, POSTER_PASSWORD, data

AGENT_DIR = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlc_agent", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=60,
    )


def test_init_stores_only_a_hash_and_prints_the_fingerprint(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, data(), companies=["ABC:2"])
    text = agent.config.read_text()
    assert agent.api_key not in text and 'api_key_hash = "sha256$' in text
    assert "max_concurrent_writes = 2" in text and text.count("#") > 10
    shown = run("--config", str(agent.config), "cert", cwd=tmp_path).stdout
    assert shown.strip().splitlines()[-1].count(":") == 31


def test_rotate_key_replaces_the_key(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, data(), companies=["ABC:2"])
    new_key = run("--config", str(agent.config), "rotate-key", cwd=tmp_path).stdout.strip().splitlines()[-1]
    assert new_key != agent.api_key and new_key not in agent.config.read_text()
    old = agent.api_key
    agent.api_key = new_key
    agent.start()
    try:
        with agent.client() as c:
            assert call(c, "/v1/ping").status_code == 200
            assert call(c, "/v1/ping", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    finally:
        agent.stop()


def test_check_passes_and_fails_per_company(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, data(), companies=["ABC", "XYZ", "ZZZ"])
    done = run(
        "--config",
        str(agent.config),
        "check",
        "--user",
        POSTER,
        "--password-stdin",
        cwd=tmp_path,
        stdin=POSTER_PASSWORD + "\n",
    )
    assert "PASS ABC: account mask ####-##-###" in done.stdout
    assert "PASS XYZ" in done.stdout and "FAIL ZZZ: COMPANY_NOT_FOUND" in done.stdout
    assert done.returncode == 1
    assert POSTER_PASSWORD not in done.stdout + done.stderr


def test_no_secret_in_the_log_and_no_test_controls_outside_test_mode(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, data(), companies=["ABC:2"], test_mode=False)
    agent.start()
    try:
        with agent.client() as c:
            assert post(c, "log-1", entry("EXP LOG")).status_code == 201
            call(c, "/v1/ping", password="typo-" + POSTER_PASSWORD)
            assert c.post("/_test/faults", json={"faults": [{"fault": "record_locked"}]}).status_code == 404
            assert c.get("/_test/stats").status_code == 404
            # The simulator-shaped controls are refused too, with the API key and all.
            faults = {"faults": [{"fault": "record_locked"}], "maxConcurrentWrites": {"ABC": 0}}
            assert c.post("/_sim/faults", json=faults).status_code == 404
            assert c.post("/_sim/reset").status_code == 404
            assert c.get("/_sim/stats").status_code == 404
            assert c.get("/_sim/entries/ABC").status_code == 404
            # ... and nothing of them acted: the next post is written at once.
            assert post(c, "log-2", entry("EXP LOG2")).status_code == 201
    finally:
        agent.stop()
    log = (tmp_path / "logs" / "agent.log").read_text()
    assert "listening on https://" in log
    for secret in (POSTER_PASSWORD, agent.api_key):
        assert secret not in log
    store = (tmp_path / "state" / "idempotency.sqlite3").read_bytes()
    assert POSTER_PASSWORD.encode() not in store


def test_redaction_of_a_careless_line() -> None:
    from mlc_agent.logs import redact

    line = redact('sent {"password": "hunter2"} with Authorization: Bearer abc.def')
    assert "hunter2" not in line and "abc.def" not in line


@pytest.mark.slow
def test_wheel_builds_and_installs_without_pywin32(tmp_path: Path) -> None:
    """Offline here: the wheel's own files install into a fresh venv; `make test-agent` adds the deps."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(AGENT_DIR),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    wheel = next(tmp_path.glob("mlc_agent-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()
    assert 'Requires-Dist: pywin32>=306; sys_platform == "win32"' in metadata
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
        check=True,
        timeout=120,
    )
    out = subprocess.run(
        [str(py), "-c", "import mlc_agent.names, mlc_agent.fakeboi; print(mlc_agent.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1.0.0"
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([str(py), "-c", "import win32com"], check=True, capture_output=True)


def test_plain_http_client_is_not_served(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, data(), companies=["ABC:2"])
    agent.start()
    try:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{agent.port}/v1/health", timeout=5)
    finally:
        agent.stop()


def test_cert_pem_prints_the_certificate_for_the_company_page(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, data(), companies=["ABC:2"], test_mode=False)
    done = subprocess.run(
        [sys.executable, "-m", "mlc_agent", "--config", str(agent.config), "cert", "--pem"],
        capture_output=True,
        text=True,
        check=True,
    )
    pem = agent.cert.read_text().strip()
    assert done.stdout.rstrip().endswith(pem) and "BEGIN CERTIFICATE" in pem
    assert "PRIVATE KEY" not in done.stdout
