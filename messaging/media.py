"""Media we host: agent uploads and inbound files re-hosted from the provider's CDN (its
links expire after 30 days). Stored through Django's storage API, so any django-storages
backend works in production; local files are served by `media_serve`."""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import urljoin

import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from console.db.prepared import PreparedQuery
from console.errors import TooLarge, ValidationFailed
from console.http import http_client
from console.models import Organization
from messaging import media_urls
from messaging.media_types import INBOUND_ALLOWED, SNIFF_BYTES, extension_for, sniff
from messaging.models import MediaObject, Message
from messaging.webhooks import safety

logger = logging.getLogger(__name__)

MEDIA_TOO_LARGE = "Media files are limited to {limit} bytes."
# Per network operation (connect gets at most 5 s of it), and for the whole fetch.
INBOUND_MEDIA_TIMEOUT_SECONDS = 30.0
INBOUND_MEDIA_DEADLINE_SECONDS = 120.0
INBOUND_MEDIA_MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class MediaFetchError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def media_too_large() -> TooLarge:
    limit = settings.MEDIA_MAX_BYTES
    return TooLarge(
        MEDIA_TOO_LARGE.format(limit=limit),
        code="media_too_large",
        extra={"limit_bytes": limit},
    )


def media_url(media: MediaObject) -> str:
    """The absolute plain URL of a stored file: it answers only the owning organisation's
    API key. Hand out `media_urls.agent_url` / `provider_url` instead."""
    url = default_storage.url(media.file.name)
    if url.startswith(("http://", "https://")):
        return url
    return f"{settings.PUBLIC_BASE_URL}{url}"


def _head(stream: IO[bytes]) -> bytes:
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    return head


def _store(
    *,
    organization_id: Any,
    stream: IO[bytes],
    content_type: str,
    source_url: str = "",
) -> MediaObject:
    """Store `stream` as a media object of `content_type` (sniffed by the caller); the
    file name is random and ends with that type's extension."""
    digest = hashlib.sha256()
    size = 0
    stream.seek(0)
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    now = timezone.now()
    name = f"media/{now:%Y/%m}/{uuid.uuid4().hex}{extension_for(content_type)}"
    stored_name = default_storage.save(name, File(stream, name=name))
    return MediaObject.objects.create(
        organization_id=organization_id,
        file=stored_name,
        content_type=content_type,
        size=size,
        sha256=digest.hexdigest(),
        source_url=source_url,
    )


# Every connect asks (for its contact card): compiled once per process.
_STORED_BY_DIGEST = PreparedQuery(
    MediaObject,
    lambda *, organization_id, sha256, content_type: MediaObject.objects.filter(
        organization_id=organization_id, sha256=sha256, content_type=content_type
    )[:1],
    organization_id=uuid.UUID,
    sha256=str,
    content_type=str,
)


def media_bytes_publish(
    *, organization_id: Any, filename: str, content_type: str, body: bytes
) -> str:
    """Host a small file we generate (the router's contact cards); returns a URL the
    provider can fetch (signed for MEDIA_PROVIDER_URL_TTL_SECONDS).

    Identical content of one organisation is stored once. `filename` is not used: stored
    names take their extension from `content_type` (routing's hook passes it anyway).
    """
    digest = hashlib.sha256(body).hexdigest()
    media = _STORED_BY_DIGEST.first(
        organization_id=organization_id, sha256=digest, content_type=content_type
    )
    if media is None:
        media = _store(
            organization_id=organization_id, stream=io.BytesIO(body), content_type=content_type
        )
    return media_urls.provider_url(media)


def media_upload_store(*, organization: Organization, upload: UploadedFile[bytes]) -> MediaObject:
    """Store an agent's upload as the type its bytes show (the declared type and file name
    are ignored). Raises 413 `media_too_large` above MEDIA_MAX_BYTES."""
    if upload.size is None or upload.size > settings.MEDIA_MAX_BYTES:
        raise media_too_large()
    if upload.file is None:
        raise ValidationFailed("The upload has no content.")
    return _store(
        organization_id=organization.id,
        stream=upload.file,
        content_type=sniff(_head(upload.file)),
    )


# Tests swap this for an httpx.MockTransport; None is the real network.
transport_factory: Callable[[], httpx.BaseTransport | None] = lambda: None  # noqa: E731


def _refuse_declared_length(response: httpx.Response, limit: int) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise MediaFetchError("media larger than the cap", permanent=True)


def _sniffed_allowed(spool: IO[bytes]) -> str:
    """The sniffed type of what `spool` holds so far (its position is kept). Raises a
    permanent `MediaFetchError` when it is not a type we accept: the declared type is not
    trusted, and the rest of a refused body is never downloaded."""
    position = spool.tell()
    spool.seek(0)
    content_type = sniff(spool.read(SNIFF_BYTES))
    spool.seek(position)
    if content_type not in INBOUND_ALLOWED:
        raise MediaFetchError("content type is not allowed", permanent=True)
    return content_type


def _fetch_once(
    target: safety.Target, limit: int, deadline: float
) -> tuple[IO[bytes] | None, str | None]:
    """GET one checked hop. Returns (body, None), or (None, Location) for a redirect."""
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    headers = {"Host": target.host_header, "Accept": "*/*", "Accept-Encoding": "identity"}
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
    try:
        # A fresh client per hop: the connection is pinned to the address just checked.
        with (
            http_client(
                timeout=INBOUND_MEDIA_TIMEOUT_SECONDS, transport=transport_factory()
            ) as client,
            client.stream(
                "GET", target.request_url, headers=headers, extensions=extensions
            ) as response,
        ):
            if response.status_code in _REDIRECTS:
                spool.close()
                return None, response.headers.get("location") or ""
            if response.status_code >= 500 or response.status_code == 429:
                raise MediaFetchError(f"HTTP {response.status_code}", permanent=False)
            if response.status_code >= 400:
                raise MediaFetchError(f"HTTP {response.status_code}", permanent=True)
            _refuse_declared_length(response, limit)
            size, sniffed = 0, False
            for chunk in response.iter_bytes(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise MediaFetchError("media larger than the cap", permanent=True)
                if time.monotonic() > deadline:
                    raise MediaFetchError("timed out", permanent=False)
                spool.write(chunk)
                if not sniffed and size >= SNIFF_BYTES:
                    _sniffed_allowed(spool)
                    sniffed = True
            _sniffed_allowed(spool)
    except httpx.TimeoutException as exc:
        spool.close()
        raise MediaFetchError("timed out", permanent=False) from exc
    except httpx.HTTPError as exc:
        spool.close()
        raise MediaFetchError(f"transport error: {type(exc).__name__}", permanent=False) from exc
    except MediaFetchError:
        spool.close()
        raise
    spool.seek(0)
    return spool, None


def _download(url: str, limit: int) -> tuple[IO[bytes], str]:
    """Fetch `url` through the SSRF guard: every hop (at most 3 redirects) is checked and
    connected to at its checked address; size, time and type are capped. Returns the body
    and its sniffed content type. Raises `MediaFetchError` (permanent or not)."""
    deadline = time.monotonic() + INBOUND_MEDIA_DEADLINE_SECONDS
    current = url
    for _ in range(INBOUND_MEDIA_MAX_REDIRECTS + 1):
        try:
            target = safety.check_url(current)
        except safety.UnsafeUrl as exc:
            raise MediaFetchError(f"refused: {exc.reason}", permanent=not exc.transient) from None
        body, location = _fetch_once(target, limit, deadline)
        if body is not None:
            return body, _sniffed_allowed(body)
        if not location:
            raise MediaFetchError("redirect without a location", permanent=True)
        current = urljoin(current, location)
    raise MediaFetchError("too many redirects", permanent=True)


def inbound_media_items(url: str | None) -> list[dict[str, Any]]:
    """The `media` of an inbound message: the provider's expiring URL, not yet re-hosted
    (the fetch task or the sweep re-hosts it)."""
    if not url:
        return []
    return [{"url": url, "content_type": None, "size": None, "rehosted": False}]


def media_rehost(*, message_id: Any) -> bool:
    """Fetch an inbound message's provider media into our storage and point the message
    at our copy. Idempotent: already re-hosted items are skipped.

    Returns True when nothing is left to do. Raises `MediaFetchError(permanent=False)`
    for errors worth retrying; permanent failures (refused address, type or size) leave
    the item marked `unavailable` with the reason.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return True
    limit = settings.INBOUND_MEDIA_MAX_BYTES
    new_items: list[dict[str, Any]] = []
    changed = False
    for item in message.media or []:
        if item.get("rehosted") is not False:
            new_items.append(item)
            continue
        source = str(item.get("url") or "")
        try:
            stream, content_type = _download(source, limit)
        except MediaFetchError as exc:
            if not exc.permanent:
                raise
            logger.warning("media for message %s not re-hosted: %s", message.pk, exc)
            new_items.append(
                {**item, "rehosted": None, "unavailable": True, "rehost_error": str(exc)}
            )
            changed = True
            continue
        with stream:
            media = _store(
                organization_id=message.organization_id,
                stream=stream,
                content_type=content_type,
                source_url=source,
            )
        new_items.append(
            {
                "url": media_url(media),
                "content_type": media.content_type,
                "size": media.size,
                "rehosted": True,
                "media_object_id": str(media.id),
            }
        )
        changed = True
    if changed:
        with transaction.atomic():
            Message.objects.filter(pk=message.pk).update(media=new_items, updated_at=timezone.now())
    return True
