from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from console.api.routes import api_path
from console.api.views import WhoamiApi
from provisioning.api.urls import webhook_urlpatterns


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# JSON under /api/ for failures outside a view (the middleware answers the ones inside).
handler500 = "console.api.server_errors.server_error"

urlpatterns = [
    # The busiest first, each behind a prefix of its own: a request is matched against
    # every pattern before its own, and an include whose prefix differs costs one check.
    # No two API routes match one path (tests/console/test_urls.py), so the order
    # changes nothing else.
    path("api/v1/provider-webhooks/", include(webhook_urlpatterns)),
    path("api/v1/imessage/", include("messaging.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}console/favicon.svg")),
    path("admin/", admin.site.urls),
    path("console/", include("console.ui.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    *api_path("api/whoami", WhoamiApi.as_view(), "whoami"),
    path("api/v1/", include("provisioning.api.urls")),
    path("api/v1/", include("routing.api.urls")),
    path("api/v1/", include("console.api.urls")),
    path("api/v1/", include("messaging.webhooks.api.urls")),
    path("", include("messaging.urls")),
]

# Baseline views for `make bench` only (see console/ui/bench.py); never on in production.
if settings.BENCH_ENDPOINTS_ENABLED:
    urlpatterns.append(path("bench/", include("console.ui.bench")))
