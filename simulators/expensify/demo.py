"""The demo company's Expensify data: one policy, six approved reports, one still in approval.

Shaped like Expensify's template data model (reports with transactionList), so the simulator
renders it through the same template logic. Dates are relative to `today` so the demo always
finds recent reports.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from connector.demo_constants import (
    DEMO_LABEL,
    DEMO_PARTNER_USER_ID,
    DEMO_PARTNER_USER_SECRET,
    DEMO_POLICY_ID,
    DEMO_POLICY_NAME,
)


def _policy() -> dict[str, Any]:
    categories = [
        ("Airfare", "6110"),
        ("Lodging", "6120"),
        ("Meals & Entertainment", "6130"),
        ("Ground Transportation", "6140"),
        ("Conference Fees", "6150"),
        ("Mileage", "6160"),
        ("Office Supplies", "6200"),
        ("Client Gifts", ""),  # mapped by the demo walk-through
        ("Team Offsite", ""),  # stays unmapped: its report needs a mapping
    ]
    departments = ["Field Ops", "Engineering", "Sales", "Finance"]
    projects = ["Denver Rollout", "Project: Phoenix", "Lisbon Audit", "General"]
    return {
        "name": DEMO_POLICY_NAME,
        "type": "corporate",
        "outputCurrency": "USD",
        "owner": "controller@acmefield.com",
        "categories": [{"name": n, "glCode": g, "enabled": True} for n, g in categories],
        "tags": [
            {"name": "Department", "tags": [{"name": d, "glCode": ""} for d in departments]},
            {
                "name": "Project",
                "tags": [{"name": p.replace(":", "\\:"), "glCode": ""} for p in projects],
            },
        ],
        "flatTags": [
            {"name": f"{d}:{p.replace(':', chr(92) + ':')}", "glCode": ""}
            for d in departments
            for p in projects
        ],
        "employees": [
            {"email": "maria.gonzalez@acmefield.com", "role": "user"},
            {"email": "dev.patel@acmefield.com", "role": "user"},
            {"email": "lena.fischer@acmefield.com", "role": "user"},
            {"email": "sam.okafor@acmefield.com", "role": "user"},
            {"email": "controller@acmefield.com", "role": "admin"},
        ],
    }


def _expense(
    tid: str,
    merchant: str,
    category: str,
    amount: int,
    day: date,
    *,
    tag: str = "",
    currency: str = "USD",
    converted: int | None = None,
    reimbursable: bool = True,
    comment: str = "",
) -> dict[str, Any]:
    gl = dict((c["name"], c["glCode"]) for c in _policy()["categories"])
    expense: dict[str, Any] = {
        "transactionID": tid,
        "merchant": merchant,
        "modifiedMerchant": "",
        "category": category,
        "categoryGlCode": gl.get(category, ""),
        "tag": tag,
        "currency": currency,
        "amount": amount,
        "modifiedAmount": "",
        "created": day.isoformat(),
        "modifiedCreated": "",
        "reimbursable": reimbursable,
        "billable": False,
        "comment": comment,
        "type": "expense",
        "receiptID": f"rcpt_{tid}",
        "hasTax": False,
    }
    if converted is not None:
        expense["convertedAmount"] = converted
    return expense


def _report(
    report_id: str,
    name: str,
    email: str,
    day: date,
    expenses: list[dict[str, Any]],
    *,
    status: str = "Approved",
) -> dict[str, Any]:
    total = sum(e.get("convertedAmount") or e["amount"] for e in expenses)
    return {
        "reportID": report_id,
        "reportName": name,
        "status": status,
        "accountEmail": email,
        "accountID": 1000 + sum(map(ord, email)) % 9000,
        "policyID": DEMO_POLICY_ID,
        "policyName": DEMO_POLICY_NAME,
        "currency": "USD",
        "total": total,
        "created": (day - timedelta(days=3)).isoformat() + " 09:12:44",
        "submitted": (day - timedelta(days=2)).isoformat() + " 17:40:02",
        "approved": day.isoformat() + " 11:05:19" if status == "Approved" else "",
        "managerEmail": "controller@acmefield.com",
        "transactionList": expenses,
    }


def demo_data(today: date | None = None) -> dict[str, Any]:
    """Credentials, the policy and the reports of the demo, as /_sim/load accepts them."""
    today = today or date.today()
    d = [today - timedelta(days=n) for n in range(30)]
    reports = [
        _report(
            "R00X9oNOn2MO",
            "Denver client visit",
            "maria.gonzalez@acmefield.com",
            d[6],
            [
                _expense(
                    "8832110001", "United Airlines", "Airfare", 48620, d[12], tag="Field Ops:Denver Rollout"
                ),
                _expense(
                    "8832110002",
                    "The Crawford Hotel",
                    "Lodging",
                    61275,
                    d[10],
                    tag="Field Ops:Denver Rollout",
                    comment='2 nights, "Union Station" rate',
                ),
                _expense(
                    "8832110003",
                    "Snooze, an A.M. Eatery",
                    "Meals & Entertainment",
                    4318,
                    d[10],
                    tag="Field Ops:Denver Rollout",
                ),
            ],
        ),
        _report(
            "83647",
            "Conference registration refund",
            "dev.patel@acmefield.com",
            d[5],
            [
                _expense(
                    "8832120001", "DevOps Summit", "Conference Fees", 89900, d[20], tag="Engineering:General"
                ),
                _expense(
                    "8832120002",
                    "DevOps Summit (refund)",
                    "Conference Fees",
                    -89900,
                    d[9],
                    tag="Engineering:General",
                    comment="Event moved online; fee refunded",
                ),
                _expense(
                    "8832120003", "Lyft", "Ground Transportation", 2745, d[9], tag="Engineering:General"
                ),
            ],
        ),
        _report(
            "R01Lisb0aUd1",
            "Lisbon supplier audit",
            "lena.fischer@acmefield.com",
            d[4],
            [
                _expense(
                    "8832130001",
                    "Pestana Palace",
                    "Lodging",
                    42000,
                    d[14],
                    currency="EUR",
                    converted=45612,
                    tag="Finance:Lisbon Audit",
                ),
                _expense(
                    "8832130002",
                    "Cervejaria Ramiro",
                    "Meals & Entertainment",
                    8650,
                    d[13],
                    currency="EUR",
                    converted=9394,
                    tag="Finance:Lisbon Audit",
                ),
                _expense(
                    "8832130003",
                    "TAP Air Portugal",
                    "Airfare",
                    112480,
                    d[15],
                    tag="Finance:Lisbon Audit",
                    reimbursable=False,
                ),
            ],
        ),
        _report(
            "R02PhX3nIxQ7",
            "Phoenix prototype parts",
            "dev.patel@acmefield.com",
            d[3],
            [
                _expense(
                    "8832140001",
                    "McMaster-Carr",
                    "Office Supplies",
                    15633,
                    d[8],
                    tag="Engineering:Project\\: Phoenix",
                    reimbursable=False,
                ),
                _expense(
                    "8832140002",
                    "Mileage: lab to supplier",
                    "Mileage",
                    4020,
                    d[8],
                    tag="Engineering:Project\\: Phoenix",
                ),
            ],
        ),
        _report(
            "R03OffS1te22",
            "Q4 team offsite",
            "sam.okafor@acmefield.com",
            d[2],
            [
                _expense(
                    "8832150001",
                    "Camp Navarro",
                    "Team Offsite",
                    235000,
                    d[7],
                    tag="Sales:General",
                    reimbursable=False,
                ),
                _expense("8832150002", "Costco", "Meals & Entertainment", 18764, d[7], tag="Sales:General"),
            ],
        ),
        _report(
            "R04G1fts0Nov",
            "Client appreciation gifts",
            "maria.gonzalez@acmefield.com",
            d[1],
            [
                _expense(
                    "8832160001",
                    "Harry & David",
                    "Client Gifts",
                    31450,
                    d[4],
                    tag="Sales:General",
                    comment="Holiday baskets for 5 key accounts",
                ),
            ],
        ),
        _report(
            "R05Pend1ng00",
            "November supplies (awaiting approval)",
            "sam.okafor@acmefield.com",
            d[0],
            [
                _expense("8832170001", "Staples", "Office Supplies", 6499, d[1], tag="Sales:General"),
            ],
            status="Processing",
        ),
    ]
    return {
        "credentials": {DEMO_PARTNER_USER_ID: DEMO_PARTNER_USER_SECRET},
        "policies": {DEMO_POLICY_ID: _policy()},
        "reports": reports,
    }


__all__ = [
    "DEMO_LABEL",
    "DEMO_PARTNER_USER_ID",
    "DEMO_PARTNER_USER_SECRET",
    "DEMO_POLICY_ID",
    "DEMO_POLICY_NAME",
    "demo_data",
]
