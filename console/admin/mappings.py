"""The mapping tables' pages, with spreadsheet import (dry-run preview, then confirm) and export.

A tag mapping whose value is not among the company's Expensify policy tags (as last fetched) saves
with a warning, in the form and in an import; nothing here calls Expensify except the explicit
"Refresh policy tags" page (policy_tags.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from import_export.admin import ImportExportModelAdmin

from console.admin.mapping_forms import (
    CategoryMappingForm,
    EmployeeMappingForm,
    MappingImportForm,
    TagMappingForm,
)
from console.admin.policy_tags import refresh_tags_page, warn_unknown_tag, warn_unknown_tags
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from mappings.resources import (
    MAPPING_FORMATS,
    CategoryMappingResource,
    EmployeeMappingResource,
    TagMappingResource,
)


def import_problems(result: Any) -> list[str]:
    """Every problem of an import's result, one plain sentence each."""
    problems = [str(error.error) for error in result.base_errors]
    for number, errors in result.row_errors():
        problems += [f"row {number}: {error.error}" for error in errors]
    for row in result.invalid_rows:
        problems += [m for ms in row.error_dict.values() for m in ms]
    return problems


class MappingAdmin(ImportExportModelAdmin):  # type: ignore[misc]
    import_form_class = MappingImportForm
    import_formats = MAPPING_FORMATS
    export_formats = MAPPING_FORMATS
    list_filter = ("company",)
    list_select_related = ("company",)
    list_per_page = 100
    # One plain sentence per problem, never a traceback.
    import_error_display = ("message",)

    def add_data_read_fail_error_to_form(self, form: Any, e: Exception) -> None:
        name = getattr(form.cleaned_data.get("import_file"), "name", "the file")
        form.add_error(
            "import_file",
            f"“{name}” could not be read as a spreadsheet (it may be another kind of file, or damaged): "
            "save it again as .xlsx or .csv with the column names in row 1.",
        )

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        # The confirm step re-reads the file; if the data changed since the preview and a row now
        # fails, everything was rolled back: say so instead of "Import finished".
        if result.has_errors() or result.has_validation_errors():
            messages.error(request, "Nothing was imported: " + "; ".join(import_problems(result)))
            url = reverse(
                "admin:{}_{}_changelist".format(*self.get_model_info()), current_app=self.admin_site.name
            )
            return HttpResponseRedirect(url)
        warn_unknown_tags(request, getattr(result, "tag_warnings", []))
        response: HttpResponse = super().process_result(result, request)
        return response


@admin.register(CategoryMapping)
class CategoryMappingAdmin(MappingAdmin):
    form = CategoryMappingForm
    resource_classes = [CategoryMappingResource]
    list_display = ("category", "account", "company", "note", "updated_at")
    search_fields = ("category", "account", "note", "company__code")


@admin.register(TagMapping)
class TagMappingAdmin(MappingAdmin):
    form = TagMappingForm
    resource_classes = [TagMappingResource]
    change_list_template = "admin/mappings/tagmapping/change_list.html"
    list_display = ("tag_value", "tag_level", "segment", "code", "company", "updated_at")
    search_fields = ("tag_value", "segment", "code", "company__code")

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = super().get_urls()
        view = self.admin_site.admin_view(self.refresh_tags_view)
        return [path("refresh-tags/", view, name="mappings_tagmapping_refresh_tags"), *urls]

    def refresh_tags_view(self, request: HttpRequest) -> HttpResponse:
        return refresh_tags_page(self, request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "can_refresh_tags": self.has_change_permission(request)}
        response: HttpResponse = super().changelist_view(request, extra)
        return response

    def save_model(self, request: HttpRequest, obj: TagMapping, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        warn_unknown_tag(request, obj)

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The preview also warns of the file's tag values unknown to the policies."""
        response: HttpResponse = super().import_action(request, **kwargs)
        if isinstance(response, TemplateResponse) and response.context_data:
            result = response.context_data.get("result")
            if result is not None:
                warn_unknown_tags(request, getattr(result, "tag_warnings", []))
        return response


@admin.register(EmployeeMapping)
class EmployeeMappingAdmin(MappingAdmin):
    form = EmployeeMappingForm
    resource_classes = [EmployeeMappingResource]
    list_display = ("employee_email", "reimbursable_offset_account", "company", "note", "updated_at")
    search_fields = ("employee_email", "reimbursable_offset_account", "note", "company__code")
