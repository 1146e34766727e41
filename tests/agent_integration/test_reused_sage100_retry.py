"""tests/sage100/test_retry.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sage100.test_retry import *  # noqa: F403
