from console.api.routes import api_path
from console.api.views import ApiKeyCreateApi

urlpatterns = [
    *api_path("api-keys", ApiKeyCreateApi.as_view(), "api-keys-create"),
]
