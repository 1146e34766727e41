"""The agent's TOML configuration: read with tomllib, written once by `init` as a commented file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CompanyConfig:
    code: str
    max_concurrent_writes: int = 1
    batch_entry: bool = True


@dataclass(frozen=True)
class Config:
    path: Path
    listen_host: str
    listen_port: int
    cert: Path
    key: Path
    api_key_hash: str
    log_path: Path
    state_dir: Path
    sage_home: str
    sage_mode: str = "com"
    fake_data: str = ""
    test_mode: bool = False
    max_body_bytes: int = 1_048_576
    boi_timeout: float = 60.0
    session_max_age: float = 3600.0
    companies: dict[str, CompanyConfig] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.state_dir / "idempotency.sqlite3"


class ConfigError(Exception):
    """The configuration file is missing something or has a wrong value (one sentence)."""


def _path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p)


def load(path: str | Path) -> Config:
    """Read and check the configuration; relative paths are relative to the file's folder."""
    path = Path(path).resolve()
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"No configuration file at {path}; run `python -m mlc_agent init` first.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    base = path.parent
    try:
        listen = str(raw["listen"])
        host, _, port = listen.rpartition(":")
        tls, sage = raw["tls"], raw["sage"]
        companies = {
            str(c["code"]): CompanyConfig(
                code=str(c["code"]),
                max_concurrent_writes=int(c.get("max_concurrent_writes", 1)),
                batch_entry=bool(c.get("batch_entry", True)),
            )
            for c in raw.get("companies", [])
        }
        config = Config(
            path=path,
            listen_host=host.strip("[]") or "0.0.0.0",  # noqa: S104 - the admin chooses the address
            listen_port=int(port),
            cert=_path(base, str(tls["cert"])),
            key=_path(base, str(tls["key"])),
            api_key_hash=str(raw["api_key_hash"]),
            log_path=_path(base, str(raw.get("log_path", "logs/agent.log"))),
            state_dir=_path(base, str(raw.get("state_dir", "state"))),
            sage_home=str(sage.get("home", "")),
            sage_mode=str(sage.get("mode", "com")),
            fake_data=str(_path(base, str(sage["fake_data"]))) if sage.get("fake_data") else "",
            test_mode=bool(sage.get("test_mode", False)),
            max_body_bytes=int(raw.get("max_body_bytes", 1_048_576)),
            boi_timeout=float(raw.get("boi_timeout_seconds", 60)),
            session_max_age=float(raw.get("session_max_age_seconds", 3600)),
            companies=companies,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: missing or wrong setting ({exc}).") from None
    for code, company in companies.items():
        if len(code) != 3 or not code.isalnum() or code.upper() != code:
            raise ConfigError(f"{path}: company code {code!r} must be 3 uppercase letters or digits.")
        if company.max_concurrent_writes < 1:
            raise ConfigError(f"{path}: company {code}: max_concurrent_writes must be at least 1.")
    if config.test_mode and config.sage_mode != "fake":
        raise ConfigError(f'{path}: sage.test_mode is only for the fake BOI (sage.mode = "fake").')
    return config


TEMPLATE = """\
# ml-connector Sage 100 agent configuration (docs/agent.md explains every setting).
# Relative paths are relative to this file's folder.

# Address and port the agent listens on (HTTPS only). Open this port to the connector only.
listen = "{listen}"

# SHA-256 of the API key (salted). The key itself is shown once by `init` and `rotate-key`.
api_key_hash = "{api_key_hash}"

# Rotating log file (secrets are redacted) and the folder of the idempotency store.
log_path = "{log_path}"
state_dir = "{state_dir}"

# Requests larger than this many bytes are refused.
max_body_bytes = 1048576
# How long a call waits for BOI before answering SAGE_TIMEOUT.
boi_timeout_seconds = 60
# A Sage session is logged off and reopened after this many seconds.
session_max_age_seconds = 3600

[tls]
# `python -m mlc_agent cert` writes a self-signed pair here; or name your own PEM files.
cert = "{cert}"
key = "{key}"

[sage]
# The MAS90\\Home folder of the Sage 100 installation (workstation components).
home = '{home}'
# "com" talks to Sage 100 through BOI; "fake" is the test stand-in (never in production).
mode = "{mode}"
{fake}
# One [[companies]] block per Sage company code the connector may use.
{companies}"""

COMPANY_TEMPLATE = """[[companies]]
code = "{code}"
# Journal entries written at once for this company (ping advertises it; more get 429).
max_concurrent_writes = {writes}
# true when the company uses batch entry for the general journal.
batch_entry = {batch}
"""


def render(
    *,
    listen: str,
    api_key_hash: str,
    log_path: str,
    state_dir: str,
    cert: str,
    key: str,
    home: str,
    mode: str,
    companies: list[CompanyConfig],
    fake_data: str = "",
    test_mode: bool = False,
) -> str:
    """The commented configuration text `init` writes."""
    fake = ""
    if mode == "fake":
        fake = (
            f'fake_data = "{fake_data}"\n# Test-only switches (faults) of the fake BOI.\n'
            f"test_mode = {str(test_mode).lower()}\n"
        )
    blocks = "\n".join(
        COMPANY_TEMPLATE.format(code=c.code, writes=c.max_concurrent_writes, batch=str(c.batch_entry).lower())
        for c in companies
    )
    return TEMPLATE.format(
        listen=listen,
        api_key_hash=api_key_hash,
        log_path=log_path,
        state_dir=state_dir,
        cert=cert,
        key=key,
        home=home,
        mode=mode,
        fake=fake,
        companies=blocks,
    )
