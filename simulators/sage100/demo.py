"""The demo data set: company ABC (####-##-###) and XYZ (AAA-####), users, charts, periods."""

from __future__ import annotations

import calendar
from typing import Any

from connector.demo_constants import (
    DEMO_AGENT_API_KEY,
    DEMO_PASSWORD,
    DEMO_READONLY_PASSWORD,
    DEMO_READONLY_USERNAME,
    DEMO_USERNAME,
)

__all__ = [
    "DEMO_AGENT_API_KEY",
    "DEMO_PASSWORD",
    "DEMO_READONLY_PASSWORD",
    "DEMO_READONLY_USERNAME",
    "DEMO_USERNAME",
    "demo",
]


def fiscal_year(year: int, *, closed_through: int = 0) -> list[dict[str, Any]]:
    """Twelve calendar-month periods of `year`; periods 1..closed_through are closed."""
    periods = []
    for month in range(1, 13):
        last = calendar.monthrange(year, month)[1]
        periods.append(
            {
                "period": month,
                "start": f"{year}-{month:02d}-01",
                "end": f"{year}-{month:02d}-{last:02d}",
                "status": "closed" if month <= closed_through else "open",
            }
        )
    return periods


def _account(account: str, key: int, description: str, status: str = "A") -> dict[str, str]:
    return {
        "account": account,
        "accountKey": f"{key:06d}",
        "description": description,
        "mainAccountCode": account.split("-")[0],
        "status": status,
    }


def demo() -> dict[str, Any]:
    """The simulator configuration used by `--demo`, the demo and most tests."""
    abc_accounts = [
        _account("2100-00-000", 100, "Employee reimbursements payable"),
        _account("2150-00-000", 101, "Company card clearing"),
    ]
    key = 400
    for main, description in [
        ("6100", "Travel"),
        ("6110", "Meals"),
        ("6200", "Office Supplies"),
        ("6300", "Software"),
        ("6400", "Mileage"),
        ("6500", "Client Gifts"),
    ]:
        for department in ("00", "01", "02"):
            key += 1
            abc_accounts.append(_account(f"{main}-{department}-000", key, description))
    abc_accounts.append(_account("6900-00-000", 900, "Old suspense (inactive)", "I"))
    xyz_accounts = [
        _account("LIA-2100", 10, "Reimbursements payable"),
        _account("LIA-2150", 11, "Card clearing"),
        _account("TRV-6100", 20, "Travel"),
        _account("MEA-6110", 21, "Meals"),
        _account("OLD-6900", 22, "Retired", "D"),
    ]
    return {
        "agentApiKey": DEMO_AGENT_API_KEY,
        "agentVersion": "1.4.0-sim",
        "sageVersion": "Sage 100 2024 (simulated)",
        "pageSize": 7,
        "users": {
            DEMO_USERNAME: {"password": DEMO_PASSWORD, "companies": {"ABC": "post", "XYZ": "post"}},
            DEMO_READONLY_USERNAME: {
                "password": DEMO_READONLY_PASSWORD,
                "companies": {"ABC": "read", "XYZ": "read"},
            },
        },
        "companies": [
            {
                "code": "ABC",
                "name": "ABC Distribution (demo)",
                "separator": "-",
                "segments": [
                    {"name": "Main", "length": 4, "type": "numeric"},
                    {"name": "Department", "length": 2, "type": "numeric"},
                    {"name": "Location", "length": 3, "type": "numeric"},
                ],
                "accounts": abc_accounts,
                "periods": {
                    "2026": fiscal_year(2026, closed_through=6),
                    "2027": fiscal_year(2027),
                },
                "maxConcurrentWrites": 2,
            },
            {
                "code": "XYZ",
                "name": "XYZ Holdings (demo)",
                "separator": "-",
                "segments": [
                    {"name": "Main", "length": 3, "type": "alphanumeric"},
                    {"name": "Account", "length": 4, "type": "numeric"},
                ],
                "accounts": xyz_accounts,
                "periods": {"2026": fiscal_year(2026), "2027": fiscal_year(2027)},
                "maxConcurrentWrites": 1,
            },
        ],
    }
