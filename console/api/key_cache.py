"""Authenticated API keys remembered per process, for at most one second.

Every API request authenticates its `X-API-Key`. Without this cache each request selects
the key with its organisation and identity; with it a busy key is read from the database
at most once a second per process.

Why a time limit rather than a version number bumped on every change: the version would
have to live where every process sees it (the database or Redis), so checking it would
cost the round trip the cache exists to save, and a Redis outage would take
authentication down with it. A one-second limit bounds how long any process can act on a
revoked, rotated or expired key, a suspended organisation or an archived or disabled
identity, with no shared state at all. On top of that, every change saved through the
ORM in this process (the services that revoke keys, archive identities and organisations
or edit an identity all save) empties this process's cache at once, and a read that
started before such a change is not stored (`generation`).

Only keys that were valid when read are stored, so unknown or revoked keys cannot fill
the cache; an expiry is checked again on every hit by the caller. Callers get their own
copies, so nothing a request sets on its key (or its identity) reaches another request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model

from console.models import ApiKey

# The brief's bound: a change anywhere is honoured everywhere within this many seconds.
TTL_SECONDS = 1.0
# Far above the number of keys one process serves in a second; a bound, not a tuning knob.
MAX_KEYS = 10_000

M = TypeVar("M", bound=Model)


def _copy(instance: M) -> M:
    """A shallow copy with its own field values and its own related-object cache."""
    clone = instance.__class__.__new__(instance.__class__)
    clone.__dict__ = instance.__getstate__()
    return clone


def _key_copy(key: ApiKey) -> ApiKey:
    clone = _copy(key)
    related = clone._state.fields_cache
    for name, value in related.items():
        if isinstance(value, Model):
            related[name] = _copy(value)
    return clone


@dataclass
class _Entry:
    key: ApiKey
    read_at: float


class ApiKeyCache:
    """Valid keys by the SHA-256 of their secret; thread-safe (gunicorn gthread)."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes with every `clear`: take it before reading a key, pass it to `put`."""
        return self._generation

    def get(self, digest: str) -> ApiKey | None:
        """A copy of the key stored under `digest`, or None when absent or too old."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now - entry.read_at >= self.ttl:
                del self._entries[digest]
                return None
            return _key_copy(entry.key)

    def put(self, digest: str, key: ApiKey, *, read_at: float, generation: int) -> None:
        """Store `key` as read from the database at `read_at` (taken before the read, so
        the read's own duration counts against the limit). Dropped when the cache was
        cleared since `generation` was taken: the read may predate that change."""
        with self._lock:
            if generation != self._generation:
                return
            self._entries.pop(digest, None)
            while len(self._entries) >= self.max_keys:
                del self._entries[next(iter(self._entries))]  # the oldest read
            self._entries[digest] = _Entry(key=_key_copy(key), read_at=read_at)

    def touch(self, digest: str, *, last_used_at: Any) -> None:
        """Record the `last_used_at` just written, so the next hits do not write it again."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                entry.key.last_used_at = last_used_at

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


KEYS = ApiKeyCache()


def keys_forget(*, using: str | None = None, **_: Any) -> None:
    """Signal receiver: a key, identity or organisation changed. Cleared now, so this
    process's next request reads the change, and again at commit, so a read that ran
    between the save and the commit (and saw the old row) is not served on."""
    KEYS.clear()
    transaction.on_commit(KEYS.clear, using=using)
