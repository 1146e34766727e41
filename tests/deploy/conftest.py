"""Helpers for the deployment tests: deploy/smoke.py's readers of the env file and unit files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_smoke() -> ModuleType:
    """deploy/smoke.py as a module (deploy/ is not a package: it is copied to hosts, not imported)."""
    spec = importlib.util.spec_from_file_location("deploy_smoke", DEPLOY / "smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
