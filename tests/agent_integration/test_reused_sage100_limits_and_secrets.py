"""From tests/sage100: the no-secrets test and the write-limit threads test, against the real agent."""

from tests.sage100.test_secrets import captured, test_no_secret_anywhere  # noqa: F401
from tests.sage100.test_slots import test_threads_never_exceed_the_limit  # noqa: F401
