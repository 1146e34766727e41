"""Settings come from the environment; production mode refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "SECRET_KEY",
            "FIELD_ENCRYPTION_KEY",
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    base.update(env)
    code = "import django; from django.conf import settings; django.setup(); print('started')"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd="/",  # away from the repository's .env
        env={**base, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "connector.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 50,
    "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWtleS1udW1iZXItb25lLTMyYnl0ZXM=",
    "DATABASE_URL": "sqlite:////tmp/mlc-settings-test.sqlite3",
}


def test_production_settings_start() -> None:
    result = start(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize("name", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL"])
def test_missing_setting_stops_start_up_naming_it(name: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    result = start(env)
    assert result.returncode != 0
    assert f"{name} is not set: set the environment variable {name}" in result.stderr


def test_bad_boolean_is_named() -> None:
    result = start({**PRODUCTION, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_debug_mode_has_local_defaults() -> None:
    result = start({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_redis_url_switches_django_q_to_redis() -> None:
    code = (
        "import django; from django.conf import settings; django.setup();"
        "print(settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm'),"
        " settings.Q_CLUSTER['timeout'] < settings.Q_CLUSTER['retry'])"
    )
    env = {
        **os.environ,
        **PRODUCTION,
        "REDIS_URL": "redis://127.0.0.1:6379/9",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "connector.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["redis://127.0.0.1:6379/9", "None", "True"]
