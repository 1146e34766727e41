"""Template tags for the operator's pages: the dashboard's cards, money with its currency, the chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from connector.money import display
from sync.dashboard import CompanyCard, Week, company_cards
from sync.words import action_words, describe_when

register = template.Library()

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 560, 150, 70, 22


@register.simple_tag(takes_context=True)
def dashboard_cards(context: Any) -> list[CompanyCard]:
    """The cards the signed-in person may see (companies are the operator's and the administrator's)."""
    request = context.get("request")
    if request is None or not request.user.has_perm("connector.view_company"):
        return []
    return company_cards()


@register.filter
def money(cents: int | None, currency: str = "") -> str:
    return "" if cents is None else display(int(cents), currency)


@register.filter
def when(moment: Any) -> str:
    return describe_when(moment)


@register.filter
def in_words(action: str) -> str:
    return action_words(action)


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    label: str


@dataclass
class Chart:
    width: int
    height: int
    left: int
    plot_bottom: float
    bars: list[Bar]
    points: str
    dots: list[tuple[float, float, str]]
    top_amount: str
    top_failures: int
    currency: str
    empty: bool


def _nice_top(value: int) -> int:
    """A round number at or above `value` for the axis (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


@register.simple_tag
def week_chart(weeks: list[Week], currency: str) -> Chart:
    """Bars: posted amount per week; line: failures per week (own scale, on the right)."""
    plot_width = CHART_WIDTH - CHART_LEFT - 40
    plot_height = CHART_HEIGHT - CHART_BOTTOM - 10
    top_cents = _nice_top(max((w.posted_cents for w in weeks), default=0))
    top_failures = _nice_top(max((w.failures for w in weeks), default=0))
    slot = plot_width / max(len(weeks), 1)
    bottom = 10 + plot_height
    bars, points, dots = [], [], []
    for index, week in enumerate(weeks):
        height = plot_height * week.posted_cents / top_cents
        x = CHART_LEFT + index * slot
        label = f"{week.start.day} {week.start:%b}"
        bars.append(
            Bar(
                x=round(x + slot * 0.15, 1),
                y=round(bottom - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                title=f"Week of {label}: {display(week.posted_cents, currency)} posted, "
                f"{week.failures} failure(s)",
                label=label if index % 2 == 0 or index == len(weeks) - 1 else "",
            )
        )
        fy = round(bottom - plot_height * week.failures / top_failures, 1)
        cx = round(x + slot / 2, 1)
        points.append(f"{cx},{fy}")
        dots.append((cx, fy, f"{week.failures} failure(s), week of {label}"))
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=CHART_LEFT,
        plot_bottom=bottom,
        bars=bars,
        points=" ".join(points),
        dots=dots,
        top_amount=f"{top_cents // 100:,}" if any(w.posted_cents for w in weeks) else "0",
        top_failures=top_failures,
        currency=currency,
        empty=not any(w.posted_cents or w.failures for w in weeks),
    )


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@register.inclusion_tag("admin/date_hierarchy.html")
def quick_date_hierarchy(cl: Any) -> dict[str, Any]:
    """The admin's date drill-down without its SELECT DISTINCT over every matching row: years from
    the first and last date (two index lookups), then the twelve months, then the days."""
    import calendar

    from django.db.models import Max, Min

    field = cl.date_hierarchy
    params = cl.get_filters_params()
    year, month, day = (params.get(f"{field}__{part}") for part in ("year", "month", "day"))
    year, month, day = (v[-1] if isinstance(v, list) else v for v in (year, month, day))

    def link(**parts: Any) -> str:
        remove = [f"{field}__{p}" for p in ("year", "month", "day") if p not in parts]
        return str(cl.get_query_string({f"{field}__{k}": v for k, v in parts.items()}, remove))

    if year and month and day:
        return {
            "show": True,
            "back": {"link": link(year=year, month=month), "title": f"{MONTHS[int(month) - 1]} {year}"},
            "choices": [{"title": f"{int(day)} {MONTHS[int(month) - 1]} {year}"}],
        }
    if year and month:
        days = calendar.monthrange(int(year), int(month))[1]
        return {
            "show": True,
            "back": {"link": link(year=year), "title": str(year)},
            "choices": [
                {"link": link(year=year, month=month, day=d), "title": str(d)} for d in range(1, days + 1)
            ],
        }
    if year:
        return {
            "show": True,
            "back": {"link": link(), "title": "All dates"},
            "choices": [{"link": link(year=year, month=m), "title": MONTHS[m - 1][:3]} for m in range(1, 13)],
        }
    # The years of the whole table (two index lookups), not of a search's rows (a scan of them).
    rows = cl.root_queryset if cl.query else cl.queryset
    bounds = rows.order_by().aggregate(first=Min(field), last=Max(field))
    if bounds["first"] is None:
        return {"show": False}
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link(year=y), "title": str(y)}
            for y in range(bounds["first"].year, bounds["last"].year + 1)
        ],
    }
