"""Issue 14: the Expensify rate limit belongs to the credential, not to the company.

Two companies that use one partner user ID share its 5 per 10 s and 20 per 60 s (scaled here)
through the shared limiter (Redis when configured, else the database).
"""

from __future__ import annotations

import uuid

import pytest

from connector.expensify import client_for_company
from simulators.expensify import ExpensifySimulator
from tests.expensify.conftest import sim_control
from tests.expensify.test_pacing import max_in_window
from tests.factories import CompanyFactory, ExpensifyCredentialFactory

SCALED = [(5, 0.5), (20, 3.0)]
CALLS_EACH = 12


@pytest.mark.slow
@pytest.mark.django_db
def test_two_companies_on_one_credential_never_exceed_the_limits_together(settings):
    settings.EXPENSIFY_RATE_RULES = SCALED
    settings.EXPENSIFY_RATE_MARGIN = 0.05
    partner = f"shared_{uuid.uuid4().hex[:8]}"  # a fresh key: Redis outlives a test
    secret = "shared-secret-Rk29"
    with ExpensifySimulator(credentials={partner: secret}, rates=SCALED) as sim:
        clients = []
        for code in ("AAA", "BBB"):
            company = CompanyFactory(code=code)
            ExpensifyCredentialFactory(company=company, base_url=sim.base_url,
                                       partner_user_id=partner, partner_user_secret=secret)
            clients.append(client_for_company(company, max_retry_seconds=0))
        assert clients[0].limiter is not clients[1].limiter
        assert clients[0].limiter.key == clients[1].limiter.key == f"expensify:{partner}"
        try:
            for _ in range(CALLS_EACH):
                for client in clients:
                    client.list_policies()  # a 429 would raise: max_retry_seconds=0
        finally:
            for client in clients:
                client.close()
        log = sim_control(sim, "/_sim/requests")["requests"]
    assert len(log) == 2 * CALLS_EACH
    assert not [r for r in log if r.get("status") == 429]
    times = [r["at"] for r in log]
    for limit, window in SCALED:
        assert max_in_window(times, window) <= limit
    # Together they were paced: 24 calls at 20 per 3 s cannot all fit in one window.
    assert max(times) - min(times) >= SCALED[1][1]

