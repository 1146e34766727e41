from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from connector.ops.views import health

admin.site.site_header = "ml-connector"
admin.site.site_title = "ml-connector"
admin.site.index_title = "Expensify → Sage 100"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
]
