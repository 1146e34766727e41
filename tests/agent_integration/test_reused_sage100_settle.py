"""tests/sage100/test_settle.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sage100.test_settle import *  # noqa: F403
