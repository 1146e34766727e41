"""The streaming parser: amounts, tags, dates, rejected reports and broken documents."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.expensify import (
    ExpensifyProtocolError,
    ExpensifyReport,
    RejectedReport,
    parse_export,
    scanner,
    split_tag,
)
from connector.expensify.parsing import parse_export_text, policy_from_json, rendered_report_ids
from simulators.expensify.render import render_export
from tests.expensify.conftest import report, tx


def parse(reports: list[dict[str, Any]]) -> list[ExpensifyReport | RejectedReport]:
    return list(parse_export_text(render_export(reports)))


def only_report(reports: list[dict[str, Any]]) -> ExpensifyReport:
    (parsed,) = parse(reports)
    assert isinstance(parsed, ExpensifyReport), parsed
    return parsed


def test_report_fields_are_read():
    parsed = only_report([report("R00X9oNOn2MO", [tx("t1", 1234, merchant="Hotel", tag="A:B")])])
    assert parsed.report_id == "R00X9oNOn2MO"
    assert parsed.report_name == "Report R00X9oNOn2MO"
    assert parsed.employee_email == "employee@example.com"
    assert (parsed.policy_id, parsed.policy_name, parsed.currency) == ("POL1", "Policy One", "USD")
    assert parsed.total_cents == 1234
    assert (parsed.created, parsed.submitted, parsed.approved) == (
        date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3))
    (expense,) = parsed.expenses
    assert expense.transaction_id == "t1"
    assert expense.amount_cents == 1234 and isinstance(expense.amount_cents, int)
    assert expense.merchant == "Hotel"
    assert expense.category == "Meals" and expense.category_gl_code == "6130"
    assert expense.tag_levels == ("A", "B")
    assert expense.created == date(2026, 11, 2)
    assert expense.reimbursable is True and expense.billable is False


def test_numeric_report_id_is_text():
    parsed = only_report([report(83647)])  # type: ignore[arg-type]
    assert parsed.report_id == "83647"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"amount": 1000}, 1000),
        ({"amount": 1000, "modifiedAmount": 900}, 900),
        ({"amount": 1000, "modifiedAmount": ""}, 1000),
        ({"amount": 1000, "modifiedAmount": 900, "convertedAmount": 950}, 950),
        ({"amount": 1000, "modifiedAmount": 900, "convertedAmount": 0}, 900),
        ({"amount": -2500}, -2500),
        ({"amount": "1500"}, 1500),
    ],
)
def test_amount_precedence(fields, expected):
    parsed = only_report([report("R1", [tx("t1", **fields)])])
    assert parsed.expenses[0].amount_cents == expected


def test_refund_is_negative_and_keeps_original():
    parsed = only_report([report("R1", [tx("t1", -4599, merchant="Refund")])])
    assert parsed.expenses[0].amount_cents == -4599
    assert parsed.expenses[0].original_amount_cents == -4599


def test_foreign_currency_uses_converted_amount():
    expense = tx("t1", 42000, currency="EUR", convertedAmount=45612)
    parsed = only_report([report("R1", [expense])])
    assert parsed.expenses[0].amount_cents == 45612
    assert parsed.expenses[0].original_amount_cents == 42000
    assert parsed.expenses[0].original_currency == "EUR"


def test_foreign_currency_without_conversion_rejects_the_report():
    bad = tx("t9", 42000, currency="EUR")
    (parsed,) = parse([report("R7", [tx("t1"), bad], reportName="Lisbon trip")])
    assert isinstance(parsed, RejectedReport)
    assert parsed.report_id == "R7" and parsed.report_name == "Lisbon trip"
    assert "R7" in parsed.reason and "t9" in parsed.reason and "convertedAmount" in parsed.reason


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": None}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": "12.50"}, "amount"),
        ({"amount": 100, "modifiedAmount": 99.5}, "modifiedAmount"),
        ({"created": "yesterday"}, "created"),
        ({"convertedAmount": "n/a"}, "convertedAmount"),
    ],
)
def test_unusable_expense_rejects_report_naming_the_field(fields, field):
    (parsed,) = parse([report("R5", [tx("t5", **fields)])])
    assert isinstance(parsed, RejectedReport)
    assert "R5" in parsed.reason and "t5" in parsed.reason and field in parsed.reason


def test_one_bad_report_does_not_stop_the_others():
    parsed = parse([report("R1"), report("R2", [tx("t", 1.5)]), report("R3")])  # type: ignore[arg-type]
    assert [type(p).__name__ for p in parsed] == ["ExpensifyReport", "RejectedReport", "ExpensifyReport"]


def test_modified_created_wins_and_merchant_modified_wins():
    parsed = only_report([report("R1", [tx("t1", modifiedCreated="2026-10-30", modifiedMerchant="Uber")])])
    assert parsed.expenses[0].created == date(2026, 10, 30)
    assert parsed.expenses[0].merchant == "Uber"


@pytest.mark.parametrize(
    ("tag", "levels"),
    [
        ("", ()),
        ("Sales", ("Sales",)),
        ("Sales:West", ("Sales", "West")),
        ("Engineering:Project\\: Phoenix", ("Engineering", "Project: Phoenix")),
        (" R\\:D : Lab 2 ", ("R:D", "Lab 2")),
        ("A::C", ("A", "", "C")),
    ],
)
def test_split_tag(tag, levels):
    assert split_tag(tag) == levels


BROKEN_DOCUMENTS = [
    "",
    "<html>Service Unavailable</html>",
    "[]",
    '{"reports": {}}',
    '{"reports": [1]}',
    '{"reports": [{"reportID": "R1", "currency": "USD", "transactions": {}}]}',
    '{"reports": [{"reportID": "R1", "currency": "USD", "transactions": ["x"]}]}',
    '{"reports": [{"reportID": "", "transactions": []}]}',
    '{"reports": [{"reportID": "R1", "currency": "USD", "transactions": []}',
    '{"reports": [{"reportID": "R1", "currency": "USD", "total": NaN, "transactions": []}]}',
    '{"responseCode": 410, "responseMessage": "bad"}',
    '{"reports": []} trailing',
    '{"reports": [{"reportID": "R1", "transactions": [], "x": tru}]}',
    '{"reports": [{"reportID": "R1", "transactions": [{"tag": "\\',
]


@pytest.mark.parametrize("document", BROKEN_DOCUMENTS)
def test_broken_documents_raise_protocol_error(document):
    with pytest.raises(ExpensifyProtocolError):
        list(parse_export_text(document))


def test_protocol_error_names_report_and_field():
    document = '{"reports": [{"reportID": "R1", "currency": "USD", "transactions": {}}]}'
    with pytest.raises(ExpensifyProtocolError, match=r"R1.*transactions"):
        list(parse_export_text(document))


def test_bytes_stream_and_other_top_level_fields(monkeypatch):
    monkeypatch.setattr(scanner, "CHUNK_CHARS", 7)
    rendered = json.loads(render_export([report("R1"), report("R2")]))["reports"]
    text = json.dumps({"header": {"x": [1, "]}\\\""]}, "reports": rendered, "n": 2})
    parsed = list(parse_export(io.BytesIO(text.encode())))
    assert [p.report_id for p in parsed] == ["R1", "R2"]


def test_not_utf8_is_a_protocol_error():
    with pytest.raises(ExpensifyProtocolError):
        list(parse_export(io.BytesIO(b'{"reports": [{"reportName": "\xff\xfe"}]}')))


def error_of(read: Any, document: str) -> str:
    with pytest.raises(ExpensifyProtocolError) as caught:
        read(io.StringIO(document))
    return str(caught.value)


@pytest.mark.parametrize("document", BROKEN_DOCUMENTS)
def test_the_marking_read_back_refuses_what_the_parser_refuses_with_the_same_error(document):
    assert error_of(rendered_report_ids, document) == error_of(lambda s: list(parse_export(s)), document)


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 20])
def test_the_marking_read_back_holds_the_ids_the_parser_yields(monkeypatch, chunk):
    monkeypatch.setattr(scanner, "CHUNK_CHARS", chunk)
    data = [
        report("R1", [tx("t1", 100, merchant='a "quoted" {merchant} \\ [x]')]),
        report("R2", [tx("t", 1.5)]),  # type: ignore[arg-type]  # rejected, but it was rendered
        report("83647"),
    ]
    text = render_export(data)
    parsed = list(parse_export_text(text))
    assert isinstance(parsed[1], RejectedReport)
    assert rendered_report_ids(io.StringIO(text)) == {p.report_id for p in parsed} == {"R1", "R2", "83647"}


def test_the_marking_read_back_sends_odd_reports_through_the_parser():
    rendered = json.loads(render_export([report("R1")]))["reports"][0]
    numeric = json.dumps({"reports": [dict(rendered, reportID=83647)]})
    assert rendered_report_ids(io.StringIO(numeric)) == {"83647"}
    bad_currency_bad_expense = json.dumps(
        {"reports": [dict(rendered, currency=True, transactions=["x"])]}
    )
    (rejected,) = parse_export_text(bad_currency_bad_expense)
    assert isinstance(rejected, RejectedReport)
    assert rendered_report_ids(io.StringIO(bad_currency_bad_expense)) == {"R1"}


tricky_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(merchant=tricky_text, comment=tricky_text, chunk=st.integers(min_value=1, max_value=64),
       amount=st.integers(min_value=-10**12, max_value=10**12))
def test_any_text_survives_any_chunking(monkeypatch, merchant, comment, chunk, amount):
    monkeypatch.setattr(scanner, "CHUNK_CHARS", chunk)
    data = [report("R1", [tx("t1", amount, merchant=merchant or "m", comment=comment)]), report("R2")]
    parsed = parse(data)
    assert [p.report_id for p in parsed] == ["R1", "R2"]
    first = parsed[0]
    assert isinstance(first, ExpensifyReport)
    assert first.expenses[0].merchant == (merchant or "m")
    assert first.expenses[0].comment == comment
    assert first.expenses[0].amount_cents == amount


def test_policy_tags_in_both_shapes():
    levels = policy_from_json("P", {"name": "Acme", "tags": [
        {"name": "Department", "tags": [{"name": "Sales", "glCode": "01"}]},
        {"name": "Project", "tags": [{"name": "Project\\: Phoenix", "glCode": ""}]},
    ], "categories": [{"name": "Meals", "glCode": "6130", "enabled": True},
                      {"name": "Old", "glCode": "", "enabled": False}],
        "employees": [{"email": "A@x.com", "role": "admin"}]})
    assert [(t.level, t.level_name, t.name, t.gl_code) for t in levels.tags] == [
        (1, "Department", "Sales", "01"), (2, "Project", "Project: Phoenix", "")]
    assert [(c.name, c.enabled) for c in levels.categories] == [("Meals", True), ("Old", False)]
    assert levels.employees[0].email == "a@x.com"
    flat = policy_from_json("P", {"tags": [{"name": "Sales:West", "glCode": "W1"},
                                           {"name": "Sales:East\\:Coast", "glCode": "E1"}]})
    assert [(t.level, t.name, t.gl_code) for t in flat.tags] == [
        (1, "Sales", ""), (2, "West", "W1"), (2, "East:Coast", "E1")]
