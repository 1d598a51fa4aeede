"""Coalesced wake-ups for outboxes whose jobs claim rows in batches.

One job per row is wasteful for such a kind: a burst of N rows publishes N jobs, and all
but a few find their row already taken by another job's batch. With a wake-up channel (a
Redis named by `OUTBOX_WAKE_REDIS_URL`, by default the broker's), a commit asks for a wake-up
instead: `wake_claim` sets the kind's token (`SET NX` with a time to live) and only the
caller that set it publishes a drain job, so at most one drain job waits per kind.

Why nothing is missed: the drain job clears the token (`wake_clear`) *before* it claims.
A commit that found the token set saw it before that clear, so the waiting job's claim
sees the commit's rows; a commit after the clear sets the token again and publishes.
The time to live bounds how long a lost or stuck job can hold the token (then the next
commit publishes again), and the kind's periodic sweep stays the backstop for rows whose
job never ran. When Redis does not answer, callers publish one job per row as before
(the wake-up thread below publishes one drain job).

A request does not wait for Redis: with `OUTBOX_WAKE_IN_BACKGROUND` its commit only asks
this process's wake-up thread (`BackgroundWakes`), which, `OUTBOX_WAKE_LINGER_SECONDS`
after the first ask, sets the token (and publishes) for every kind asked for since its
last round. Each ask comes after its commit and each
round starts after the asks it takes, so the argument above holds unchanged; a burst of
commits costs one `SET` per round instead of one each, and a request is spared a
blocking round trip (ingest spent more on that wait, in the GIL handovers around it,
than on anything but its two statements). A process that dies between the commit and the
round leaves its rows to the next commit's wake-up or to the sweep.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings

from console.redis_pool import redis_client

logger = logging.getLogger(__name__)


def wake_channel() -> bool:
    """Whether wake-ups are configured (`OUTBOX_WAKE_REDIS_URL`); says nothing of whether
    Redis answers."""
    return bool(settings.OUTBOX_WAKE_REDIS_URL)


def _client() -> redis.Redis | None:
    url = settings.OUTBOX_WAKE_REDIS_URL
    return redis_client(url) if url else None


def _token(kind: str) -> str:
    return settings.OUTBOX_WAKE_KEY_PREFIX + kind.replace(" ", "-")


def wake_claim(kind: str) -> bool | None:
    """Take the wake-up token of `kind`: True when this caller took it and must publish
    the drain job, False when a drain job is already waiting, None when there is no
    wake-up channel (not configured, or Redis did not answer): publish per row."""
    client = _client()
    if client is None:
        return None
    ttl_ms = max(int(settings.OUTBOX_WAKE_TTL_SECONDS * 1000), 1)
    try:
        return bool(client.set(_token(kind), b"1", nx=True, px=ttl_ms))
    except (redis.RedisError, OSError) as exc:
        logger.warning("outbox wake-up for %s unavailable (%s)", kind, type(exc).__name__)
        return None


def wake_clear(kind: str) -> None:
    """Give the token of `kind` back: a drain job does this before it claims anything (and
    a caller whose publish failed, so that the next commit publishes again)."""
    client = _client()
    if client is None:
        return
    try:
        client.delete(_token(kind))
    except (redis.RedisError, OSError) as exc:
        # The token expires on its own; rows committed until then wait for that or for the
        # sweep.
        logger.warning("outbox wake-up token for %s not cleared (%s)", kind, type(exc).__name__)


class BackgroundWakes:
    """Wake-ups asked for by this process's commits, done by one daemon thread: `ask(name,
    wake)` returns at once; the thread runs `wake()` once per name asked for since its
    last round. Started on the first ask in each process (a forked child starts its own)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._asked: dict[str, Callable[[], None]] = {}
        self._pending = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._running = 0  # rounds under way
        self._thread: threading.Thread | None = None

    def ask(self, name: str, wake: Callable[[], None]) -> None:
        """Have `wake()` run soon; raises only when the thread cannot be started (the
        caller then wakes in its own thread)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name="outbox-wakes", daemon=True)
                thread.start()
                self._thread = thread
            self._asked[name] = wake
        self._pending.set()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            # The asks of the next moment join this round: one `SET` for a burst, and one
            # wake-up of this thread (its GIL handovers cost the requests as much as a SET).
            time.sleep(settings.OUTBOX_WAKE_LINGER_SECONDS)
            self._pending.clear()
            self._round()

    def _round(self) -> None:
        with self._lock:
            asked, self._asked = self._asked, {}
            self._running += 1
        try:
            for name, wake in asked.items():
                try:
                    wake()
                except Exception:  # a wake-up never takes the thread down
                    logger.exception("outbox wake-up for %s failed", name)
        finally:
            with self._lock:
                self._running -= 1
                self._idle.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every wake-up asked for so far is done (tests, and process exit,
        where what is left runs in this thread); False when `timeout` ran out."""
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            if running:
                done = self._idle.wait_for(lambda: not self._asked and not self._running, timeout)
                return bool(done)
        if not running:
            self._round()
        return True


BACKGROUND_WAKES = BackgroundWakes()
