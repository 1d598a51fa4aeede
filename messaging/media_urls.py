"""Signed, expiring URLs for the media we host.

Patient media is never public. A media URL handed out carries an HMAC over the object id
and an expiry in its path:

    {PUBLIC_BASE_URL}/media/s/{object id}/{expires, Unix seconds}/{signature}{.ext}

Signature and expiry sit in the path and the file extension comes last, because the
provider fetches outbound media itself, requires the right extension and does not support
query strings on `media_url`. Agents get `MEDIA_URL_TTL_SECONDS` (every read signs anew);
URLs handed to the provider get `MEDIA_PROVIDER_URL_TTL_SECONDS`. The plain storage path
(`/media/<name>`) answers only the owning organisation's `X-API-Key`.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.crypto import salted_hmac

from messaging.media_types import extension_for
from messaging.models import MediaObject

_SALT = "bluewire.media-url.v1"
_SIGNED_PATH = re.compile(
    r"^/media/s/(?P<object_id>[0-9a-f]{32})/(?P<expires>\d{1,12})/"
    r"(?P<signature>[A-Za-z0-9_-]{43})\.[a-z0-9]{1,5}$"
)
_PLAIN_PREFIX = "/media/"


def _signature(object_id: uuid.UUID, expires: int) -> str:
    digest = salted_hmac(_SALT, f"{object_id.hex}:{expires}", algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(*, object_id: uuid.UUID | str, content_type: str, ttl_seconds: int) -> str:
    """A URL for one media object that works without credentials until `ttl_seconds`
    from now."""
    object_uuid = uuid.UUID(str(object_id))
    expires = int(time.time()) + ttl_seconds
    signature = _signature(object_uuid, expires)
    path = f"/media/s/{object_uuid.hex}/{expires}/{signature}{extension_for(content_type)}"
    return f"{settings.PUBLIC_BASE_URL}{path}"


def signed_object_id(*, object_id: str, expires: str, signature: str) -> uuid.UUID | None:
    """The object id a signed URL names, or None when its signature is wrong or expired
    (constant-time comparison; the caller answers both like a missing object)."""
    try:
        object_uuid = uuid.UUID(hex=object_id)
        expiry = int(expires)
    except ValueError:
        return None
    expected = _signature(object_uuid, expiry)
    if not hmac.compare_digest(expected.encode(), signature.encode()) or expiry < time.time():
        return None
    return object_uuid


def agent_url(media: MediaObject) -> str:
    return signed_url(
        object_id=media.id,
        content_type=media.content_type,
        ttl_seconds=settings.MEDIA_URL_TTL_SECONDS,
    )


def provider_url(media: MediaObject) -> str:
    return signed_url(
        object_id=media.id,
        content_type=media.content_type,
        ttl_seconds=settings.MEDIA_PROVIDER_URL_TTL_SECONDS,
    )


def item_url(item: dict[str, Any]) -> str | None:
    """The URL to show for a stored media item: freshly signed for agents when it is one
    of ours, else the URL as stored (someone else's file, or media not re-hosted)."""
    object_id = item.get("media_object_id")
    if object_id and item.get("content_type"):
        return signed_url(
            object_id=object_id,
            content_type=str(item["content_type"]),
            ttl_seconds=settings.MEDIA_URL_TTL_SECONDS,
        )
    url = item.get("url")
    return str(url) if url is not None else None


def _our_path(url: str) -> str | None:
    base = settings.PUBLIC_BASE_URL
    if url.startswith(base):
        url = url[len(base) :]
    elif url.startswith(("http://", "https://")):
        return None
    return urlsplit(url).path


def _referenced_object(url: str) -> tuple[str, Any] | None:
    """("id", uuid) or ("name", storage name) when `url` points at media we host."""
    path = _our_path(url)
    if path is None:
        return None
    match = _SIGNED_PATH.match(path)
    if match:
        return "id", uuid.UUID(hex=match["object_id"])
    if path.startswith(_PLAIN_PREFIX):
        return "name", path[len(_PLAIN_PREFIX) :]
    return None


def _issued_object_id(url: str) -> uuid.UUID | None:
    """The object id of a signed URL we issued (expired or not); None for anything else,
    a look-alike with a forged signature included."""
    path = _our_path(url)
    match = _SIGNED_PATH.match(path) if path else None
    if match is None:
        return None
    object_uuid = uuid.UUID(hex=match["object_id"])
    expected = _signature(object_uuid, int(match["expires"]))
    return object_uuid if hmac.compare_digest(expected, match["signature"]) else None


def send_items(*, organization_id: Any, urls: Iterable[str]) -> list[dict[str, Any]]:
    """Media items of an outbound message. A URL of a media object the sender's own
    organisation hosts with us (as `upload_media` returned it, signed or plain) is re-signed
    for the provider, which fetches it later; any other URL is passed on unchanged."""
    items: list[dict[str, Any]] = []
    for url in urls:
        media: MediaObject | None = None
        reference = _referenced_object(url)
        if reference is not None:
            field = "pk" if reference[0] == "id" else "file"
            media = MediaObject.objects.filter(
                organization_id=organization_id, **{field: reference[1]}
            ).first()
        if media is None:
            items.append({"url": url, "content_type": None, "size": None})
            continue
        items.append(
            {
                "url": provider_url(media),
                "content_type": media.content_type,
                "size": media.size,
                "media_object_id": str(media.id),
            }
        )
    return items


def refresh_signed_urls(payload: str) -> str:
    """A webhook body with the media URLs of its message signed anew (a retry can go out
    long after the event was written). Only URLs we signed are renewed, never a look-alike
    someone else wrote. Returns `payload` itself when there is nothing to refresh."""
    if "/media/s/" not in payload:
        return payload
    body = json.loads(payload)
    message = (body.get("data") or {}).get("message") if isinstance(body, dict) else None
    items = message.get("media") if isinstance(message, dict) else None
    if not isinstance(items, list):
        return payload
    changed = False
    for item in items:
        url = item.get("url") if isinstance(item, dict) else None
        object_id = _issued_object_id(url) if isinstance(url, str) else None
        if object_id is None or not item.get("content_type"):
            continue
        item["url"] = signed_url(
            object_id=object_id,
            content_type=str(item["content_type"]),
            ttl_seconds=settings.MEDIA_URL_TTL_SECONDS,
        )
        changed = True
    if not changed:
        return payload
    from messaging.webhooks.events import dumps

    return dumps(body)
