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
