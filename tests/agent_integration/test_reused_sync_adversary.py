"""tests/sync/test_adversary.py, unchanged, against the real agent process (skips: conftest.py)."""

from tests.sync.test_adversary import *  # noqa: F403
