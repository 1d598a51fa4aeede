"""Serving the media we host. Nothing is public: a signed, unexpired URL
(`messaging/media_urls.py`) or the owning organisation's `X-API-Key` on the plain path.
Every refusal is the same 404 as a missing object."""

from __future__ import annotations

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotFound,
)
from django.views.decorators.http import require_GET

from console.api.authentication import API_KEY_HEADER, api_key_for
from messaging.media_urls import signed_object_id
from messaging.models import MediaObject

# Types a browser may render inline; anything else downloads, so an uploaded HTML or SVG
# file can never run script on our origin.
_INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/heic", "image/webp")
_INLINE_PREFIXES = ("audio/", "video/")
# Downloads that keep their type: the provider sends contact cards by type.
_TYPED_DOWNLOADS = ("text/vcard", "text/x-vcard")


def _not_found() -> HttpResponse:
    """One answer, byte for byte, for a missing object and every refused URL or key."""
    response = HttpResponseNotFound(b"Not found.\n", content_type="text/plain")
    response["Cache-Control"] = "private, no-store"
    return response


def _serve(media: MediaObject) -> FileResponse:
    inline = media.content_type in _INLINE_TYPES or media.content_type.startswith(_INLINE_PREFIXES)
    response = FileResponse(
        media.file.open("rb"),
        content_type=media.content_type
        if inline or media.content_type in _TYPED_DOWNLOADS
        else "application/octet-stream",
        as_attachment=not inline,
    )
    # Patient media: no shared cache keeps a copy, no browser guesses another type.
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def media_serve_signed(
    request: HttpRequest, object_id: str, expires: str, filename: str
) -> HttpResponseBase:
    signature = filename.split(".", 1)[0]
    media_id = signed_object_id(object_id=object_id, expires=expires, signature=signature)
    media = MediaObject.objects.filter(pk=media_id).first() if media_id else None
    if media is None:
        return _not_found()
    return _serve(media)


@require_GET
def media_serve(request: HttpRequest, name: str) -> HttpResponseBase:
    """The plain path: only with an API key of the organisation that owns the file."""
    key = api_key_for(request.META.get(API_KEY_HEADER) or "")
    media = (
        MediaObject.objects.filter(file=name, organization_id=key.organization_id).first()
        if key is not None
        else None
    )
    if media is None:
        return _not_found()
    return _serve(media)
