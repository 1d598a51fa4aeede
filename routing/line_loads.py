"""Active connections per pool line as the pool's line choice reads them (`LINE_LOADS`):
counted by the database at most once every POOL_LOAD_SNAPSHOT_SECONDS per process, plus
the connections this process placed since.

The choice only orders the free lines, fewest connections first; nothing depends on the
count being exact. What must be exact is decided elsewhere, by the database on every
connect: one active connection per identity and person and one per line and person
(unique constraints), the lines the person already uses and the provider's new-contact
caps (read fresh by `routing.selectors.pool_line_choose`). Counting every active
connection of every pool line on each connect read the whole partial index (82,000
entries, 26 ms of PostgreSQL per connect at bench volume), which 50 people connecting at
once turned into most of a core and seconds of queueing.

How stale it gets: another process's connects of the last snapshot interval are not
seen, so a line they filled looks emptier for at most that long. 0 counts on every call.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings


class LineLoads:
    """A snapshot of active connections by line id; thread-safe (gunicorn gthread)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[uuid.UUID, int] | None = None
        self._read_at = 0.0
        self._generation = 0

    def counts(self, count: Callable[[], dict[uuid.UUID, int]]) -> dict[uuid.UUID, int]:
        """Active connections by line: the snapshot while it is fresh, else `count()`
        (the database's count, which becomes the snapshot)."""
        ttl = float(settings.POOL_LOAD_SNAPSHOT_SECONDS)
        if ttl <= 0:
            return count()
        started = self.clock()
        with self._lock:
            if self._counts is not None and started - self._read_at < ttl:
                return dict(self._counts)
            generation = self._generation
        counted = count()
        with self._lock:
            # A snapshot taken by a faster concurrent reader, or a clear since this count
            # started, wins: this count may predate a placement already added to it.
            if generation == self._generation:
                self._counts, self._read_at = dict(counted), started
                self._generation += 1
        return counted

    def placed(self, line_id: uuid.UUID) -> None:
        """This process placed a connection on `line_id` since the snapshot."""
        with self._lock:
            if self._counts is not None:
                self._counts[line_id] = self._counts.get(line_id, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._counts = None
            self._generation += 1


LINE_LOADS = LineLoads()
