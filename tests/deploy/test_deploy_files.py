"""The files in deploy/ agree with each other and with the settings they serve."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.conftest import DEPLOY, REPO, load_smoke

smoke = load_smoke()
NGINX_SITE = DEPLOY / "nginx" / "ml-connector.conf"
NGINX_PROXY = DEPLOY / "nginx" / "ml-connector-proxy.conf"


def gunicorn_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    for name in ("GUNICORN_WORKERS", "GUNICORN_BIND", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def test_gunicorn_workers_follow_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    config = gunicorn_config(monkeypatch)
    assert config["workers"] == min(2 * len(os.sched_getaffinity(0)) + 1, 9)
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["control_socket_disable"] is True
    blank = gunicorn_config(monkeypatch, GUNICORN_WORKERS="", GUNICORN_BIND="127.0.0.1:8001,[::1]:8001")
    assert blank["workers"] == config["workers"]
    assert blank["bind"] == ["127.0.0.1:8001", "[::1]:8001"]
    assert gunicorn_config(monkeypatch, GUNICORN_WORKERS="3")["workers"] == 3


def test_gunicorn_times_out_before_the_proxy_does(monkeypatch: pytest.MonkeyPatch) -> None:
    config = gunicorn_config(monkeypatch)
    proxy_timeout = re.search(r"proxy_read_timeout (\d+)s;", NGINX_PROXY.read_text())
    assert proxy_timeout is not None
    assert int(str(config["timeout"])) < int(proxy_timeout.group(1))


def mebibytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def test_proxy_body_limit_matches_the_import_limit() -> None:
    limit = re.search(r"client_max_body_size (\w+);", NGINX_SITE.read_text())
    assert limit is not None
    body = mebibytes(limit.group(1))
    # room for the multipart form around the file, but not a second file's worth
    assert settings.MAPPING_IMPORT_MAX_BYTES < body <= settings.MAPPING_IMPORT_MAX_BYTES + 1024 * 1024
    example = smoke.read_env_file(DEPLOY / "production.env.example")
    assert int(example["MAPPING_IMPORT_MAX_BYTES"]) == settings.MAPPING_IMPORT_MAX_BYTES


def test_proxy_sends_the_headers_the_settings_trust() -> None:
    example = smoke.read_env_file(DEPLOY / "production.env.example")
    proxy = NGINX_PROXY.read_text()
    assert f"proxy_set_header {example['SECURE_PROXY_SSL_HEADER']} $scheme;" in proxy
    assert "proxy_set_header Host $host;" in proxy
    site = NGINX_SITE.read_text()
    assert site.count("include /etc/nginx/snippets/ml-connector-proxy.conf;") == 2
    upstream = re.search(r"server (127\.0\.0\.1:\d+);", site)
    assert upstream is not None and upstream.group(1) == example["GUNICORN_BIND"]
    host = example["ALLOWED_HOSTS"]
    assert f"server_name {host};" in site
    assert example["CSRF_TRUSTED_ORIGINS"] == f"https://{host}"


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed here")
def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    site = NGINX_SITE.read_text().replace("/etc/nginx/snippets/", f"{tmp_path}/")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=connector.example.com",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = site.replace(
        "/etc/letsencrypt/live/connector.example.com/fullchain.pem", str(tmp_path / "cert.pem")
    )
    site = site.replace("/etc/letsencrypt/live/connector.example.com/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "ml-connector-proxy.conf").write_text(NGINX_PROXY.read_text())
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log stderr; events {{}} "
        f"http {{ access_log off; include {tmp_path}/site.conf; }}"
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_units_run_what_exists_here_with_the_documented_files() -> None:
    web = smoke.unit_directives("ml-connector-web.service")
    worker = smoke.unit_directives("ml-connector-worker@.service")
    for unit in (web, worker):
        assert unit["EnvironmentFile"] == ["/etc/ml-connector/production.env"]
        assert unit["WorkingDirectory"] == [smoke.INSTALL_DIR]
        # SIGTERM to the main process only: it lets its children finish their request or task.
        assert unit["KillMode"] == ["mixed"]
        assert unit["PartOf"] == ["ml-connector.target"]
        assert unit["WantedBy"] == ["ml-connector.target"]
    gunicorn = smoke.unit_command("ml-connector-web.service")
    assert Path(gunicorn[0]).name == "gunicorn" and (REPO / gunicorn[-1]).is_file()
    assert smoke.unit_command("ml-connector-web.service", "ExecStartPre")[2] == "collectstatic"
    assert smoke.unit_command("ml-connector-worker@.service")[1:] == ["manage.py", "qcluster"]
    stop_seconds = int(worker["TimeoutStopSec"][0])
    assert stop_seconds >= 300  # a running sync gets time to finish on systemctl stop


def test_every_deploy_file_is_used_by_the_smoke_test_or_the_guide() -> None:
    guide = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    smoke_text = (DEPLOY / "smoke.py").read_text(encoding="utf-8")
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        relative = str(path.relative_to(REPO))
        assert relative in guide or path.name in smoke_text, f"{relative} is used nowhere"
