"""Serving the media we host from local storage (other storages serve their own URLs)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from messaging.models import MediaObject

# Types a browser may render inline; anything else downloads, so an uploaded HTML or SVG
# file can never run script on our origin.
_INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/heic", "image/webp")
_INLINE_PREFIXES = ("audio/", "video/")
# Downloads that keep their type: the provider sends contact cards by type.
_TYPED_DOWNLOADS = ("text/vcard", "text/x-vcard")


@require_GET
def media_serve(request: HttpRequest, name: str) -> FileResponse:
    media = MediaObject.objects.filter(file=name).first()
    if media is None:
        raise Http404
    inline = media.content_type in _INLINE_TYPES or media.content_type.startswith(_INLINE_PREFIXES)
    response = FileResponse(
        media.file.open("rb"),
        content_type=media.content_type
        if inline or media.content_type in _TYPED_DOWNLOADS
        else "application/octet-stream",
        as_attachment=not inline,
    )
    response["Cache-Control"] = "public, max-age=86400, immutable"
    return response
