"""The health page: JSON for load balancers and monitors, no login, no secrets."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from connector.ops.health import DOWN, check_health


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the connector can work (status ok or degraded), 503 when it is down."""
    report = check_health()
    return JsonResponse(report.as_dict(), status=503 if report.status == DOWN else 200)
