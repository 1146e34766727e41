"""Start a real agent process (HTTPS on a loopback port, fake BOI in test mode): for test suites only."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx  # only the test extras install it


@dataclass
class AgentProcess:
    """A running `python -m mlc_agent serve`; `client()` talks to it over verified TLS."""

    workdir: Path
    config: Path
    api_key: str
    cert: Path
    data_file: Path
    port: int = 0
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AgentProcess:
        """Spawn `serve` and wait for its 'listening' line."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlc_agent", "--config", str(self.config), "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=self.workdir,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                found = re.match(r"^mlc-agent listening on https://[^ ]+:(\d+)\s*$", line)
                if found:
                    self.port = int(found.group(1))
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("agent did not start:\n" + "".join(self.output))
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL: the crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=str(self.cert)),
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
            **kwargs,
        )

    def faults(self, *faults: dict[str, Any]) -> None:
        with self.client() as c:
            c.post("/_test/faults", json={"faults": list(faults)}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        with self.client() as c:
            return dict(c.get("/_test/stats").json())

    def sage_entries(self, company: str) -> list[dict[str, Any]]:
        """What the fake Sage holds on disk (what survives a crash)."""
        journal = json.loads(self.data_file.read_text()).get("journal", {})
        return list(journal.get(company, {}).get("entries", []))


def make_agent(
    workdir: Path,
    data: dict[str, Any],
    *,
    companies: list[str],
    settings: dict[str, Any] | None = None,
    test_mode: bool = True,
) -> AgentProcess:
    """`init` a config (fake BOI, loopback, self-signed cert) in workdir; returns it unstarted."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_file = workdir / "sage.json"
    data_file.write_text(json.dumps(data))
    config = workdir / "agent.toml"
    args = [
        sys.executable,
        "-m",
        "mlc_agent",
        "--config",
        str(config),
        "init",
        "--force",
        "--listen",
        "127.0.0.1:0",
        "--mode",
        "fake",
        "--fake-data",
        str(data_file),
        "--host",
        "127.0.0.1",
        "--host",
        "localhost",
        "--sage-home",
        "fake",
    ]
    if test_mode:
        args.append("--test-mode")
    for c in companies:
        args += ["--company", c]
    done = subprocess.run(args, capture_output=True, text=True, check=True, cwd=workdir)
    api_key = done.stdout.strip().splitlines()[-1]
    text = config.read_text()
    for name, value in (settings or {}).items():
        text, n = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", text)
        assert n == 1, name
    config.write_text(text)
    return AgentProcess(
        workdir=workdir,
        config=config,
        api_key=api_key,
        cert=workdir / "tls" / "agent.crt",
        data_file=data_file,
    )


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll until predicate() is true (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False
