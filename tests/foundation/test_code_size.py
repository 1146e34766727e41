"""One room per concern: no production module over 400 lines, no function over 60 (issue 13).

Production is what runs at a customer: the Django apps and the Sage 100 agent. Not counted:
migrations (generated), the bundled simulators, the agent's BOI stand-in and its test controls,
benchmarks, deploy checks and the tests themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("console", "connector", "sync", "mappings", "audit", "agent/mlc_agent")
NOT_PRODUCTION = {
    "agent/mlc_agent/fakeboi.py",  # the stand-in for Sage's BOI, for tests and demos
    "agent/mlc_agent/simcontrol.py",  # fault controls of that stand-in
    "agent/mlc_agent/testing.py",
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def production_modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or relative in NOT_PRODUCTION:
                continue
            found.append(path)
    return found


def test_the_rule_sees_the_product() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in production_modules()}
    assert "sync/services/posting.py" in names
    assert "agent/mlc_agent/server.py" in names
    assert len(names) > 100


@pytest.mark.parametrize("path", production_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_and_function_size(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines: split it by concern (limit {MAX_MODULE_LINES})"
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
