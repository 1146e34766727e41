"""tests/sage100/test_outcomes.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sage100.test_outcomes import *  # noqa: F403
