"""Identity-key reads counted in memory and handed on every few seconds per process.

Each read adds its counts to the process's buffer here (no write, no round trip), and a
daemon thread hands the merged counts on every `ACCESS_TALLY_FLUSH_SECONDS`: to the Redis
queue that beat drains for the whole platform when `ACCESS_TALLY_REDIS_URL` is set
(`console.access_tally_queue`), otherwise straight to `AccessTally` in one upsert. The
process hands on what is left when it exits.

Why the queue: measured beside the bench's read figure, every web process upserting a few
thousand rows every 5 s was the read p99's cost (a GIL stall in the worker, a database core
busy). Pushing the same counts to Redis is one command; the drain then writes each
(key, conversation, hour) row once per interval for all processes together.

What this trades: a process killed outright (SIGKILL, power loss) loses at most the last
interval's counts of agent reads. Reads that are logged per row (console views, exports,
organisation admin keys) are written by the request itself, never buffered. A failed write
keeps its counts for the next attempt; a queue that does not answer is skipped for the
database.

`ACCESS_TALLY_FLUSH_SECONDS = 0` hands each read's counts on in the request instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from console.access_tally import TallyCount, TallyKey, tally_upsert
from console.access_tally_queue import queue_push

logger = logging.getLogger(__name__)
# The flusher never spins, whatever the setting says.
MIN_INTERVAL_SECONDS = 0.05


def tally_write(counts: Mapping[TallyKey, TallyCount]) -> None:
    """Counts to the Redis queue when there is one and it answers, else to the database."""
    try:
        if queue_push(counts):
            return
    except (redis.RedisError, OSError):
        logger.warning("access tally queue unreachable; writing %d rows directly", len(counts))
    tally_upsert(counts)


class TallyBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[TallyKey, TallyCount] = {}
        self._flusher_pid: int | None = None
        self._wake = threading.Event()
        self._closed = threading.Event()

    def add(self, counts: Mapping[TallyKey, TallyCount]) -> None:
        if not counts:
            return
        if settings.ACCESS_TALLY_FLUSH_SECONDS <= 0:
            tally_write(counts)
            return
        with self._lock:
            self._merge(counts)
            if self._flusher_pid != os.getpid():
                self._start_flusher()

    def pending(self) -> int:
        """Reads counted but not yet written."""
        with self._lock:
            return sum(count.count for count in self._counts.values())

    def flush(self) -> int:
        """Hand every count held now to the queue, or write them in one upsert; returns the
        reads counted. On a database error the counts go back into the buffer and the error
        is raised."""
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return 0
        try:
            tally_write(counts)
        except Exception:
            with self._lock:
                self._merge(counts)
            raise
        return sum(count.count for count in counts.values())

    def _merge(self, counts: Mapping[TallyKey, TallyCount]) -> None:
        for key, count in counts.items():
            held = self._counts.get(key)
            if held is None:
                self._counts[key] = TallyCount(
                    organization_id=count.organization_id,
                    key_label=count.key_label,
                    remote_number=count.remote_number,
                    count=count.count,
                )
            else:
                held.count += count.count

    def _start_flusher(self) -> None:
        # Once per process: a forked worker (gunicorn, Celery) does not inherit the thread.
        self._flusher_pid = os.getpid()
        threading.Thread(target=self._run, name="access-tally-flusher", daemon=True).start()
        atexit.register(self._flush_at_exit)

    def close(self) -> None:
        """Stop the flusher thread and write what is held (tests; exit does it itself)."""
        atexit.unregister(self._flush_at_exit)
        self._closed.set()
        self._wake.set()
        self.flush()

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(max(settings.ACCESS_TALLY_FLUSH_SECONDS, MIN_INTERVAL_SECONDS))
            self._wake.clear()
            close_old_connections()
            try:
                self.flush()
            except DatabaseError:
                logger.exception("access tallies not written; kept for the next attempt")
                connection.close()

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except DatabaseError:
            logger.exception("access tallies lost at exit: %d reads", self.pending())


TALLIES = TallyBuffer()
