"""Real Chromium (Debian's, through Playwright) against a live server and both bundled simulators.

The demo company is set up and synced once per test against fresh simulators, exactly as
`make demo` does it, so its two intended problems are there: R03OffS1te22 needs a mapping
("Team Offsite") and R04G1fts0Nov fails on a retired account ("Client Gifts" → 6900-00-000).
Queued work (Replay, Sync now) runs inline (django-q2's sync mode) so a test needs no cluster.
Screenshots go to var/screenshots/ (not committed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client

from connector.models import Company
from connector.roles import OPERATOR, ensure_roles
from tests.sync import conftest as sync_fixtures

# Playwright's sync API runs an event loop in the test's thread; the ORM calls here are plain
# synchronous calls made between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
PASSWORD = "browser-pw-Ck29"  # a test login, not a secret
fast_clients = sync_fixtures.fast_clients


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `make test-browser` installs Debian's chromium"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def queue_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued tasks run at once in the web request (no qcluster in a browser test)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def demo(transactional_db: Any, fast_clients: None, queue_inline: None) -> Iterator[Company]:
    """The demo company on fresh simulators, after its first sync."""
    from console.demo import ensure_demo_company
    from simulators.expensify.demo import demo_data
    from simulators.expensify.server import ExpensifySimulator
    from simulators.sage100.demo import demo as sage_demo
    from simulators.sage100.server import SageSimulator
    from sync.services import RunOptions, run_sync

    expensify = ExpensifySimulator(data=demo_data(), rates=[(1000, 1.0)], render_delay=0).start()
    sage = SageSimulator(sage_demo()).start()
    try:
        company = ensure_demo_company()
        company.max_concurrent_writes = 1
        company.save()
        company.expensify.base_url = expensify.base_url
        company.expensify.save()
        company.sage.base_url = sage.base_url
        company.sage.save()
        run_sync(company=company, options=RunOptions(trigger="command", actor="demo"))
        yield Company.objects.get(pk=company.pk)
    finally:
        expensify.stop()
        sage.stop()


def login_cookie(user: User, live_server: Any) -> dict[str, Any]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    return {"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}


@pytest.fixture
def page_as(browser: Any, live_server: Any) -> Iterator[Any]:
    """page_as("admin") / page_as("operator"): a logged-in page on the live server."""
    contexts = []

    def open_page(who: str) -> Any:
        if who == "admin":
            user = User.objects.filter(username="browser-admin").first() or User.objects.create_superuser(
                "browser-admin", "admin@example.com", PASSWORD
            )
        else:
            # A transactional test's flush can leave the roles half made: make them again.
            ensure_roles()
            user = User.objects.filter(username="browser-operator").first() or User.objects.create_user(
                "browser-operator", password=PASSWORD, is_staff=True
            )
            user.groups.add(Group.objects.get(name=OPERATOR))
        context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live_server.url)
        context.set_default_timeout(15_000)
        context.add_cookies([login_cookie(user, live_server)])
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
