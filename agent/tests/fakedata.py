"""Fake Sage 100 data for the agent's tests: companies ABC and XYZ, two users, charts, periods."""

from __future__ import annotations

import calendar
from typing import Any

POSTER, POSTER_PASSWORD = "poster", "Sage-pw-Q7x!2"
VIEWER, VIEWER_PASSWORD = "viewer", "Sage-pw-V1ew"
POSTER2, POSTER2_PASSWORD = "poster2", "Sage-pw-Tw0!"


def year(y: int, closed_through: int = 0) -> list[dict[str, Any]]:
    """Twelve calendar-month periods; 1..closed_through closed."""
    return [
        {
            "period": m,
            "start": f"{y}-{m:02d}-01",
            "end": f"{y}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}",
            "status": "closed" if m <= closed_through else "open",
        }
        for m in range(1, 13)
    ]


def account(code: str, key: int, description: str, status: str = "A") -> dict[str, str]:
    return {
        "account": code,
        "accountKey": f"{key:09d}",
        "description": description,
        "mainAccountCode": code.split("-")[0],
        "status": status,
    }


def data() -> dict[str, Any]:
    """The whole fake Sage: users with rights, companies with structure, chart and periods."""
    abc = [
        account("2100-00-000", 100, "Employee reimbursements payable"),
        account("2150-00-000", 101, "Company card clearing"),
    ]
    key = 400
    for main, desc in [("6100", "Travel"), ("6110", "Meals"), ("6200", "Office")]:
        for dept in ("00", "01", "02"):
            key += 1
            abc.append(account(f"{main}-{dept}-000", key, desc))
    abc.append(account("6900-00-000", 900, "Old suspense", "I"))
    abc.append(account("6950-00-000", 950, "Deleted account", "D"))
    return {
        "sageVersion": "Sage 100 2024 (fake BOI)",
        "users": {
            POSTER: {"password": POSTER_PASSWORD, "companies": {"ABC": "post", "XYZ": "post", "QQQ": "post"}},
            POSTER2: {"password": POSTER2_PASSWORD, "companies": {"ABC": "post", "XYZ": "post"}},
            VIEWER: {"password": VIEWER_PASSWORD, "companies": {"ABC": "read"}},
        },
        "companies": [
            {
                "code": "ABC",
                "separator": "-",
                "segments": [
                    {"name": "Main", "length": 4, "type": "numeric"},
                    {"name": "Department", "length": 2, "type": "numeric"},
                    {"name": "Location", "length": 3, "type": "numeric"},
                ],
                "accounts": abc,
                "periods": {"2026": year(2026, 6), "2027": year(2027)},
            },
            {
                "code": "XYZ",
                "separator": "-",
                "segments": [
                    {"name": "Main", "length": 3, "type": "alphanumeric"},
                    {"name": "Account", "length": 4, "type": "numeric"},
                ],
                "accounts": [account("LIA-2100", 10, "Payable"), account("TRV-6100", 20, "Travel")],
                "periods": {"2026": year(2026)},
            },
            # In Sage but not configured in the agent.
            {
                "code": "QQQ",
                "separator": "",
                "segments": [{"name": "Main", "length": 4, "type": "numeric"}],
                "accounts": [],
                "periods": {},
            },
        ],
    }
