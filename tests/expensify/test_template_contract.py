"""The template the connector sends, rendered by real FreeMarker, equals the simulator's output.

Also: what FreeMarker renders from awkward data parses into the reports we expect.
"""

from __future__ import annotations

import json
from typing import Any

from connector.expensify import ExpensifyReport, RejectedReport
from connector.expensify.parsing import parse_export_text
from simulators.expensify import demo_data, render_export
from tests.expensify.conftest import report, tx


def awkward_models() -> list[dict[str, Any]]:
    quotes = report("R00X9oNOn2MO", [
        tx("1001", 4318, merchant='Joe\'s "Best" Diner', comment="line one\nline two\ttab \\ back"),
        tx("1002", -2599, merchant="Refund \u2014 caf\u00e9 \u2615 \U0001F600", tag="Sales:West\\:Coast"),
        tx("1003", 42000, currency="EUR", convertedAmount=45612, modifiedAmount=41000),
        tx("1004", 999, modifiedAmount=""),
        tx("1005", 100, tag="Engineering:Project\\: Phoenix:Lab <3>", billable=True,
           reimbursable=False, modifiedCreated="2026-10-31", modifiedMerchant="Uber </script>"),
    ], reportName='Q4 "offsite" \\ <b>trip</b>', total=-12345)
    minimal = {"reportID": 83647, "transactionList": [{"transactionID": 77, "amount": 5}]}
    missing = report("R2", [{"transactionID": "only-id"}], accountEmail=None, policyName=None)
    return [
        {"reports": [quotes, minimal, missing]},
        {"reports": []},
        {"reports": [report("BIG", [tx(f"t{i}", i * 7 - 1000, merchant=f"M{i} \"q\"") for i in range(500)])]},
        demo_data(),
    ]


def test_simulator_renders_exactly_what_freemarker_renders(freemarker):
    models = awkward_models()
    rendered = freemarker(models)
    for model, output in zip(models, rendered, strict=True):
        assert json.loads(output) == json.loads(render_export(model["reports"]))


def test_freemarker_output_parses_into_reports(freemarker):
    (output,) = freemarker([awkward_models()[0]])
    parsed = list(parse_export_text(output))
    first, minimal, missing = parsed
    assert isinstance(first, ExpensifyReport)
    assert first.report_name == 'Q4 "offsite" \\ <b>trip</b>'
    assert first.total_cents == -12345
    amounts = [e.amount_cents for e in first.expenses]
    assert amounts == [4318, -2599, 45612, 999, 100]
    assert first.expenses[0].merchant == 'Joe\'s "Best" Diner'
    assert first.expenses[0].comment == "line one\nline two\ttab \\ back"
    assert first.expenses[1].merchant == "Refund \u2014 caf\u00e9 \u2615 \U0001F600"
    assert first.expenses[1].tag_levels == ("Sales", "West:Coast")
    assert first.expenses[2].original_currency == "EUR"
    assert first.expenses[4].tag_levels == ("Engineering", "Project: Phoenix", "Lab <3>")
    assert first.expenses[4].merchant == "Uber </script>"
    assert first.expenses[4].billable and not first.expenses[4].reimbursable
    assert str(first.expenses[4].created) == "2026-10-31"
    # No currency on the minimal report: unusable, but named.
    assert isinstance(minimal, RejectedReport) and minimal.report_id == "83647"
    assert isinstance(missing, RejectedReport) and "only-id" in missing.reason


def test_five_hundred_expenses_render_and_parse(freemarker):
    (output,) = freemarker([awkward_models()[2]])
    (big,) = parse_export_text(output)
    assert isinstance(big, ExpensifyReport)
    assert len(big.expenses) == 500
    assert sum(e.amount_cents for e in big.expenses) == sum(i * 7 - 1000 for i in range(500))


def test_demo_data_renders_into_six_approved_reports_and_one_pending(freemarker):
    (output,) = freemarker([demo_data()])
    parsed = list(parse_export_text(output))
    assert all(isinstance(p, ExpensifyReport) for p in parsed)
    assert len(parsed) == 7
    categories = {e.category for p in parsed if isinstance(p, ExpensifyReport) for e in p.expenses}
    assert {"Team Offsite", "Client Gifts"} <= categories


ODD_TEXT = ['"', "\\", "\n", "\r\n", "\t", "\x00", "\x1f", "\u2028", "</script>", "<!--", "]]>",
            "caf\u00e9", "\U0001F680", "R\\:D", ":", "${x}", "<#if>", "+", "%2B", "&amp;", " "]
ODD_VALUES: list[Any] = [None, "", "0", "12", "12.50", "true", "TRUE", "false", True, False, 0, -1,
                         123456789012, 12.5, 0.30000000000000004, 1e20, [], ["a"], {}, {"k": "v"}]


def random_text(rng: Any) -> str:
    return "".join(rng.choice(ODD_TEXT) + rng.choice(["", "x", "Zz9"]) for _ in range(rng.randint(0, 5)))


def random_model(rng: Any) -> dict[str, Any]:
    expense_fields = ["transactionID", "merchant", "modifiedMerchant", "category", "categoryGlCode",
                      "tag", "tagGlCode", "currency", "amount", "convertedAmount", "modifiedAmount",
                      "reimbursable", "billable", "created", "modifiedCreated", "comment", "type",
                      "receiptID"]
    report_fields = ["reportID", "reportName", "status", "accountEmail", "policyID", "policyName",
                     "currency", "total", "created", "submitted", "approved"]

    def fill(fields: list[str]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in fields:
            roll = rng.random()
            if roll < 0.15:
                continue  # missing
            data[name] = rng.choice(ODD_VALUES) if roll < 0.5 else random_text(rng)
        return data

    reports = []
    for _ in range(rng.randint(0, 3)):
        report_data = fill(report_fields)
        if rng.random() < 0.9:
            report_data["transactionList"] = [fill(expense_fields) for _ in range(rng.randint(0, 4))]
        reports.append(report_data)
    return {"reports": reports}


def test_simulator_matches_freemarker_on_random_odd_data(freemarker):
    import random

    rng = random.Random(20261125)
    models = [random_model(rng) for _ in range(200)]
    for model, output in zip(models, freemarker(models), strict=True):
        assert json.loads(output) == json.loads(render_export(model["reports"])), model
