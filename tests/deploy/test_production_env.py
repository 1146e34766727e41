"""deploy/production.env.example is complete and passes `check --deploy`; each switch reaches Django."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.deploy.conftest import DEPLOY, REPO, load_smoke

smoke = load_smoke()
EXAMPLE = DEPLOY / "production.env.example"


def example_env(**overrides: str) -> dict[str, str]:
    """The example with placeholders filled, on a scratch SQLite file (check --deploy needs no server)."""
    return smoke.production_env(DATABASE_URL="sqlite:////tmp/mlc-deploy-check.sqlite3", **overrides)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        # The browser tests' conftest allows sync ORM calls from async code in its process: a
        # deployment never does, so the child must not inherit it.
        env={
            k: v
            for k, v in {**env, "DJANGO_SETTINGS_MODULE": "connector.settings"}.items()
            if k != "DJANGO_ALLOW_ASYNC_UNSAFE"
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_example() -> None:
    result = manage(example_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SESSION_COOKIE_SECURE": "0"}, "security.W012"),
    ],
)
def test_check_deploy_fails_when_a_switch_is_off(change: dict[str, str], warning: str) -> None:
    result = manage(example_env(**change), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert warning in result.stderr + result.stdout


def test_every_variable_has_a_comment_and_secrets_are_placeholders() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[number - 1].startswith("#"), f"no comment above {line!r}"
    values = smoke.read_env_file(EXAMPLE)
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "EMAIL_HOST_PASSWORD"):
        assert re.fullmatch(r"<[^<>]+>", values[name]), f"{name} is not a placeholder"
    assert "<database password>" in values["DATABASE_URL"]


def test_every_variable_in_the_example_is_read_by_the_product() -> None:
    readers = (REPO / "connector" / "settings.py").read_text() + (DEPLOY / "gunicorn.conf.py").read_text()
    unread = [name for name in smoke.read_env_file(EXAMPLE) if f'"{name}"' not in readers]
    assert unread == []


def test_switches_reach_django_settings() -> None:
    code = (
        "import django, json; from django.conf import settings as s; django.setup(); print(json.dumps(["
        "s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.CSRF_TRUSTED_ORIGINS, s.ALLOWED_HOSTS,"
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT,"
        "s.EMAIL_USE_TLS, s.STORAGES['staticfiles']['BACKEND'],"
        "s.LOGGING['handlers']['console']['formatter']]))"
    )
    env = example_env(
        SECURE_HSTS_SECONDS="600", SECURE_HSTS_PRELOAD="0", LOG_FORMAT="json", EMAIL_PORT="2525"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd="/",
        env={**env, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "connector.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["HTTP_X_FORWARDED_PROTO", "https"],
        True,
        600,
        True,
        False,
        ["https://connector.example.com"],
        ["connector.example.com"],
        True,
        True,
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        2525,
        True,
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "json",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be plain or json"),
        ({"EMAIL_USE_SSL": "1"}, "EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS must be a whole number"),
    ],
)
def test_a_bad_switch_stops_start_up_naming_it(change: dict[str, str], message: str) -> None:
    result = manage(example_env(**change), "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_no_secret_of_the_environment_in_the_check_output() -> None:
    env = example_env()
    result = manage(env, "check", "--deploy")
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "EMAIL_HOST_PASSWORD"):
        assert env[name] not in result.stdout + result.stderr
