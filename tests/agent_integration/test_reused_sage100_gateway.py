"""tests/sage100/test_gateway.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sage100.test_gateway import *  # noqa: F403
