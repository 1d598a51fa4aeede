from console.api.identities import IdentityDetailApi, IdentityListCreateApi
from console.api.routes import api_path
from console.api.views import ApiKeyCreateApi

urlpatterns = [
    *api_path("api-keys", ApiKeyCreateApi.as_view(), "api-keys-create"),
    *api_path("identities", IdentityListCreateApi.as_view(), "identities"),
    *api_path("identities/<str:handle>", IdentityDetailApi.as_view(), "identity-detail"),
]
