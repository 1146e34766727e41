"""One worker process of the multi-process pacing test: N calls through a shared limiter.

Usage: python -m tests.expensify.pacing_worker BASE_URL redis|db KEY N RULES_JSON
Exits non-zero if any call fails (a 429 fails at once: retries are off).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    base_url, kind, key, count, rules_json = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings_test")
    import django

    django.setup()
    from connector.expensify import ExpensifyClient, RateLimiter
    from connector.expensify.pacing import DatabaseBackend, RedisBackend, ThrottleBackend
    from tests.expensify.conftest import PARTNER_ID, SECRET

    backend: ThrottleBackend = (
        RedisBackend.from_url(os.environ["REDIS_URL"]) if kind == "redis" else DatabaseBackend()
    )
    rules = [(int(n), float(w)) for n, w in json.loads(rules_json)]
    limiter = RateLimiter(key, backend=backend, rules=rules, margin=0.05)
    with ExpensifyClient(
        base_url=base_url,
        partner_user_id=PARTNER_ID,
        partner_user_secret=SECRET,
        timeout=10,
        limiter=limiter,
        max_retry_seconds=0,
    ) as client:
        for _ in range(int(count)):
            client.list_policies()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
