"""Admin for reports, expenses, journal entries and lines, and sync runs.

Every state, outcome and action is shown in words and every amount with its currency. What can be
done to a report is a button on its page (with a confirmation); long work goes to the workers.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.models import AuditEvent
from connector.money import display
from connector.paginators import CappedCountPaginator
from sync.exports import ExportMixin, JournalLineExport, ReportExport
from sync.fixes import fixes_for
from sync.models import Expense, ExpenseReport, JournalEntry, JournalLine, ReportState, SyncRun
from sync.selectors import REPLAYABLE_STATES
from sync.words import PREVIEW_OUTCOMES, action_words, describe_duration, short_state

S = ReportState
PROBLEM_STATES = (S.NEEDS_MAPPING, S.FAILED, S.RETRY_WAIT, S.CHANGED, S.CONFLICT, S.UNKNOWN, S.WITHDRAWN)


def actor_of(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def partial_search(term: str) -> str:
    """The term as typed, trimmed; an empty term searches nothing."""
    return " ".join(term.split())


class ReadOnlyAdminMixin:
    """Rows the engine writes; people look at them (and act through services), never edit them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExpenseInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = Expense
    fields = ("transaction_id", "spent_on", "merchant", "category", "tag", "amount", "reimbursable")
    readonly_fields = fields
    extra = 0
    classes = ("compact-inline",)

    @admin.display(description="Amount")
    def amount(self, obj: Expense) -> str:
        text = display(obj.amount_cents, obj.report.currency)
        if obj.original_currency != obj.report.currency:
            text += f" ({display(obj.original_amount_cents, obj.original_currency)})"
        return text

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("report")


class JournalEntryInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = JournalEntry
    fields = ("entry_link", "state", "posting_date", "sage_entry_no", "sage_batch_no", "posted_at")
    readonly_fields = fields
    extra = 0

    @admin.display(description="Entry")
    def entry_link(self, obj: JournalEntry) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:sync_journalentry_change", args=[obj.pk]), obj.reference
        )


class AcceptChangeForm(forms.Form):
    reason = forms.CharField(
        label="Why Sage stays as posted",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the audit trail with your name, e.g. “receipt corrected after the close; "
        "difference booked by hand”.",
    )


@admin.register(ExpenseReport)
class ExpenseReportAdmin(ExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "report_id",
        "company_code",
        "employee_email",
        "total",
        "approved_on",
        "state",
        "next_attempt_at",
        "problem",
    )
    list_filter = ("company", "state")
    search_fields = ("report_id",)  # shows the box; get_search_results does the searching
    search_help_text = (
        "Part of an employee email, report ID, transaction ID or merchant (at least 3 characters "
        "for a part; fewer must match the start)."
    )
    date_hierarchy = "approved_on"
    list_select_related = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [ExpenseInline, JournalEntryInline]
    actions = ["replay_reports", "accept_change"]
    export_class = ReportExport
    readonly_fields = (
        "what_to_do",
        "company",
        "report_id",
        "report_name",
        "employee_email",
        "policy_id",
        "total",
        "approved_on",
        "submitted_on",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "change_summary",
        "exported_at",
        "first_seen_at",
        "updated_at",
        "fingerprint",
        "posted_fingerprint",
        "audit_timeline",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ExpenseReport], search_term: str
    ) -> tuple[QuerySet[ExpenseReport], bool]:
        """Reports whose ID or employee, or one of whose expenses' transaction ID or merchant, holds
        the term: two indexed lookups joined by a UNION (trigram indexes on PostgreSQL)."""
        term = partial_search(search_term)
        if not term:
            return queryset, False
        if len(term) < 3:
            reports = ExpenseReport.objects.filter(
                Q(report_id__startswith=term) | Q(employee_email__istartswith=term)
            )
            expenses = Expense.objects.filter(transaction_id__startswith=term)
        else:
            reports = ExpenseReport.objects.filter(
                Q(report_id__icontains=term) | Q(employee_email__icontains=term)
            )
            expenses = Expense.objects.filter(Q(transaction_id__icontains=term) | Q(merchant__icontains=term))
        found = reports.order_by().values("pk").union(expenses.order_by().values("report_id"))
        return queryset.filter(pk__in=found), False

    @admin.display(description="Company", ordering="company__code")
    def company_code(self, obj: ExpenseReport) -> str:
        return obj.company.code

    @admin.display(description="Total", ordering="total_cents")
    def total(self, obj: ExpenseReport) -> str:
        return display(obj.total_cents, obj.currency)

    @admin.display(description="Problem")
    def problem(self, obj: ExpenseReport) -> str:
        text = obj.change_summary or obj.last_error
        if len(text) > 400:
            text = text[:399] + "…"
        return format_html('<span class="problem-text">{}</span>', text) if text else ""

    # -- the report page: what can be done, and where the problem is fixed -------------------------

    @admin.display(description="What to do")
    def what_to_do(self, obj: ExpenseReport) -> str:
        if obj.pk is None:
            return "—"
        buttons = []
        base = "admin:sync_expensereport_"
        if obj.state in REPLAYABLE_STATES:
            buttons.append(("Replay…", reverse(base + "replay", args=[obj.pk]), "replay"))
        if obj.state == S.CHANGED:
            buttons.append(("Accept change…", reverse(base + "accept_change", args=[obj.pk]), "accept"))
            buttons.append(("Post correction…", reverse(base + "correction", args=[obj.pk]), "correction"))
        buttons.append(("Look up in Sage", reverse(base + "lookup", args=[obj.pk]), "lookup"))
        buttons.append(("Preview the entry", reverse(base + "preview", args=[obj.pk]), "preview"))
        links = format_html_join(
            " ", '<a class="button" href="{}" data-action="{}">{}</a>', ((u, k, t) for t, u, k in buttons)
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
        entries = dict(
            JournalEntry.objects.filter(report=obj)
            .exclude(sage_entry_no="")
            .values_list("sage_entry_no", "pk")
        )
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
                    _event_detail(e, entries),
                )
                for e in events
            ),
        )
        return format_html(
            '<table class="audit-timeline"><thead><tr><th>When</th><th>What</th><th>Who</th>'
            "<th>Expense</th><th>Amount</th><th>Detail</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        custom = [
            path("<int:pk>/preview/", view(self.preview_view), name="sync_expensereport_preview"),
            path("<int:pk>/replay/", view(self.replay_view), name="sync_expensereport_replay"),
            path(
                "<int:pk>/accept-change/",
                view(self.accept_change_view),
                name="sync_expensereport_accept_change",
            ),
            path("<int:pk>/lookup/", view(self.lookup_view), name="sync_expensereport_lookup"),
            path("<int:pk>/correction/", view(self.correction_view), name="sync_expensereport_correction"),
        ]
        return custom + super().get_urls()

    def _report(self, request: HttpRequest, pk: int) -> ExpenseReport:
        report = get_object_or_404(ExpenseReport.objects.select_related("company"), pk=pk)
        if not self.has_view_permission(request, report):
            raise PermissionDenied
        return report

    def _page(
        self, request: HttpRequest, report: ExpenseReport, template: str, **context: Any
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            f"admin/sync/expensereport/{template}",
            {
                **self.admin_site.each_context(request),
                "report": report,
                "opts": self.model._meta,
                "report_url": reverse("admin:sync_expensereport_change", args=[report.pk]),
                **context,
            },
        )

    def replay_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: what a replay does, and a button; POST: queue it to the workers."""
        report = self._report(request, pk)
        if not self.has_replay_permission(request):
            raise PermissionDenied
        back = reverse("admin:sync_expensereport_change", args=[report.pk])
        if report.state not in REPLAYABLE_STATES:
            messages.warning(
                request, f"Report {report.report_id} is {short_state(report.state)}: nothing to replay."
            )
            return HttpResponseRedirect(back)
        if request.method == "POST":
            from sync import tasks

            task_id = tasks.queue_replay(
                report.company, report_ids=[report.report_id], actor=actor_of(request)
            )
            url = reverse("admin:sync_syncrun_queued", args=[task_id])
            messages.success(
                request,
                format_html(
                    'Replay of report {} queued to the workers. <a href="{}">Follow its run</a>.',
                    report.report_id,
                    url,
                ),
            )
            return HttpResponseRedirect(url)
        return self._page(request, report, "replay.html", title=f"Replay report {report.report_id}?")

    def accept_change_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the change and a reason box; POST: keep Sage as posted, the reason into the audit."""
        from sync.services import accept_change

        report = self._report(request, pk)
        if not self.has_replay_permission(request):
            raise PermissionDenied
        back = reverse("admin:sync_expensereport_change", args=[report.pk])
        if report.state != S.CHANGED:
            messages.warning(request, f"Report {report.report_id} is {short_state(report.state)}: no change.")
            return HttpResponseRedirect(back)
        form = AcceptChangeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"].strip()
            if accept_change(report=report, actor=actor_of(request), reason=reason):
                messages.success(
                    request, f"Change of report {report.report_id} accepted: Sage stays as posted. ({reason})"
                )
            else:
                messages.warning(request, f"Report {report.report_id} moved on meanwhile: nothing accepted.")
            return HttpResponseRedirect(back)
        return self._page(
            request,
            report,
            "accept_change.html",
            form=form,
            title=f"Accept the change of {report.report_id}?",
        )

    def correction_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the change and a reason box; POST: queue the adjusting entry to the workers."""
        report = self._report(request, pk)
        if not self.has_replay_permission(request):
            raise PermissionDenied
        back = reverse("admin:sync_expensereport_change", args=[report.pk])
        if report.state != S.CHANGED:
            messages.warning(request, f"Report {report.report_id} is {short_state(report.state)}: no change.")
            return HttpResponseRedirect(back)
        form = AcceptChangeForm(request.POST or None)
        form.fields["reason"].label = "Why the correction is posted"
        if request.method == "POST" and form.is_valid():
            from sync import tasks

            task_id = tasks.queue_correction(
                report, actor=actor_of(request), reason=form.cleaned_data["reason"].strip()
            )
            url = reverse("admin:sync_syncrun_queued", args=[task_id])
            messages.success(
                request,
                format_html(
                    'Correction of report {} queued to the workers. <a href="{}">Follow it</a>.',
                    report.report_id,
                    url,
                ),
            )
            return HttpResponseRedirect(url)
        return self._page(
            request, report, "correction.html", form=form, title=f"Post a correction for {report.report_id}?"
        )

    def lookup_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """What Sage 100 holds under the report's reference (a read; nothing is written)."""
        from connector.logs import redact
        from connector.sage100.gateway import open_gateway, settings_for_company
        from sync.journal import REFERENCE_PREFIX

        report = self._report(request, pk)
        reference = f"{REFERENCE_PREFIX}{report.report_id}"[:30]
        found: list[Any] = []
        error = ""
        try:
            gateway = open_gateway(settings_for_company(report.company))
            try:
                found = gateway.search(reference=reference)
            finally:
                gateway.close()
        except Exception as exc:  # the operator sees our sentence, redacted
            from connector.admin import describe_sage_failure

            error = redact(describe_sage_failure(exc))
        ours = dict(
            JournalEntry.objects.filter(report=report)
            .exclude(sage_entry_no="")
            .values_list("sage_entry_no", "pk")
        )
        entries = [
            {
                "entry_no": f.entry_no,
                "batch_no": f.batch_no,
                "posting_date": f.posting_date,
                "ours": ours.get(f.entry_no),
                "lines": [
                    {
                        "account": line.account,
                        "debit": display(line.debit_cents, report.currency) if line.debit_cents else "",
                        "credit": display(line.credit_cents, report.currency) if line.credit_cents else "",
                        "comment": line.comment,
                    }
                    for line in f.lines
                ],
            }
            for f in found
        ]
        return self._page(
            request,
            report,
            "lookup.html",
            title=f"Sage 100 entries with reference {reference}",
            reference=reference,
            entries=entries,
            error=error,
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from sync.services import preview

        report = self._report(request, pk)
        result = preview(report)
        lines = list(result.built.lines) if result.built else []
        return self._page(
            request,
            report,
            "preview.html",
            title=f"Entry preview for report {report.report_id}",
            result=result,
            outcome=PREVIEW_OUTCOMES.get(result.outcome, result.outcome),
            fixes=fixes_for(report),
            lines=[
                {
                    "account": line.account,
                    "debit": display(line.debit_cents, report.currency) if line.debit_cents else "",
                    "credit": display(line.credit_cents, report.currency) if line.credit_cents else "",
                    "comment": line.comment,
                    "source": line.mapping_source,
                    "expenses": ", ".join(line.source_transactions),
                }
                for line in lines
            ],
            total_debit=display(sum(line.debit_cents for line in lines), report.currency),
            total_credit=display(sum(line.credit_cents for line in lines), report.currency),
        )

    # -- list actions ---------------------------------------------------------------------------------

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sync.replay_expensereport")

    @admin.action(description="Replay selected reports (re-read, rebuild, post)", permissions=["replay"])
    def replay_reports(self, request: HttpRequest, queryset: QuerySet[ExpenseReport]) -> None:
        chosen = list(queryset.select_related("company"))
        skipped = [r.report_id for r in chosen if r.state not in REPLAYABLE_STATES]
        if skipped:
            messages.warning(
                request,
                "Only failed, needs-mapping, waiting, withdrawn and held reports can be replayed; skipped "
                + ", ".join(skipped),
            )
        by_company: dict[int, list[ExpenseReport]] = {}
        for report in chosen:
            if report.state in REPLAYABLE_STATES:
                by_company.setdefault(report.company_id, []).append(report)
        from sync import tasks

        for reports in by_company.values():
            company = reports[0].company
            ids = [r.report_id for r in reports]
            # Queued to the workers like the report page's button: nothing long runs in a request.
            task_id = tasks.queue_replay(company, report_ids=ids, actor=actor_of(request))
            url = reverse("admin:sync_syncrun_queued", args=[task_id])
            self.message_user(
                request,
                format_html(
                    '{} replay of {} queued to the workers. <a href="{}">Follow its run</a>.',
                    company.code,
                    ", ".join(ids),
                    url,
                ),
                messages.SUCCESS,
            )

    @admin.action(description="Accept change after posting (keep the posted entry)", permissions=["replay"])
    def accept_change(self, request: HttpRequest, queryset: QuerySet[ExpenseReport]) -> None:
        from sync.services import accept_change

        accepted = 0
        for report in queryset.filter(state=ReportState.CHANGED):
            reason = f"kept the posted entry; ignored: {report.change_summary}"
            accepted += accept_change(report=report, actor=actor_of(request), reason=reason)
        self.message_user(
            request,
            f"{accepted} changed report(s) accepted without reposting. To give a reason, use Accept change "
            "on the report's page.",
        )


def _event_detail(event: AuditEvent, entries: dict[str, int]) -> str:
    parts: list[Any] = []
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


def lines_table(lines: list[JournalLine], currency: str) -> str:
    """An entry's lines with their currency and a debit/credit totals row."""
    rows = format_html_join(
        "",
        '<tr><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        (
            (
                line.line_no,
                line.account,
                display(line.debit_cents, currency) if line.debit_cents else "",
                display(line.credit_cents, currency) if line.credit_cents else "",
                line.comment,
                line.mapping_source,
            )
            for line in lines
        ),
    )
    debit = sum(line.debit_cents for line in lines)
    credit = sum(line.credit_cents for line in lines)
    balance = "balanced" if debit == credit else f"out of balance by {display(debit - credit, currency)}"
    return format_html(
        '<table class="entry-lines"><thead><tr><th>Line</th><th>Account</th><th>Debit</th><th>Credit</th>'
        "<th>Comment</th><th>Made by</th></tr></thead><tbody>{}"
        '<tr class="totals-row"><td></td><td>Total ({})</td><td class="num">{}</td><td class="num">{}</td>'
        "<td colspan=2></td></tr></tbody></table>",
        rows,
        balance,
        display(debit, currency),
        display(credit, currency),
    )


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "reference",
        "company",
        "report_link",
        "state",
        "posting_date",
        "sage_entry_no",
        "posted_at",
    )
    list_filter = ("company", "state")
    search_fields = ("reference",)
    search_help_text = "Part of a report ID or reference, or a Sage entry number."
    date_hierarchy = "posting_date"
    list_select_related = ("company", "report", "report__company")
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = (
        "company",
        "report_link",
        "state",
        "reference",
        "comment",
        "source_journal",
        "posting_date",
        "sage_entry_no",
        "sage_batch_no",
        "posted_at",
        "lines",
        "idempotency_key",
        "fingerprint",
        "created_at",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JournalEntry], search_term: str
    ) -> tuple[QuerySet[JournalEntry], bool]:
        term = partial_search(search_term)
        if not term:
            return queryset, False
        match = Q(sage_entry_no=term) | Q(report__report_id__startswith=term)
        if len(term) >= 3:
            match |= Q(report__report_id__icontains=term) | Q(reference__icontains=term)
        return queryset.filter(match), False

    @admin.display(description="Report", ordering="report__report_id")
    def report_link(self, obj: JournalEntry) -> str:
        url = reverse("admin:sync_expensereport_change", args=[obj.report_id])
        return format_html('<a href="{}">{}</a>', url, obj.report.report_id)

    @admin.display(description="Lines")
    def lines(self, obj: JournalEntry) -> str:
        return lines_table(list(obj.lines.all()), obj.report.currency)


@admin.register(JournalLine)
class JournalLineAdmin(ExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("entry_link", "company_code", "line_no", "account", "debit", "credit", "comment")
    list_filter = ("entry__company",)
    search_fields = ("account",)
    search_help_text = "A report ID (or part of it), or the start of an account (e.g. 6100)."
    list_select_related = ("entry", "entry__company", "entry__report")
    paginator = CappedCountPaginator
    show_full_result_count = False
    export_class = JournalLineExport

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JournalLine], search_term: str
    ) -> tuple[QuerySet[JournalLine], bool]:
        """Lines of the entries whose report ID holds the term (an indexed lookup on reports, then
        the lines' entry index); a term starting with a digit also matches accounts by their start."""
        term = partial_search(search_term)
        if not term:
            return queryset, False
        ids = Q(report_id__startswith=term) if len(term) < 3 else Q(report_id__icontains=term)
        entries = JournalEntry.objects.filter(report__in=ExpenseReport.objects.filter(ids).values("pk"))
        match = Q(entry__in=entries.values("pk"))
        if term[0].isdigit():
            match |= Q(account__startswith=term)
        return queryset.filter(match), False

    @admin.display(description="Entry")
    def entry_link(self, obj: JournalLine) -> str:
        url = reverse("admin:sync_journalentry_change", args=[obj.entry_id])
        return format_html('<a href="{}">{}</a>', url, obj.entry.reference)

    @admin.display(description="Company")
    def company_code(self, obj: JournalLine) -> str:
        return obj.entry.company.code

    @admin.display(description="Debit", ordering="debit_cents")
    def debit(self, obj: JournalLine) -> str:
        return display(obj.debit_cents, obj.entry.report.currency) if obj.debit_cents else ""

    @admin.display(description="Credit", ordering="credit_cents")
    def credit(self, obj: JournalLine) -> str:
        return display(obj.credit_cents, obj.entry.report.currency) if obj.credit_cents else ""


RUN_IN_RESULT = re.compile(r"\[run (\d+)\]")
REPORT_IN_RESULT = re.compile(r"\[report (\d+)\]")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "started_at",
        "company",
        "trigger",
        "actor",
        "outcome",
        "duration",
        "reports_seen",
        "reports_posted",
        "reports_exported",
        "reports_failed",
        "reports_needing_mapping",
        "reports_retrying",
        "message_text",
    )
    list_filter = ("company", "outcome", "trigger")
    list_select_related = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="Took")
    def duration(self, obj: SyncRun) -> str:
        if obj.finished_at is None:
            return "still running" if obj.outcome == "running" else "—"
        return describe_duration(obj.finished_at - obj.started_at)

    @admin.display(description="Message")
    def message_text(self, obj: SyncRun) -> str:
        return format_html('<span class="problem-text">{}</span>', obj.message) if obj.message else ""

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "queued/<str:task_id>/",
                self.admin_site.admin_view(self.queued_view),
                name="sync_syncrun_queued",
            )
        ]
        return custom + super().get_urls()

    def queued_view(self, request: HttpRequest, task_id: str) -> HttpResponse:
        """A queued Sync now or Replay: waits (refreshing) until a worker has run it, then its run."""
        from django_q.models import Task

        if not self.has_view_permission(request):
            raise PermissionDenied
        task = Task.objects.filter(id=task_id).first()
        if task is not None:
            result = str(task.result or "")
            found = RUN_IN_RESULT.search(result)
            if found:
                return HttpResponseRedirect(reverse("admin:sync_syncrun_change", args=[found.group(1)]))
            found = REPORT_IN_RESULT.search(result)
            if found:
                messages.info(request, REPORT_IN_RESULT.sub("", result).strip())
                return HttpResponseRedirect(reverse("admin:sync_expensereport_change", args=[found.group(1)]))
        running = (
            SyncRun.objects.filter(outcome="running").select_related("company").order_by("-started_at")[:5]
        )
        try:
            polls = int(request.GET.get("polls", "0"))
        except ValueError:
            polls = 0
        context = {
            **self.admin_site.each_context(request),
            "title": "Queued to the workers",
            "opts": self.model._meta,
            "task": task,
            "running": running,
            "polls": polls + 1,
            # Refresh for about ten minutes; after that the page says to look at the runs list.
            "refresh": task is None and polls < 300,
        }
        return TemplateResponse(request, "admin/sync/syncrun/queued.html", context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        obj = context.get("original")
        context["refresh_while_running"] = obj is not None and obj.outcome == "running"
        return super().render_change_form(request, context, *args, **kwargs)
