"""tests/sync/test_engine_faults.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sync.test_engine_faults import *  # noqa: F403
