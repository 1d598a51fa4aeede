"""Rows an authenticating request reads, remembered per process (`RecentReads`): API keys
(`console.api.key_cache`) and provider webhook setups
(`provisioning.selectors.setup_for_webhook`). A row is served for a second after its read,
and for up to `MAX_AGE_SECONDS` while this process's change feed vouches for it
(`console.db.change_feed`: every change to such a row, committed anywhere, empties the
caches of every process that listens, and the feed stops vouching within a second of
losing its connection).

Why a time limit rather than a version number bumped on every change: the version would
have to live where every process sees it (the database or Redis), so checking it would
cost the round trip the cache exists to save, and a Redis outage would take
authentication down with it. A one-second limit bounds how long any process can act on a
changed row with no shared state at all. On top of that, every change saved through the
ORM in this process empties the cache at once (the callers connect `forget` to the
models' signals), and a read that started before such a change is not stored
(`generation`).

Only rows that authenticated a request are stored, so unknown credentials cannot fill the
cache. Callers get their own copies (the row and its related objects), so nothing a
request sets on one reaches another request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.db.models import Model

from console.db.change_feed import ChangeFeed

# The brief's bound: a change anywhere is honoured everywhere within this many seconds.
TTL_SECONDS = 1.0
# How long a row the change feed vouches for may be served: the feed keeps it current;
# the bound only keeps a row nobody changed from living on for ever.
MAX_AGE_SECONDS = 60.0
# Far above the number of credentials one process serves in a second; a bound, not a
# tuning knob.
MAX_ENTRIES = 10_000

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)


def _copy(instance: M) -> M:
    """A shallow copy with its own field values and its own related-object cache."""
    clone = instance.__class__.__new__(instance.__class__)
    clone.__dict__ = instance.__getstate__()
    return clone


def row_copy(instance: M) -> M:
    """`instance` and the related objects it carries, copied one level deep."""
    clone = _copy(instance)
    related = clone._state.fields_cache
    for name, value in related.items():
        if isinstance(value, Model):
            related[name] = _copy(value)
    return clone


@dataclass
class _Entry(Generic[M]):
    row: M
    read_at: float


class RecentReads(Generic[M]):
    """Rows by a string key (a digest of the credential that found them); thread-safe
    (gunicorn gthread)."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        feed: ChangeFeed | None = None,
        max_age: float = MAX_AGE_SECONDS,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.feed = feed
        self.max_age = max_age
        if feed is not None:
            feed.connect(self.clear)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry[M]] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes with every `clear`: take it before reading a row, pass it to `put`."""
        return self._generation

    def get(self, key: str) -> M | None:
        """A copy of the row stored under `key`, or None when absent or too old."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            age = now - entry.read_at
            if age >= self.ttl and not (
                age < self.max_age
                and self.feed is not None
                and self.feed.vouches(entry.read_at, within=self.ttl)
            ):
                del self._entries[key]
                return None
            return row_copy(entry.row)

    def put(self, key: str, row: M, *, read_at: float, generation: int) -> None:
        """Store `row` as read from the database at `read_at` (taken before the read, so
        the read's own duration counts against the limit). Dropped when the cache was
        cleared since `generation` was taken: the read may predate that change."""
        if self.feed is not None:
            try:
                self.feed.start_if_enabled()
            except RuntimeError:  # no thread to be had: the row lasts its second
                logger.warning("change feed not started", exc_info=True)
        with self._lock:
            if generation != self._generation:
                return
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest read
            self._entries[key] = _Entry(row=row_copy(row), read_at=read_at)

    def set_field(self, key: str, name: str, value: Any) -> None:
        """Record a field just written to the stored row (when it is still stored)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                setattr(entry.row, name, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def forget(self, *, using: str | None = None, **_: Any) -> None:
        """Signal receiver: a row it may hold changed. Cleared now, so this process's next
        request reads the change, and again at commit, so a read that ran between the
        save and the commit (and saw the old row) is not served on."""
        self.clear()
        transaction.on_commit(self.clear, using=using)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
