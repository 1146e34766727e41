"""tests/sage100/test_search.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sage100.test_search import *  # noqa: F403
