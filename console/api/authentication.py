"""`X-API-Key` authentication. Every failure answers the same 401, whatever the reason."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from console.api.key_cache import KEYS
from console.db.prepared import PreparedQuery
from console.models import ApiKey, ApiKeyStatus

API_KEY_HEADER = "HTTP_X_API_KEY"
INVALID_KEY_MESSAGE = "Invalid or missing API key."
# Writing last_used_at on every request would serialise hot keys on one row.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_for(raw: str) -> ApiKey | None:
    """The active, unexpired key `raw` is, or None (the same None whatever the reason).

    Served from the per-process cache (`console.api.key_cache`) when it was read less
    than a second ago; the caller gets its own copy either way."""
    if not raw:
        return None
    digest = hash_api_key(raw)
    key = KEYS.get(digest)
    if key is None:
        key = _key_read(digest)
    # compare_digest keeps the check constant-time even if the lookup were not exact.
    valid = (
        key is not None
        and hmac.compare_digest(key.key_hash, digest)
        and _usable(key, now=timezone.now())
    )
    return key if valid else None


def _usable(key: ApiKey, *, now: datetime) -> bool:
    return key.status == ApiKeyStatus.ACTIVE and (key.expires_at is None or key.expires_at > now)


# Every request whose key is not cached reads it: compiled once per process.
_KEY = PreparedQuery(
    ApiKey,
    lambda *, digest: ApiKey.objects.select_related("organization", "identity").filter(
        key_hash=digest
    )[:1],
    digest=str,
)


def _key_read(digest: str) -> ApiKey | None:
    read_at, generation = KEYS.clock(), KEYS.generation
    key: ApiKey | None = _KEY.first(digest=digest)
    if key is not None and _usable(key, now=timezone.now()):
        KEYS.put(digest, key, read_at=read_at, generation=generation)
    return key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        key = api_key_for(request.META.get(API_KEY_HEADER) or "")
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
            KEYS.set_field(key.key_hash, "last_used_at", now)
        # The key is both "user" and "auth": views read request.auth for scoping.
        return key, key

    def authenticate_header(self, request: Request) -> str:
        return "X-API-Key"


def caller_key(request: Request) -> ApiKey:
    """The authenticated API key of a request (views guarded by HasApiKey)."""
    assert isinstance(request.auth, ApiKey)
    return request.auth
