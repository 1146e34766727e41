"""Tag mapping values checked against the company's Expensify policy tags: the warnings (with the
link that fixes them) and the "Refresh policy tags" page reachable from the tag mapping list."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from connector.logs import redact
from connector.models import Company
from console.admin.failures import describe_expensify_failure
from mappings import policy
from mappings.models import PolicyTagList, TagMapping
from mappings.tag_check import UnknownTag, known_tags, unknown_tag

MOST_WARNINGS = 20  # an import with more unknown tags says how many more


def warning_html(warning: UnknownTag) -> SafeString:
    """The warning with its fix: fetch the list (Policy data page) or refresh it."""
    if warning.fetched_at is None:
        url = reverse("admin:connector_company_policy_data", args=[warning.company_id])
        return format_html('{} <a href="{}">Policy data</a>', warning.text(), url)
    url = reverse("admin:mappings_tagmapping_refresh_tags") + f"?company={warning.company_id}"
    return format_html('{} <a href="{}">Refresh policy tags</a>', warning.text(), url)


def warn_unknown_tag(request: HttpRequest, mapping: TagMapping) -> None:
    """A warning message when the saved mapping's value is not among its company's policy tags."""
    known = known_tags(mapping.company)
    warning = unknown_tag(known, company=mapping.company, level=mapping.tag_level, value=mapping.tag_value)
    if warning is not None:
        messages.warning(request, warning_html(warning))


def warn_unknown_tags(request: HttpRequest, warnings: list[tuple[int, UnknownTag]]) -> None:
    """One warning message per imported row whose tag is unknown (the first MOST_WARNINGS)."""
    for row, warning in warnings[:MOST_WARNINGS]:
        messages.warning(request, format_html("Row {}: {}", row, warning_html(warning)))
    if len(warnings) > MOST_WARNINGS:
        messages.warning(request, f"… and {len(warnings) - MOST_WARNINGS} more rows with unknown tags.")


def refresh_tags_page(model_admin: admin.ModelAdmin[TagMapping], request: HttpRequest) -> HttpResponse:
    """`refresh-tags/` of the tag mapping list. GET: each company and when its tags were fetched;
    POST company=<pk>: fetch them again from Expensify (one call, on request)."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        company = get_object_or_404(Company, pk=request.POST.get("company") or 0)
        refresh_tags(request, company)
        return HttpResponseRedirect(reverse("admin:mappings_tagmapping_changelist"))
    lists = {kept.company_id: kept for kept in PolicyTagList.objects.all()}
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Refresh policy tags",
        "opts": TagMapping._meta,
        "companies": [(company, lists.get(company.pk)) for company in Company.objects.order_by("code")],
        "chosen": request.GET.get("company", ""),
    }
    return TemplateResponse(request, "admin/mappings/tagmapping/refresh_tags.html", context)


def refresh_tags(request: HttpRequest, company: Company) -> None:
    """Fetch the company's policy data (which keeps its tags) and say what came back."""
    try:
        _, policies = policy.fetch_policies(company)
    except Exception as exc:  # one sentence for the operator, secrets redacted
        messages.error(request, redact(f"{company.code}: {describe_expensify_failure(exc)}"))
        return
    count = sum(len(p.tags) for p in policies.values())
    messages.success(
        request,
        f"{company.code}: policy tags refreshed from Expensify ({count} tag value(s) in "
        f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'}).",
    )
