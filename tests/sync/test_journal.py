"""The journal builder: docs/accounting.md, one behaviour per test. No database."""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mask import parse_mask
from sync import journal
from sync import text as text_module
from sync.journal import (
    BuildBug,
    BuiltEntry,
    Chart,
    CompanyRules,
    EntryLine,
    ExpenseInput,
    MappingTables,
    NeedsMapping,
    NothingToPost,
    Periods,
    ReportInput,
    ReportRejected,
    build_entry,
    describe_difference,
    entry_fingerprint,
    report_fingerprint,
)
from sync.text import sage_reference, sage_text, to_sage_text, truncate

MASK = parse_mask("####-##-###", ["Main", "Department", "Location"])
REIMBURSABLE = "2100-00-000"
CARD = "2200-00-000"
EXPORT_DATE = date(2026, 3, 20)
APPROVED = date(2026, 3, 10)

CHART = Chart(
    {
        "6100-00-000": "A",
        "6100-01-000": "A",
        "6100-02-000": "A",
        "6100-01-010": "A",
        "6110-00-000": "A",
        "6200-00-000": "A",
        "6300-00-000": "A",
        "6900-00-000": "I",
        "6950-00-000": "D",
        REIMBURSABLE: "A",
        CARD: "A",
        "2150-00-000": "A",
        "2250-00-000": "A",
    }
)


def month_periods(year: int, closed: tuple[int, ...] = ()) -> Periods:
    periods = []
    for month in range(1, 13):
        start = date(year, month, 1)
        end = (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)) - timedelta(days=1)
        periods.append((start, end, month not in closed))
    return Periods(periods)


PERIODS = month_periods(2026)
MAPPINGS = MappingTables(
    categories={"Travel": "6100-00-000", "Meals": "6200-00-000", "Office": "6300-00-000"},
    tags={
        (1, "field ops"): ("Department", "1"),
        (1, "sales"): ("2", "02"),
        (2, "boston"): ("Location", "10"),
    },
)


def expense(
    tid: str = "T1",
    amount: int = 10000,
    category: str = "Travel",
    *,
    merchant: str = "Delta",
    gl_code: str = "",
    tags: tuple[str, ...] = (),
    reimbursable: bool = True,
    spent_on: date | None = date(2026, 3, 2),
    currency: str = "USD",
) -> ExpenseInput:
    return ExpenseInput(
        transaction_id=tid,
        merchant=merchant,
        category=category,
        category_gl_code=gl_code,
        tag_levels=tags,
        amount_cents=amount,
        currency=currency,
        reimbursable=reimbursable,
        spent_on=spent_on,
    )


def report(
    *expenses: ExpenseInput,
    total: int | None = None,
    report_id: str = "R00X9oNOn2MO",
    name: str = "Boston trip",
    email: str = "ann@example.com",
    policy: str = "P1",
    currency: str = "USD",
    approved_on: date | None = APPROVED,
) -> ReportInput:
    return ReportInput(
        report_id=report_id,
        report_name=name,
        employee_email=email,
        policy_id=policy,
        currency=currency,
        total_cents=sum(e.amount_cents for e in expenses) if total is None else total,
        approved_on=approved_on,
        expenses=expenses,
    )


def rules(**changes: object) -> CompanyRules:
    base = CompanyRules(
        code="ABC",
        mask=MASK,
        home_currency="USD",
        allow_foreign_currency=False,
        reimbursable_offset_account=REIMBURSABLE,
        card_offset_account=CARD,
    )
    return dataclasses.replace(base, **changes)


def build(
    rep: ReportInput,
    company: CompanyRules | None = None,
    mappings: MappingTables = MAPPINGS,
    chart: Chart = CHART,
    periods: Periods = PERIODS,
    export_date: date = EXPORT_DATE,
) -> BuiltEntry | NothingToPost:
    return build_entry(rep, company or rules(), mappings, chart, periods, export_date=export_date)


def built(rep: ReportInput, company: CompanyRules | None = None, **kwargs: object) -> BuiltEntry:
    result = build(rep, company, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, BuiltEntry), result
    return result


def amounts(entry: BuiltEntry) -> list[tuple[str, int, int]]:
    return [(line.account, line.debit_cents, line.credit_cents) for line in entry.lines]


# --- entry shape -------------------------------------------------------------------------------


def test_summary_has_one_line_per_account_with_the_summed_amount() -> None:
    entry = built(
        report(
            expense("T1", 10000, "Travel"),
            expense("T2", 2550, "Travel"),
            expense("T3", 1200, "Meals"),
        )
    )
    assert amounts(entry) == [
        ("6100-00-000", 12550, 0),
        ("6200-00-000", 1200, 0),
        (REIMBURSABLE, 0, 13750),
    ]
    assert entry.lines[0].source_transactions == ("T1", "T2")


def test_detail_has_one_line_per_expense_and_offsets_grouped() -> None:
    entry = built(
        report(
            expense("T1", 10000, "Travel", merchant="Delta"),
            expense("T2", 2550, "Travel", merchant="Uber"),
        ),
        rules(entry_shape="detail"),
    )
    assert amounts(entry) == [
        ("6100-00-000", 10000, 0),
        ("6100-00-000", 2550, 0),
        (REIMBURSABLE, 0, 12550),
    ]
    assert [line.comment for line in entry.lines[:2]] == ["Delta T1", "Uber T2"]


def test_detail_comment_is_cut_to_60_characters_keeping_the_transaction_id() -> None:
    tid = "8012345678901234567"
    entry = built(report(expense(tid, 500, merchant="M" * 80)), rules(entry_shape="detail"))
    comment = entry.lines[0].comment
    assert len(comment) == 60
    assert comment.endswith(" " + tid)


def test_detail_lines_are_ordered_by_date_then_transaction_id() -> None:
    entry = built(
        report(
            expense("T9", 100, spent_on=date(2026, 3, 1)),
            expense("T2", 200, spent_on=date(2026, 3, 5)),
            expense("T1", 300, spent_on=date(2026, 3, 5)),
        ),
        rules(entry_shape="detail"),
    )
    assert [line.source_transactions for line in entry.lines[:3]] == [("T9",), ("T1",), ("T2",)]


def test_line_mapping_source_and_expense_accounts_are_recorded_for_the_audit() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("Field Ops",))))
    assert entry.lines[0].mapping_source == (
        "category mapping Travel → 6100-00-000; tag L1 'Field Ops' → Department=01"
    )
    assert entry.lines[1].mapping_source == "company reimbursement account"
    assert entry.expense_accounts == {"T1": "6100-01-000"}
    assert entry.offset_accounts == {"T1": REIMBURSABLE}


# --- refunds and zeros -------------------------------------------------------------------------


def test_refund_posts_on_the_opposite_side() -> None:
    entry = built(report(expense("T1", -4000, "Travel")))
    assert amounts(entry) == [("6100-00-000", 0, 4000), (REIMBURSABLE, 4000, 0)]


def test_summary_nets_a_refund_against_expenses_on_the_same_account() -> None:
    entry = built(report(expense("T1", 10000), expense("T2", -3000)))
    assert amounts(entry) == [("6100-00-000", 7000, 0), (REIMBURSABLE, 0, 7000)]


def test_detail_keeps_the_refund_as_its_own_credit_line() -> None:
    entry = built(report(expense("T1", 10000), expense("T2", -3000)), rules(entry_shape="detail"))
    assert amounts(entry) == [
        ("6100-00-000", 10000, 0),
        ("6100-00-000", 0, 3000),
        (REIMBURSABLE, 0, 7000),
    ]


def test_summary_drops_an_account_that_nets_to_zero() -> None:
    entry = built(
        report(expense("T1", 5000, "Meals"), expense("T2", -5000, "Meals"), expense("T3", 800, "Travel"))
    )
    assert amounts(entry) == [("6100-00-000", 800, 0), (REIMBURSABLE, 0, 800)]


def test_zero_amount_expense_posts_nothing_but_is_listed() -> None:
    entry = built(report(expense("T1", 10000), expense("T0", 0, "Meals")))
    assert amounts(entry) == [("6100-00-000", 10000, 0), (REIMBURSABLE, 0, 10000)]
    assert entry.zero_expenses == ("T0",)
    assert "T0" not in entry.expense_accounts


def test_zero_amount_expense_with_an_unmapped_category_does_not_block_the_report() -> None:
    entry = built(report(expense("T1", 10000), expense("T0", 0, "Unmapped")))
    assert entry.zero_expenses == ("T0",)


def test_report_of_only_zero_amounts_is_nothing_to_post() -> None:
    result = build(report(expense("T1", 0), expense("T2", 0)))
    assert isinstance(result, NothingToPost)
    assert result.zero_expenses == ("T1", "T2")
    assert "zero-amount" in result.reason


@pytest.mark.parametrize("shape", ["summary", "detail"])
def test_report_netting_to_zero_on_every_account_is_nothing_to_post(shape: str) -> None:
    result = build(report(expense("T1", 5000), expense("T2", -5000)), rules(entry_shape=shape))
    assert isinstance(result, NothingToPost)
    assert "net to zero" in result.reason
    assert result.expense_accounts == {"T1": "6100-00-000", "T2": "6100-00-000"}


def test_expense_accounts_net_to_zero_but_offsets_do_not_posts_the_offsets() -> None:
    entry = built(report(expense("T1", 5000, reimbursable=True), expense("T2", -5000, reimbursable=False)))
    assert amounts(entry) == [(REIMBURSABLE, 0, 5000), (CARD, 5000, 0)]


# --- accounts ----------------------------------------------------------------------------------


def test_category_mapping_wins_over_the_expensify_gl_code() -> None:
    entry = built(report(expense("T1", 100, "Travel", gl_code="6110-00-000")))
    assert entry.expense_accounts["T1"] == "6100-00-000"


def test_gl_code_fallback_is_formatted_to_the_mask() -> None:
    entry = built(report(expense("T1", 100, "Parking", gl_code="6110-0-0")))
    assert entry.expense_accounts["T1"] == "6110-00-000"
    assert entry.lines[0].mapping_source == "Expensify GL code 6110-0-0 → 6110-00-000"


def test_gl_code_without_separators_is_formatted_to_the_mask() -> None:
    entry = built(report(expense("T1", 100, "Parking", gl_code="611000000")))
    assert entry.expense_accounts["T1"] == "6110-00-000"


def test_gl_code_naming_only_the_main_account_gets_zero_filled_segments() -> None:
    entry = built(report(expense("T1", 100, "Parking", gl_code="6110")))
    assert entry.expense_accounts["T1"] == "6110-00-000"


def test_gl_code_that_does_not_fit_the_mask_needs_mapping_with_the_mask_error() -> None:
    with pytest.raises(NeedsMapping) as caught:
        build(report(expense("T1", 100, "Parking", gl_code="61100-AB")))
    (problem,) = caught.value.problems
    assert "category Parking" in problem
    assert "'61100-AB'" in problem
    assert "####-##-###" in problem


def test_needs_mapping_lists_every_unmapped_category_at_once() -> None:
    with pytest.raises(NeedsMapping) as caught:
        build(
            report(
                expense("T1", 100, "Gifts"),
                expense("T2", 100, "Travel"),
                expense("T3", 100, "Parking"),
                expense("T4", 100, "Gifts"),
            )
        )
    assert caught.value.problems == [
        "category Gifts: no category mapping and no Expensify GL code (expenses T1, T4)",
        "category Parking: no category mapping and no Expensify GL code (expense T3)",
    ]


def test_needs_mapping_never_falls_back_to_a_default_account() -> None:
    with pytest.raises(NeedsMapping):
        build(report(expense("T1", 100, "")))


def test_tag_mapping_replaces_the_named_segment() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("Field Ops",))))
    assert entry.expense_accounts["T1"] == "6100-01-000"


def test_tag_mapping_matches_values_ignoring_case() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("FIELD OPS",))))
    assert entry.expense_accounts["T1"] == "6100-01-000"


def test_tag_mapping_by_segment_number() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("Sales",))))
    assert entry.expense_accounts["T1"] == "6100-02-000"


def test_tag_mappings_on_several_levels_each_set_their_segment() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("Field Ops", "Boston"))))
    assert entry.expense_accounts["T1"] == "6100-01-010"


def test_unmapped_tag_value_leaves_an_optional_segment_alone() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("Marketing",))))
    assert entry.expense_accounts["T1"] == "6100-00-000"


def test_required_segment_not_set_by_a_tag_needs_mapping() -> None:
    with pytest.raises(NeedsMapping) as caught:
        build(
            report(expense("T1", 100, "Travel", tags=("Field Ops",))),
            rules(required_segments=("Location",)),
        )
    assert caught.value.problems == [
        "category Travel, tag 'Field Ops' at level 1: no mapping sets required segment Location (expense T1)"
    ]


def test_required_segment_with_no_tag_at_all_needs_mapping() -> None:
    with pytest.raises(NeedsMapping) as caught:
        build(report(expense("T1", 100, "Travel")), rules(required_segments=("Department",)))
    assert caught.value.problems == [
        "category Travel, no tag: no mapping sets required segment Department (expense T1)"
    ]


def test_required_segment_set_by_a_tag_mapping_builds() -> None:
    entry = built(report(expense("T1", 100, "Travel", tags=("Field Ops",))), rules(required_segments=("2",)))
    assert entry.expense_accounts["T1"] == "6100-01-000"


def test_unmapped_categories_and_required_segments_are_reported_together() -> None:
    with pytest.raises(NeedsMapping) as caught:
        build(
            report(expense("T1", 100, "Gifts"), expense("T2", 100, "Travel", tags=("Nowhere",))),
            rules(required_segments=("Department",)),
        )
    assert len(caught.value.problems) == 3
    assert "category Gifts: no category mapping" in caught.value.problems[0]
    assert "tag 'Nowhere' at level 1" in caught.value.problems[2]


def test_two_tags_setting_one_segment_differently_need_mapping() -> None:
    mappings = dataclasses.replace(
        MAPPINGS, tags={(1, "field ops"): ("Department", "01"), (2, "sales"): ("Department", "02")}
    )
    with pytest.raises(NeedsMapping) as caught:
        build(report(expense("T1", 100, tags=("Field Ops", "Sales"))), mappings=mappings)
    assert "set segment Department to different codes" in caught.value.problems[0]


def test_tag_mapping_code_that_does_not_fit_the_segment_needs_mapping() -> None:
    mappings = dataclasses.replace(MAPPINGS, tags={(1, "field ops"): ("Department", "123")})
    with pytest.raises(NeedsMapping) as caught:
        build(report(expense("T1", 100, tags=("Field Ops",))), mappings=mappings)
    assert "tag 'Field Ops' at level 1" in caught.value.problems[0]


def test_reimbursable_offset_uses_the_employee_override_by_email() -> None:
    mappings = dataclasses.replace(MAPPINGS, employee_offsets={"ann@example.com": "2150-00-000"})
    entry = built(report(expense("T1", 100), email="Ann@Example.com "), mappings=mappings)
    assert amounts(entry)[-1] == ("2150-00-000", 0, 100)
    assert entry.lines[-1].mapping_source == "employee override ann@example.com"


def test_reimbursable_offset_defaults_to_the_company_account() -> None:
    entry = built(report(expense("T1", 100)))
    assert amounts(entry)[-1] == (REIMBURSABLE, 0, 100)


def test_card_expense_offsets_to_the_company_card_account() -> None:
    entry = built(report(expense("T1", 100, reimbursable=False)))
    assert amounts(entry)[-1] == (CARD, 0, 100)
    assert entry.lines[-1].mapping_source == "company card account"


def test_card_expense_uses_the_per_policy_card_override() -> None:
    mappings = dataclasses.replace(MAPPINGS, card_offsets={"P1": "2250-00-000"})
    entry = built(report(expense("T1", 100, reimbursable=False), policy="P1"), mappings=mappings)
    assert amounts(entry)[-1] == ("2250-00-000", 0, 100)
    assert entry.lines[-1].mapping_source == "card override for policy P1"


def test_mixed_report_credits_each_offset_account() -> None:
    entry = built(report(expense("T1", 100, reimbursable=True), expense("T2", 250, reimbursable=False)))
    assert amounts(entry) == [("6100-00-000", 350, 0), (REIMBURSABLE, 0, 100), (CARD, 0, 250)]


def test_inactive_account_rejects_the_report_saying_where_it_came_from() -> None:
    mappings = dataclasses.replace(MAPPINGS, categories={"Travel": "6900-00-000"})
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100)), mappings=mappings)
    reason = caught.value.reason
    assert "6900-00-000 is inactive in Sage (status I)" in reason
    assert "category mapping Travel → 6900-00-000" in reason
    assert "expense T1" in reason


def test_missing_and_deleted_accounts_are_all_listed() -> None:
    mappings = dataclasses.replace(MAPPINGS, categories={"Travel": "6950-00-000", "Meals": "6500-00-000"})
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100, "Travel"), expense("T2", 100, "Meals")), mappings=mappings)
    assert "6950-00-000 is deleted in Sage (status D)" in caught.value.reason
    assert "6500-00-000 is not in the Sage chart" in caught.value.reason


def test_offset_account_missing_from_the_chart_rejects_the_report() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100)), rules(reimbursable_offset_account="2999-00-000"))
    assert "2999-00-000 is not in the Sage chart (from company reimbursement account" in caught.value.reason


def test_company_without_a_card_account_rejects_card_expenses() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100, reimbursable=False)), rules(card_offset_account=""))
    assert "no company card account" in caught.value.reason


# --- report validation -------------------------------------------------------------------------


def test_report_in_another_currency_is_refused_when_not_allowed() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100, currency="EUR"), currency="EUR"))
    assert "EUR" in caught.value.reason
    assert "USD" in caught.value.reason


def test_report_in_another_currency_builds_when_allowed() -> None:
    entry = built(report(expense("T1", 100), currency="EUR"), rules(allow_foreign_currency=True))
    assert entry.currency == "EUR"


def test_currency_comparison_ignores_case() -> None:
    assert isinstance(build(report(expense("T1", 100), currency="usd")), BuiltEntry)


def test_total_mismatch_shows_both_figures() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 10000), expense("T2", 2540), total=12000))
    assert "total mismatch" in caught.value.reason
    assert "120.00 USD" in caught.value.reason
    assert "125.40 USD" in caught.value.reason


def test_total_is_compared_without_its_sign() -> None:
    assert isinstance(build(report(expense("T1", 12540), total=-12540)), BuiltEntry)


def test_duplicate_transaction_ids_reject_the_report() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100), expense("T1", 200)))
    assert "T1" in caught.value.reason


def test_float_amount_is_refused_at_the_door() -> None:
    with pytest.raises(TypeError):
        expense("T1", 12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        report(expense("T1", 100), total=1.0)  # type: ignore[arg-type]


def test_every_amount_in_a_built_entry_is_an_int() -> None:
    entry = built(
        report(expense("T1", 12345), expense("T2", -45, reimbursable=False)), rules(entry_shape="detail")
    )
    values = [entry.net_total_cents, entry.total_debit_cents, entry.total_credit_cents]
    values += [line.debit_cents for line in entry.lines] + [line.credit_cents for line in entry.lines]
    assert all(type(v) is int for v in values)


def test_payload_amounts_are_two_place_strings() -> None:
    entry = built(report(expense("T1", 12540), expense("T2", 5, "Meals")))
    lines = entry.payload().to_json()["lines"]
    assert lines[0] == {"account": "6100-00-000", "debit": "125.40", "credit": "0.00", "comment": "Travel"}
    assert lines[1]["debit"] == "0.05"


def test_unbalanced_lines_are_a_build_bug() -> None:
    lines = [
        EntryLine("6100-00-000", 100, 0, "", "expense", ("T1",), ""),
        EntryLine(REIMBURSABLE, 0, 99, "", "offset", ("T1",), ""),
    ]
    with pytest.raises(BuildBug):
        journal._check_balanced(lines, 100)


def test_line_with_two_sides_is_a_build_bug() -> None:
    lines = [
        EntryLine("6100-00-000", 100, 100, "", "expense", ("T1",), ""),
        EntryLine(REIMBURSABLE, 0, 0, "", "offset", ("T1",), ""),
    ]
    with pytest.raises(BuildBug):
        journal._check_balanced(lines, 0)


def test_build_bug_is_an_assertion_error() -> None:
    assert issubclass(BuildBug, AssertionError)


# --- posting date ------------------------------------------------------------------------------


def test_posting_date_defaults_to_the_approval_date() -> None:
    entry = built(report(expense("T1", 100)))
    assert entry.posting_date == APPROVED
    assert entry.notes == []


def test_missing_approval_date_falls_back_to_the_export_date_with_a_note() -> None:
    entry = built(report(expense("T1", 100), approved_on=None))
    assert entry.posting_date == EXPORT_DATE
    assert entry.notes == ["no approval date; posting on the export date 2026-03-20"]


def test_posting_date_rule_export_date() -> None:
    entry = built(report(expense("T1", 100)), rules(posting_date_rule="exported"))
    assert entry.posting_date == EXPORT_DATE


def test_posting_date_rule_last_expense() -> None:
    entry = built(
        report(
            expense("T1", 100, spent_on=date(2026, 2, 27)),
            expense("T2", 100, spent_on=date(2026, 3, 4)),
            expense("T3", 100, spent_on=None),
        ),
        rules(posting_date_rule="last_expense"),
    )
    assert entry.posting_date == date(2026, 3, 4)


def test_last_expense_rule_without_expense_dates_uses_the_approval_date_with_a_note() -> None:
    entry = built(report(expense("T1", 100, spent_on=None)), rules(posting_date_rule="last_expense"))
    assert entry.posting_date == APPROVED
    assert "no expense has a date" in entry.notes[0]


def test_closed_period_fails_the_report_naming_date_and_period() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100)), periods=month_periods(2026, closed=(3,)))
    assert caught.value.reason == (
        "period closed: posting date 2026-03-10 falls in closed period 2026-03-01 to 2026-03-31"
    )


def test_closed_period_moves_to_the_first_day_of_the_next_open_period_with_a_note() -> None:
    entry = built(
        report(expense("T1", 100), approved_on=date(2026, 6, 15)),
        rules(closed_period_rule="next_open"),
        periods=month_periods(2026, closed=(6,)),
    )
    assert entry.posting_date == date(2026, 7, 1)
    assert entry.notes == [
        "posting date moved from 2026-06-15 (closed period 2026-06-01 to 2026-06-30) to 2026-07-01 "
        "(first day of the next open period)"
    ]


def test_next_open_skips_several_closed_periods() -> None:
    entry = built(
        report(expense("T1", 100), approved_on=date(2026, 6, 15)),
        rules(closed_period_rule="next_open"),
        periods=month_periods(2026, closed=(6, 7, 8)),
    )
    assert entry.posting_date == date(2026, 9, 1)


def test_next_open_without_a_later_open_period_rejects() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(
            report(expense("T1", 100), approved_on=date(2026, 12, 15)),
            rules(closed_period_rule="next_open"),
            periods=month_periods(2026, closed=(12,)),
        )
    assert "no open period follows it" in caught.value.reason
    assert "2026-12-15" in caught.value.reason


def test_date_outside_every_set_up_period_is_closed() -> None:
    with pytest.raises(ReportRejected) as caught:
        build(report(expense("T1", 100), approved_on=date(2025, 12, 31)), periods=month_periods(2026))
    assert "2025-12-31 falls in no Sage period set up" in caught.value.reason


# --- text --------------------------------------------------------------------------------------


def test_reference_is_exp_and_the_report_id() -> None:
    assert built(report(expense("T1", 100))).reference == "EXP R00X9oNOn2MO"


def test_long_report_id_reference_is_cut_to_30_characters_with_a_note() -> None:
    entry = built(report(expense("T1", 100), report_id="R" + "9" * 40))
    assert len(entry.reference) == 30
    assert entry.reference.startswith("EXP R999")
    assert "shortened" in entry.notes[0]


def test_entry_comment_names_report_submitter_and_report_id() -> None:
    entry = built(report(expense("T1", 100)))
    assert entry.comment == "Boston trip | ann@example.com | Expensify report R00X9oNOn2MO"


def test_long_report_name_is_cut_keeping_email_and_report_id() -> None:
    entry = built(report(expense("T1", 100), name="é" * 3000))
    assert len(entry.comment) == 2048
    assert entry.comment.endswith("| ann@example.com | Expensify report R00X9oNOn2MO")
    entry.comment.encode("cp1252")


def test_texts_outside_windows_1252_are_replaced() -> None:
    entry = built(
        report(expense("T1", 100, merchant="Café 🍕 東京"), name="Trip\r\nto Zürich\x00 ✈"),
        rules(entry_shape="detail"),
    )
    assert entry.lines[0].comment == "Café ? ?? T1"
    assert entry.comment.startswith("Trip to Zürich ? | ")


def test_line_comments_fit_sage_and_windows_1252() -> None:
    entry = built(
        report(expense("T1", 100, merchant="€" * 100 + "東"), expense("T2", 5, "Meals", merchant="x")),
        rules(entry_shape="detail"),
    )
    for line in entry.lines:
        assert len(line.comment) <= 60
        line.comment.encode("cp1252")


# --- fingerprints and differences --------------------------------------------------------------


EXPENSES = (
    expense("T1", 10000, "Travel", tags=("Field Ops",)),
    expense("T2", -2500, "Meals", reimbursable=False),
    expense("T3", 0, "Office"),
    expense("T4", 777, "Office", merchant="Staples"),
)


@pytest.mark.parametrize("shape", ["summary", "detail"])
def test_entry_fingerprint_does_not_depend_on_expense_order(shape: str) -> None:
    first = built(report(*EXPENSES), rules(entry_shape=shape))
    second = built(report(*reversed(EXPENSES)), rules(entry_shape=shape))
    assert first.payload() == second.payload()
    assert entry_fingerprint(first) == entry_fingerprint(second)


def test_entry_fingerprint_is_sha256_hex() -> None:
    fingerprint = entry_fingerprint(built(report(*EXPENSES)))
    assert len(fingerprint) == 64
    int(fingerprint, 16)


def test_entry_fingerprint_changes_with_an_amount() -> None:
    changed = (*EXPENSES[:3], dataclasses.replace(EXPENSES[3], amount_cents=778))
    assert entry_fingerprint(built(report(*EXPENSES))) != entry_fingerprint(built(report(*changed)))


def test_entry_fingerprint_changes_with_the_posting_date() -> None:
    first = built(report(*EXPENSES))
    second = built(report(*EXPENSES, approved_on=date(2026, 3, 11)))
    assert entry_fingerprint(first) != entry_fingerprint(second)


def test_report_fingerprint_does_not_depend_on_expense_order() -> None:
    assert report_fingerprint(report(*EXPENSES)) == report_fingerprint(report(*reversed(EXPENSES)))


def test_report_fingerprint_ignores_reapproval_and_renaming() -> None:
    first = report(*EXPENSES)
    second = report(*EXPENSES, approved_on=date(2026, 4, 1), name="Renamed")
    assert report_fingerprint(first) == report_fingerprint(second)


@pytest.mark.parametrize(
    "change",
    [
        {"amount_cents": 10001},
        {"category": "Meals"},
        {"tag_levels": ("Sales",)},
        {"reimbursable": False},
        {"merchant": "United"},
    ],
)
def test_report_fingerprint_changes_with_expense_content(change: dict[str, object]) -> None:
    changed = (dataclasses.replace(EXPENSES[0], **change), *EXPENSES[1:])
    assert report_fingerprint(report(*EXPENSES)) != report_fingerprint(report(*changed, total=8277))


def test_report_fingerprint_changes_with_the_total() -> None:
    assert report_fingerprint(report(*EXPENSES)) != report_fingerprint(report(*EXPENSES, total=1))


def test_describe_difference_lists_total_added_removed_and_changed() -> None:
    old = report(expense("T1", 10000, merchant="Delta"), expense("T2", 2000, merchant="Hilton"))
    new = report(
        expense("T1", 12000, "Meals", merchant="Delta"), expense("T3", 460, "Travel", merchant="Uber")
    )
    assert describe_difference(old, new) == (
        "total 120.00 USD → 124.60 USD; added T3 (Uber, 4.60 USD); removed T2 (Hilton, 20.00 USD); "
        "T1 (Delta) changed: amount 100.00 USD → 120.00 USD, category Travel → Meals"
    )


def test_describe_difference_of_identical_reports() -> None:
    assert describe_difference(report(*EXPENSES), report(*reversed(EXPENSES))) == (
        "no difference in the report's content"
    )


# --- Sage text ---------------------------------------------------------------------------------


def test_control_characters_are_removed_and_line_breaks_become_spaces() -> None:
    assert to_sage_text("a\x00b\x07c\r\nd\te") == "abc d e"


def test_decomposed_accents_are_composed_before_checking_windows_1252() -> None:
    assert to_sage_text("Cafe\u0301") == "Café"


def test_characters_outside_windows_1252_become_a_question_mark() -> None:
    assert to_sage_text("€ 5 🍕 ✓") == "€ 5 ? ?"


def test_invisible_format_characters_are_dropped_and_odd_spaces_become_plain() -> None:
    assert to_sage_text("a\u200bb\ufeffc\u2009d") == "abc d"


def test_truncate_counts_characters_not_bytes() -> None:
    assert truncate("é" * 100, 60) == "é" * 60


def test_truncate_never_separates_a_letter_from_its_accent() -> None:
    assert truncate("ae\u0301b", 2) == "a"


def test_sage_text_cuts_after_reducing_to_windows_1252() -> None:
    text = sage_text("東" * 10 + "x" * 100, 60)
    assert text == "?" * 10 + "x" * 50


def test_empty_reference_is_refused() -> None:
    with pytest.raises(ValueError):
        sage_reference(" \x00\n ")


def test_reference_is_cut_to_30_characters() -> None:
    assert sage_reference("EXP " + "9" * 40) == "EXP " + "9" * 26


@given(st.text(), st.integers(min_value=0, max_value=80))
def test_sage_text_always_fits_and_encodes(value: str, limit: int) -> None:
    text = sage_text(value, limit)
    assert len(text) <= limit
    text.encode("cp1252")
    assert not any(unicodedata.category(c) == "Cc" for c in text)


# --- properties of every built entry -----------------------------------------------------------

PROPERTY_CATEGORIES = {"Travel": "6100-00-000", "Meals": "6200-00-000", "Office": "6300-00-000"}
PROPERTY_CHART = Chart(
    {
        f"{main}-{dept}-{loc}": "A"
        for main in ("6100", "6200", "6300", "2100", "2200", "2150", "2250")
        for dept in ("00", "01", "02")
        for loc in ("000", "010")
    }
)
PROPERTY_TAGS = ((), ("Field Ops",), ("Sales", "Boston"), ("Marketing",), ("", "boston"))
ALL_OPEN = Periods([(date(2000, 1, 1), date(2099, 12, 31), True)])


@st.composite
def property_expenses(draw: st.DrawFn) -> tuple[ExpenseInput, ...]:
    ids = draw(st.lists(st.text("ABCDEF0123456789", min_size=1, max_size=8), max_size=12, unique=True))
    return tuple(
        expense(
            tid,
            draw(st.one_of(st.just(0), st.integers(-(10**7), 10**7))),
            draw(st.sampled_from(sorted(PROPERTY_CATEGORIES))),
            merchant=draw(st.text(max_size=70)),
            tags=draw(st.sampled_from(PROPERTY_TAGS)),
            reimbursable=draw(st.booleans()),
            spent_on=draw(st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2026, 12, 31)))),
        )
        for tid in ids
    )


def property_mappings(employee_override: bool, card_override: bool) -> MappingTables:
    return dataclasses.replace(
        MAPPINGS,
        categories=PROPERTY_CATEGORIES,
        employee_offsets={"ann@example.com": "2150-00-000"} if employee_override else {},
        card_offsets={"P1": "2250-00-000"} if card_override else {},
    )


def build_for_property(
    expenses: tuple[ExpenseInput, ...], shape: str, negative_total: bool, overrides: tuple[bool, bool]
) -> BuiltEntry | NothingToPost:
    net = sum(e.amount_cents for e in expenses)
    return build_entry(
        report(*expenses, total=-net if negative_total else net),
        rules(entry_shape=shape),
        property_mappings(*overrides),
        PROPERTY_CHART,
        ALL_OPEN,
        export_date=EXPORT_DATE,
    )


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@PROPERTY_SETTINGS
@given(
    property_expenses(),
    st.sampled_from(["summary", "detail"]),
    st.booleans(),
    st.tuples(st.booleans(), st.booleans()),
)
def test_every_built_entry_balances_with_one_positive_side_per_line(
    expenses: tuple[ExpenseInput, ...], shape: str, negative_total: bool, overrides: tuple[bool, bool]
) -> None:
    result = build_for_property(expenses, shape, negative_total, overrides)
    net = sum(e.amount_cents for e in expenses)
    if isinstance(result, NothingToPost):
        assert net == 0
        assert set(result.zero_expenses) == {e.transaction_id for e in expenses if e.amount_cents == 0}
        return
    assert result.total_debit_cents == result.total_credit_cents
    for line in result.lines:
        assert type(line.debit_cents) is int and type(line.credit_cents) is int
        assert (line.debit_cents > 0) != (line.credit_cents > 0)
        assert min(line.debit_cents, line.credit_cents) == 0
        assert len(line.comment) <= 60
        line.comment.encode("cp1252")
    expense_net = sum(line.net_cents for line in result.lines if line.kind == "expense")
    assert expense_net == net == result.net_total_cents
    assert len(result.lines) >= 2
    assert 1 <= len(result.reference) <= 30
    assert set(result.expense_accounts) == {e.transaction_id for e in expenses if e.amount_cents != 0}


@PROPERTY_SETTINGS
@given(property_expenses(), st.tuples(st.booleans(), st.booleans()))
def test_summary_and_detail_post_the_same_net_per_account(
    expenses: tuple[ExpenseInput, ...], overrides: tuple[bool, bool]
) -> None:
    summary = build_for_property(expenses, "summary", False, overrides)
    detail = build_for_property(expenses, "detail", False, overrides)
    assert type(summary) is type(detail)
    if isinstance(summary, BuiltEntry) and isinstance(detail, BuiltEntry):

        def per_account(entry: BuiltEntry) -> dict[str, int]:
            nets: dict[str, int] = {}
            for line in entry.lines:
                nets[line.account] = nets.get(line.account, 0) + line.net_cents
            return {account: v for account, v in nets.items() if v}

        assert per_account(summary) == per_account(detail)
        assert len({line.account for line in summary.lines if line.kind == "expense"}) == len(
            [line for line in summary.lines if line.kind == "expense"]
        )


@PROPERTY_SETTINGS
@given(property_expenses(), st.sampled_from(["summary", "detail"]), st.randoms(use_true_random=False))
def test_fingerprints_do_not_depend_on_expense_order(
    expenses: tuple[ExpenseInput, ...], shape: str, rnd: random.Random
) -> None:
    shuffled = list(expenses)
    rnd.shuffle(shuffled)
    first = build_for_property(expenses, shape, False, (False, False))
    second = build_for_property(tuple(shuffled), shape, False, (False, False))
    assert report_fingerprint(report(*expenses)) == report_fingerprint(report(*shuffled))
    if isinstance(first, BuiltEntry) and isinstance(second, BuiltEntry):
        assert entry_fingerprint(first) == entry_fingerprint(second)
    else:
        assert first == second


def test_the_builder_has_no_float_on_its_money_path() -> None:
    import ast
    import inspect

    for module in (journal, text_module):
        tree = ast.parse(inspect.getsource(module))
        floats = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "float"]
        assert floats == [] and calls == [], module.__name__
