"""Settings for the test suite: DEBUG-style local defaults, unless the environment says otherwise."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
# Two keys: tests check that both decrypt and the first one encrypts.
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEY",
    "dGVzdC1vbmx5LWtleS1udW1iZXItb25lLTMyYnl0ZXM=,dGVzdC1vbmx5LWtleS1udW1iZXItdHdvLTMyYnl0ZXM=",
)
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

from connector.settings import *  # noqa: F403

# pytest-xdist workers share one Redis (and pass their worker id to the processes they start):
# each keeps its own run leases, write slots and pacing there, as its own database does.
if os.environ.get("PYTEST_XDIST_WORKER"):
    COORDINATION_PREFIX = f"ml-connector-{os.environ['PYTEST_XDIST_WORKER']}:"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
