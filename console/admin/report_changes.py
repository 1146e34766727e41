"""The report page's buttons that change something: replay, accept a change after posting, post a
correction. Each asks first (GET) and acts on POST; long work is queued to the workers."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from console.admin.common import actor_of
from console.admin.report_base import ReportPages, queued_message, report_url
from sync import tasks
from sync.models import ReportState
from sync.selectors import REPLAYABLE_STATES
from sync.services import accept_change


class AcceptChangeForm(forms.Form):
    reason = forms.CharField(
        label="Why Sage stays as posted",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the audit trail with your name, e.g. “receipt corrected after the close; "
        "difference booked by hand”.",
    )


class ReportChanges(ReportPages):
    def replay_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: what a replay does, and a button; POST: queue it to the workers."""
        report = self._report_to_act_on(request, pk, REPLAYABLE_STATES, "nothing to replay")
        if isinstance(report, HttpResponse):
            return report
        if request.method == "POST":
            task_id = tasks.queue_replay(
                report.company, report_ids=[report.report_id], actor=actor_of(request)
            )
            return HttpResponseRedirect(
                queued_message(request, f"Replay of report {report.report_id}", task_id)
            )
        return self._page(request, report, "replay.html", title=f"Replay report {report.report_id}?")

    def accept_change_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the change and a reason box; POST: keep Sage as posted, the reason into the audit."""
        report = self._report_to_act_on(request, pk, (ReportState.CHANGED,), "no change")
        if isinstance(report, HttpResponse):
            return report
        form = AcceptChangeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"].strip()
            if accept_change(report=report, actor=actor_of(request), reason=reason):
                messages.success(
                    request, f"Change of report {report.report_id} accepted: Sage stays as posted. ({reason})"
                )
            else:
                messages.warning(request, f"Report {report.report_id} moved on meanwhile: nothing accepted.")
            return HttpResponseRedirect(report_url(report))
        title = f"Accept the change of {report.report_id}?"
        return self._page(request, report, "accept_change.html", form=form, title=title)

    def correction_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the change and a reason box; POST: queue the adjusting entry to the workers."""
        report = self._report_to_act_on(request, pk, (ReportState.CHANGED,), "no change")
        if isinstance(report, HttpResponse):
            return report
        form = AcceptChangeForm(request.POST or None)
        form.fields["reason"].label = "Why the correction is posted"
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"].strip()
            task_id = tasks.queue_correction(report, actor=actor_of(request), reason=reason)
            what = f"Correction of report {report.report_id}"
            return HttpResponseRedirect(queued_message(request, what, task_id, follow="Follow it"))
        title = f"Post a correction for {report.report_id}?"
        return self._page(request, report, "correction.html", form=form, title=title)
