"""The report page's own fields: what to do (buttons and the links that fix its problem) and the
audit timeline in words."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.models import AuditEvent
from connector.money import display
from console.admin.report_sage import ours_in_sage
from sync.fixes import fixes_for
from sync.models import ExpenseReport, ReportState
from sync.selectors import REPLAYABLE_STATES
from sync.words import action_words


def report_buttons(report: ExpenseReport) -> list[tuple[str, str, str]]:
    """(text, url, data-action) of the buttons the report's state allows."""
    base = "admin:sync_expensereport_"
    buttons = []
    if report.state in REPLAYABLE_STATES:
        buttons.append(("Replay…", reverse(base + "replay", args=[report.pk]), "replay"))
    if report.state == ReportState.CHANGED:
        buttons.append(("Accept change…", reverse(base + "accept_change", args=[report.pk]), "accept"))
        buttons.append(("Post correction…", reverse(base + "correction", args=[report.pk]), "correction"))
    buttons.append(("Look up in Sage", reverse(base + "lookup", args=[report.pk]), "lookup"))
    buttons.append(("Preview the entry", reverse(base + "preview", args=[report.pk]), "preview"))
    return buttons


def event_detail(event: AuditEvent, entries: dict[str, int]) -> SafeString:
    """An audit row's account, Sage entry (linked when it is ours) and message."""
    parts: list[str] = []
    if event.account:
        parts.append(event.account)
    if event.sage_entry_no:
        pk = entries.get(event.sage_entry_no)
        parts.append(
            format_html(
                '<a href="{}">Sage entry {}</a>',
                reverse("admin:sync_journalentry_change", args=[pk]),
                event.sage_entry_no,
            )
            if pk
            else f"Sage entry {event.sage_entry_no}"
        )
    if event.message:
        parts.append(event.message)
    return format_html_join(" · ", "{}", ((p,) for p in parts))


class ReportPageFields(admin.ModelAdmin):  # type: ignore[type-arg]
    @admin.display(description="What to do")
    def what_to_do(self, obj: ExpenseReport) -> str:
        if obj.pk is None:
            return "—"
        links = format_html_join(
            " ",
            '<a class="button" href="{}" data-action="{}">{}</a>',
            ((url, kind, text) for text, url, kind in report_buttons(obj)),
        )
        fixes = fixes_for(obj)
        fix_list = (
            format_html(
                '<p>Fix it:</p><ul class="fix-links">{}</ul>',
                format_html_join("", '<li><a href="{}">{}</a></li>', ((f.url, f.text) for f in fixes)),
            )
            if fixes
            else ""
        )
        state = format_html("<strong>{}</strong>", obj.get_state_display())
        return format_html('{}<div class="report-actions">{}</div>{}', state, links, fix_list)

    @admin.display(description="Audit timeline")
    def audit_timeline(self, obj: ExpenseReport) -> str:
        events = list(AuditEvent.objects.filter(report=obj).order_by("id")[:500])
        entries = ours_in_sage(obj)
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td title="{}">{}</td><td>{}</td><td>{}</td><td class="num">{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    f"{e.at:%Y-%m-%d %H:%M:%S}",
                    e.action,
                    action_words(e.action),
                    e.actor,
                    e.transaction_ref,
                    "" if e.amount_cents is None else display(e.amount_cents, e.currency),
                    event_detail(e, entries),
                )
                for e in events
            ),
        )
        return format_html(
            '<table class="audit-timeline"><thead><tr><th>When</th><th>What</th><th>Who</th>'
            "<th>Expense</th><th>Amount</th><th>Detail</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
