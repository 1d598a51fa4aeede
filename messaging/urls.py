from django.urls import path, re_path

from messaging.views import media_serve, media_serve_signed

urlpatterns = [
    re_path(
        r"^media/s/(?P<object_id>[0-9a-f]{32})/(?P<expires>\d{1,12})/(?P<filename>[A-Za-z0-9_.-]{1,64})$",
        media_serve_signed,
        name="media-serve-signed",
    ),
    path("media/<path:name>", media_serve, name="media-serve"),
]
