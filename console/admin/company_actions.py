"""What an operator can do from the company admin: sync now, test connections, refresh the chart,
read the policy data and the agent guide.

A mixin of CompanyAdmin (console.admin.company): its extra URLs, their views and the list actions.
Nothing long runs in a web request except a chart refresh and a connection test the operator asked
for; a sync is queued to the workers with a link to follow its run.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from connector.models import Company
from connector.sage100 import services as sage_services
from console.admin.failures import describe_expensify_failure, describe_sage_failure, run_for_each
from sync import tasks
from sync.services.contact import checked


def _chart_summary(company: Company) -> str:
    """Looked up on the module when called, so tests can stand in for Sage."""
    return checked("sage", sage_services.refresh_chart)(company).message


class CompanyActionsMixin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The company admin's buttons, pages and list actions."""

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:pk>/policy-data/",
                self.admin_site.admin_view(self.policy_data_view),
                name="connector_company_policy_data",
            ),
            path(
                "<int:pk>/refresh-chart/",
                self.admin_site.admin_view(self.refresh_chart_view),
                name="connector_company_refresh_chart",
            ),
            path(
                "<int:pk>/sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name="connector_company_sync_now",
            ),
            path(
                "agent-guide/",
                self.admin_site.admin_view(self.agent_docs_view),
                name="connector_company_agent_docs",
            ),
        ]
        return custom + super().get_urls()

    def _company(self, request: HttpRequest, pk: int) -> Company:
        company = get_object_or_404(Company, pk=pk)
        if not self.has_view_permission(request, company):
            raise PermissionDenied
        return company

    def _page(self, request: HttpRequest, template: str, title: str, **values: object) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}
        context.update(values)
        return TemplateResponse(request, f"admin/connector/company/{template}", context)

    def refresh_chart_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: a confirmation; POST: read the chart of accounts from Sage 100 again."""
        company = self._company(request, pk)
        if not self.has_test_permission(request):
            raise PermissionDenied
        back = request.GET.get("next") or request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = ""
        back = back or reverse("admin:connector_company_change", args=[company.pk])
        if request.method == "POST":
            run_for_each(request, Company.objects.filter(pk=company.pk), "Chart refresh", _chart_summary)
            return HttpResponseRedirect(back)
        title = f"Refresh the chart of accounts of {company}?"
        return self._page(request, "refresh_chart.html", title, company=company, back=back)

    def sync_now_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST only: queue a run of one company and follow it."""
        company = self._company(request, pk)
        if request.method != "POST" or not self.has_sync_permission(request):
            raise PermissionDenied
        url = self._queue_sync(request, company)
        return HttpResponseRedirect(url or reverse("admin:connector_company_change", args=[company.pk]))

    def agent_docs_view(self, request: HttpRequest) -> HttpResponse:
        """docs/agent.md as plain text: the guide the agent settings point at."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        guide = settings.BASE_DIR / "docs" / "agent.md"
        text = guide.read_text(encoding="utf-8") if guide.exists() else "docs/agent.md is not installed here."
        return self._page(request, "agent_docs.html", "The Sage 100 agent (docs/agent.md)", text=text)

    def policy_data_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The company's Expensify policies: categories and tags, and which have no mapping yet."""
        from mappings.policy import load_policy_data

        company = self._company(request, pk)
        overview: object = None
        error = ""
        try:
            overview = load_policy_data(company)
        except Exception as exc:  # shown to the operator as one sentence
            error = str(exc)
        title = f"Expensify policy data for {company}"
        return self._page(request, "policy_data.html", title, company=company, overview=overview, error=error)

    def _queue_sync(self, request: HttpRequest, company: Company) -> str:
        """Queue a run; a message links to the page that follows it. Returns that page's URL."""
        if not company.enabled:
            messages.warning(request, f"{company.code} is disabled: not queued.")
            return ""
        task_id = tasks.queue_sync(company, actor=f"admin:{request.user.get_username()}")
        url = reverse("admin:sync_syncrun_queued", args=[task_id]) if task_id else ""
        messages.success(
            request,
            format_html(
                '{}: sync queued to the workers. <a href="{}">Follow its run</a>.',
                company.code,
                url or reverse("admin:sync_syncrun_changelist"),
            ),
        )
        return url

    @admin.action(description="Sync now (queued to the background worker)", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        for company in queryset:
            self._queue_sync(request, company)

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connector.sync_company")

    def has_test_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connector.test_connection_company")

    @admin.action(description="Test connections (Expensify and Sage 100)", permissions=["test"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        from mappings.policy import test_expensify_connection

        run_for_each(
            request,
            queryset,
            "Expensify connection test",
            checked("expensify", test_expensify_connection),
            describe_expensify_failure,
        )
        run_for_each(
            request,
            queryset,
            "Sage 100 connection test",
            checked("sage", sage_services.test_sage_connection),
            describe_sage_failure,
        )

    @admin.action(description="Refresh chart of accounts from Sage 100", permissions=["test"])
    def refresh_chart_of_accounts(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        run_for_each(request, queryset, "Chart refresh", _chart_summary)
