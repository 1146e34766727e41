"""tests/sync/test_engine.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sync.test_engine import *  # noqa: F403
