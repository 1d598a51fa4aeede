from django.urls import path

from messaging.views import media_serve

urlpatterns = [
    path("media/<path:name>", media_serve, name="media-serve"),
]
