"""The demo: one company wired to the bundled simulators, with mappings an operator would set."""

from __future__ import annotations

import datetime
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from connector.models import Company, ExpensifyCredential, SageConnection
from mappings.models import CategoryMapping, TagMapping

EXPENSIFY_PORT = int(os.environ.get("DEMO_EXPENSIFY_PORT", "8101"))
SAGE_PORT = int(os.environ.get("DEMO_SAGE_PORT", "8102"))
ADMIN_PORT = int(os.environ.get("DEMO_ADMIN_PORT", "8000"))

# What the demo's finance team mapped. "Client Gifts" points at a retired (inactive) account on
# purpose: its report fails until the mapping is fixed to 6500-00-000 and the report replayed.
# "Team Offsite" has no mapping and no GL code: its report waits as "needs mapping".
DEMO_CATEGORIES = {
    "Airfare": "6100-00-000",
    "Lodging": "6100-00-000",
    "Ground Transportation": "6100-00-000",
    "Conference Fees": "6100-00-000",
    "Meals & Entertainment": "6110-00-000",
    "Office Supplies": "6200-00-000",
    "Mileage": "6400-00-000",
    "Client Gifts": "6900-00-000",
}
DEMO_DEPARTMENTS = {"Field Ops": "01", "Engineering": "02", "Sales": "00", "Finance": "00"}


def admin_password_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-admin-password.txt"


def ensure_admin() -> tuple[str, str]:
    """The demo's admin login; the password is generated once and kept under var/."""
    path = admin_password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        password = path.read_text(encoding="utf-8").strip()
    else:
        password = secrets.token_urlsafe(12)
        path.write_text(password + "\n", encoding="utf-8")
        path.chmod(0o600)
    user, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    return "admin", password


@transaction.atomic
def ensure_demo_company() -> Company:
    from connector.demo_constants import (
        DEMO_AGENT_API_KEY,
        DEMO_LABEL,
        DEMO_PARTNER_USER_ID,
        DEMO_PARTNER_USER_SECRET,
        DEMO_PASSWORD,
        DEMO_POLICY_ID,
        DEMO_USERNAME,
    )

    # Created once: a restarted demo keeps whatever the operator changed on the company page.
    company, _ = Company.objects.get_or_create(
        code="ABC",
        defaults={
            "name": "ABC Distribution (demo)",
            "account_mask": "####-##-###",
            "segment_names": ["Main", "Department", "Location"],
            "required_segments": [],
            "reimbursable_offset_account": "2100-00-000",
            "card_offset_account": "2150-00-000",
            "expensify_policy_ids": DEMO_POLICY_ID,
            "export_label": DEMO_LABEL,
            # The demo's reports were approved in the last few weeks; the first run starts here.
            "export_start_date": datetime.date.today() - datetime.timedelta(days=90),
            "schedule_kind": "cron",
            "schedule_cron": "15 6 * * 1-5",
            "max_concurrent_writes": 2,
        },
    )
    ExpensifyCredential.objects.update_or_create(
        company=company,
        defaults={
            "base_url": f"http://127.0.0.1:{EXPENSIFY_PORT}/Integration-Server/ExpensifyIntegrations",
            "partner_user_id": DEMO_PARTNER_USER_ID,
            "partner_user_secret": DEMO_PARTNER_USER_SECRET,
        },
    )
    SageConnection.objects.update_or_create(
        company=company,
        defaults={
            "transport": "agent",
            "base_url": f"http://127.0.0.1:{SAGE_PORT}",
            "agent_api_key": DEMO_AGENT_API_KEY,
            "sage_username": DEMO_USERNAME,
            "sage_password": DEMO_PASSWORD,
        },
    )
    ensure_demo_mappings(company)
    return company


def ensure_demo_mappings(company: Company) -> None:
    """The category and department mappings the demo's finance team set up: added when missing,
    never changed (a restarted demo keeps the operator's fixes, e.g. Client Gifts → 6500-00-000)."""
    for category, account in DEMO_CATEGORIES.items():
        CategoryMapping.objects.get_or_create(
            company=company, category=category, defaults={"account": account}
        )
    for department, code in DEMO_DEPARTMENTS.items():
        TagMapping.objects.get_or_create(
            company=company,
            tag_level=1,
            tag_value=department,
            defaults={"segment": "Department", "code": code},
        )
