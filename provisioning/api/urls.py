"""The setups' API (under `api/v1/`) and, in `webhook_urlpatterns`, the provider's
webhooks (under `api/v1/provider-webhooks/`, `console/urls.py`)."""

from django.urls import URLPattern, path

from console.api.routes import api_path
from provisioning.api.views import SetupDetailApi, SetupLineAddApi, SetupListCreateApi
from provisioning.api.webhooks import ProviderWebhookView

urlpatterns: list[URLPattern] = [
    *api_path("imessage/setups", SetupListCreateApi.as_view(), "setups"),
    *api_path("imessage/setups/<str:setup_id>", SetupDetailApi.as_view(), "setup-detail"),
    *api_path("imessage/setups/<str:setup_id>/lines", SetupLineAddApi.as_view(), "setup-lines"),
]

webhook_urlpatterns: list[URLPattern] = [
    # Every inbound message's: the typed route first.
    path(
        "<str:setup_id>/<slug:event_type>",
        ProviderWebhookView.as_view(),
        name="provider-webhook-typed",
    ),
    # <str:> rather than <uuid:>: a malformed id must reach the view and get the same
    # rejection as an unknown one, not Django's 404 page.
    *api_path("<str:setup_id>", ProviderWebhookView.as_view(), "provider-webhook"),
    # One message's own status callback (messaging passes it on every send).
    path(
        "<str:setup_id>/status_callback/<str:message_ref>",
        ProviderWebhookView.as_view(),
        {"event_type": "status_callback"},
        name="provider-webhook-callback",
    ),
]
