"""Admin for the mapping tables, with spreadsheet import (dry-run preview, then confirm) and export."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from import_export.admin import ImportExportModelAdmin

from mappings.forms import (
    CategoryMappingForm,
    EmployeeMappingForm,
    MappingImportForm,
    TagMappingForm,
    unknown_tag_warning,
)
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from mappings.resources import (
    MAPPING_FORMATS,
    CategoryMappingResource,
    EmployeeMappingResource,
    TagMappingResource,
)


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
            problems = [str(error.error) for error in result.base_errors]
            for number, errors in result.row_errors():
                problems += [f"row {number}: {error.error}" for error in errors]
            for row in result.invalid_rows:
                problems += [m for ms in row.error_dict.values() for m in ms]
            messages.error(request, "Nothing was imported: " + "; ".join(problems))
            url = reverse(
                "admin:{}_{}_changelist".format(*self.get_model_info()), current_app=self.admin_site.name
            )
            return HttpResponseRedirect(url)
        return super().process_result(result, request)


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

    def save_model(self, request: HttpRequest, obj: TagMapping, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        warning = unknown_tag_warning(obj)
        if warning:
            messages.warning(request, warning)

    list_display = ("tag_value", "tag_level", "segment", "code", "company", "updated_at")
    search_fields = ("tag_value", "segment", "code", "company__code")


@admin.register(EmployeeMapping)
class EmployeeMappingAdmin(MappingAdmin):
    form = EmployeeMappingForm
    resource_classes = [EmployeeMappingResource]
    list_display = ("employee_email", "reimbursable_offset_account", "company", "note", "updated_at")
    search_fields = ("employee_email", "reimbursable_offset_account", "note", "company__code")
