"""Media we host: agent uploads and inbound files re-hosted from the provider's CDN (its
links expire after 30 days). Stored through Django's storage API, so any django-storages
backend works in production; local files are served by `media_serve`."""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from console.errors import ApplicationError
from console.models import Organization
from messaging.models import MediaObject, Message

logger = logging.getLogger(__name__)

MEDIA_TOO_LARGE = "Media files are limited to {limit} bytes."
INBOUND_MEDIA_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_CHUNK = 64 * 1024


class MediaFetchError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def media_too_large() -> ApplicationError:
    limit = settings.MEDIA_MAX_BYTES
    return ApplicationError(
        MEDIA_TOO_LARGE.format(limit=limit),
        code="media_too_large",
        status_code=413,
        extra={"limit_bytes": limit},
    )


def _extension(filename: str, content_type: str) -> str:
    ext = os.path.splitext(filename)[1].lower()
    if ext and len(ext) <= 10 and ext[1:].isalnum():
        return ext
    return mimetypes.guess_extension(content_type) or ".bin"


def _content_type(filename: str, declared: str | None) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def media_url(media: MediaObject) -> str:
    """An absolute URL: the provider fetches it, so it must not be relative."""
    url = default_storage.url(media.file.name)
    if url.startswith(("http://", "https://")):
        return url
    return f"{settings.PUBLIC_BASE_URL}{url}"


def _store(
    *,
    organization_id: Any,
    stream: IO[bytes],
    filename: str,
    content_type: str,
    source_url: str = "",
) -> MediaObject:
    digest = hashlib.sha256()
    size = 0
    stream.seek(0)
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    # An unguessable name: the URL is public so the provider can fetch it.
    now = timezone.now()
    name = f"media/{now:%Y/%m}/{uuid.uuid4().hex}{_extension(filename, content_type)}"
    stored_name = default_storage.save(name, File(stream, name=name))
    return MediaObject.objects.create(
        organization_id=organization_id,
        file=stored_name,
        content_type=content_type,
        size=size,
        sha256=digest.hexdigest(),
        source_url=source_url,
    )


def media_bytes_publish(
    *, organization_id: Any, filename: str, content_type: str, body: bytes
) -> str:
    """Host a small file we generate (the router's contact cards); returns its URL.

    Identical content of one organisation is stored once.
    """
    digest = hashlib.sha256(body).hexdigest()
    media = MediaObject.objects.filter(
        organization_id=organization_id, sha256=digest, content_type=content_type
    ).first()
    if media is None:
        media = _store(
            organization_id=organization_id,
            stream=io.BytesIO(body),
            filename=filename,
            content_type=content_type,
        )
    return media_url(media)


def media_upload_store(*, organization: Organization, upload: UploadedFile[bytes]) -> MediaObject:
    """Store an agent's upload. Raises 413 `media_too_large` above MEDIA_MAX_BYTES."""
    if upload.size is None or upload.size > settings.MEDIA_MAX_BYTES:
        raise media_too_large()
    filename = upload.name or "upload"
    if upload.file is None:
        raise ApplicationError("The upload has no content.", code="validation_error")
    return _store(
        organization_id=organization.id,
        stream=upload.file,
        filename=filename,
        content_type=_content_type(filename, upload.content_type),
    )


HttpClientFactory = Callable[[], httpx.Client]


def _default_client() -> httpx.Client:
    return httpx.Client(
        timeout=INBOUND_MEDIA_TIMEOUT,
        follow_redirects=True,
        max_redirects=3,
        headers={"User-Agent": "bluewire-media/1.0"},
    )


# Tests swap this for a client over httpx.MockTransport.
http_client_factory: HttpClientFactory = _default_client


def _download(url: str, limit: int) -> tuple[IO[bytes], str | None]:
    if not url.startswith(("https://", "http://")):
        raise MediaFetchError("unsupported media URL scheme", permanent=True)
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
    try:
        with http_client_factory() as client, client.stream("GET", url) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise MediaFetchError(f"HTTP {response.status_code}", permanent=False)
            if response.status_code >= 400:
                raise MediaFetchError(f"HTTP {response.status_code}", permanent=True)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise MediaFetchError("media larger than the cap", permanent=True)
            size = 0
            chunks: Iterator[bytes] = response.iter_bytes(_CHUNK)
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise MediaFetchError("media larger than the cap", permanent=True)
                spool.write(chunk)
            content_type = response.headers.get("content-type")
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
    return spool, content_type


def media_rehost(*, message_id: Any) -> bool:
    """Fetch an inbound message's provider media into our storage and point the message
    at our copy. Idempotent: already re-hosted items are skipped.

    Returns True when nothing is left to do. Raises `MediaFetchError(permanent=False)`
    for errors worth retrying; permanent failures are recorded on the item.
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
            stream, declared_type = _download(source, limit)
        except MediaFetchError as exc:
            if not exc.permanent:
                raise
            logger.warning("media for message %s not re-hosted: %s", message.pk, exc)
            new_items.append({**item, "rehosted": None, "rehost_error": str(exc)})
            changed = True
            continue
        with stream:
            filename = source.rsplit("/", 1)[-1].split("?")[0] or "media"
            media = _store(
                organization_id=message.organization_id,
                stream=stream,
                filename=filename,
                content_type=_content_type(filename, declared_type),
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
