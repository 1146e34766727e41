from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from connector.ops.views import health


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """The icon under its static (possibly hashed) name, looked up when asked, not at import."""
    return HttpResponsePermanentRedirect(static("connector/favicon.svg"))


admin.site.site_header = "ml-connector"
admin.site.site_title = "ml-connector"
admin.site.index_title = "Expensify → Sage 100"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/", health, name="health"),
    # Browsers ask for /favicon.ico on every page Django renders itself (403, 404): no 404 noise.
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
]
