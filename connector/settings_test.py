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

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
