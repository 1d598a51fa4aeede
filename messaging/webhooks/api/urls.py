from console.api.routes import api_path
from messaging.webhooks.api.views import (
    CatalogApi,
    DeliveryListApi,
    DeliveryReplayApi,
    IdentitySigningKeyApi,
    OrgSigningKeyApi,
    SubscriptionDetailApi,
    SubscriptionListCreateApi,
)

urlpatterns = [
    *api_path("webhooks/catalog", CatalogApi.as_view(), "webhooks-catalog"),
    *api_path(
        "webhooks/subscriptions", SubscriptionListCreateApi.as_view(), "webhooks-subscriptions"
    ),
    *api_path(
        "webhooks/subscriptions/<str:subscription_id>",
        SubscriptionDetailApi.as_view(),
        "webhooks-subscription-detail",
    ),
    *api_path("webhooks/deliveries", DeliveryListApi.as_view(), "webhooks-deliveries"),
    *api_path(
        "webhooks/deliveries/<str:delivery_id>/replay",
        DeliveryReplayApi.as_view(),
        "webhooks-delivery-replay",
    ),
    *api_path(
        "identities/<str:handle>/signing-key",
        IdentitySigningKeyApi.as_view(),
        "identity-signing-key",
    ),
    *api_path("signing-keys", OrgSigningKeyApi.as_view(), "signing-keys"),
]
