"""`download/?format=csv|xlsx` on a list page: the rows of the list as filtered, streamed."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from sync.exports import FORMATS, ReadOnlyResource, stream_csv, xlsx_file


class ExportMixin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Adds `download/?format=csv|xlsx` to a ModelAdmin: the rows of the list as filtered."""

    export_resource: ClassVar[type[ReadOnlyResource]]
    change_list_template = "admin/cockpit/change_list_download.html"

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_download"
        custom = [path("download/", self.admin_site.admin_view(self.download_view), name=name)]
        return custom + super().get_urls()

    def download_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        wanted = request.GET.get("format")
        if wanted is None:
            return self._choose_format(request)
        if wanted not in FORMATS:
            messages.error(request, f"Downloads are CSV or XLSX, not {wanted!r}.")
            return HttpResponseRedirect("../")
        params = request.GET.copy()
        params.pop("format", None)
        request.GET = params  # type: ignore[assignment]  # the list's own filters and search, as on the page
        queryset = self.get_changelist_instance(request).get_queryset(request)
        if wanted == "xlsx":
            return xlsx_file(self.export_resource, queryset)
        return stream_csv(self.export_resource, queryset)

    def _choose_format(self, request: HttpRequest) -> HttpResponse:
        """No format chosen: a page that offers both, for the rows as filtered."""
        query = request.GET.urlencode()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Download {self.model._meta.verbose_name_plural}",
            "opts": self.model._meta,
            "links": [(f"?{query}&format={f}" if query else f"?format={f}", f.upper()) for f in FORMATS],
        }
        return TemplateResponse(request, "admin/cockpit/download.html", context)
