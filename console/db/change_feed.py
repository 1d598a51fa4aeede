"""Changes to remembered rows, heard as they commit (PostgreSQL LISTEN/NOTIFY).

The rows that authenticate requests (API keys with their organisation and identity,
provider setups) are remembered per process (`console.recent_reads`). Triggers
(console 0010, provisioning 0006) notify `CREDENTIALS_CHANNEL` in the transaction of
every change to them, and the database delivers that notification when the transaction
commits, to every process listening. A `ChangeFeed` is that listening in one process: a
daemon thread with a connection of its own, which runs the feed's receivers (the caches
empty) for every notification it hears.

Hearing nothing proves nothing by itself: the connection may be gone. So the thread makes
a round trip every `HEARTBEAT_SECONDS`. The database sends a listener the notifications
of everything committed before a command reaches it ahead of that command's answer, so an
answered round trip that went out at `t` means every change committed before `t` has
been heard, and its receivers have run. `vouches(read_at, within=…)` builds on that: a
row read at `read_at` is still current when the feed was already listening before the
read and its last answered round trip went out less than `within` ago. When the
connection fails the feed vouches for nothing (callers fall back to their time limit)
and connects again; rows read before it listens again are never vouched for.

Started on first use in each process (a forked child starts its own); only on
PostgreSQL, and only with `CREDENTIAL_CHANGE_FEED` (tests run their own feeds).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

CREDENTIALS_CHANNEL = "bluewire_credentials"
HEARTBEAT_SECONDS = 0.25
RECONNECT_SECONDS = 1.0


def listener_connection(alias: str = "default") -> psycopg.Connection[Any]:
    """A connection of its own to database `alias`, outside Django's management."""
    params = connections[alias].get_connection_params()
    for django_only in ("cursor_factory", "context", "server_side_binding"):
        params.pop(django_only, None)
    params["application_name"] = "bluewire change feed"
    return psycopg.connect(**params, autocommit=True)


class ChangeFeed:
    """One channel's notifications in this process; `connect` the receivers before use."""

    def __init__(
        self,
        channel: str,
        *,
        enabled: Callable[[], bool],
        connect: Callable[[], psycopg.Connection[Any]] = listener_connection,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.channel = channel
        self.enabled = enabled
        self._connect = connect
        self.clock = clock
        self.heartbeat = heartbeat
        self._receivers: list[Callable[[], None]] = []
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Both None while not listening; `_heard_at` only moves forward while listening.
        self._listening_since: float | None = None
        self._heard_at: float | None = None

    def connect(self, receiver: Callable[[], None]) -> None:
        """Have `receiver()` run (on the feed's thread) for every change heard."""
        self._receivers.append(receiver)

    def vouches(self, read_at: float, *, within: float) -> bool:
        """Whether a row read at `read_at` (on `clock`) is current as far as the feed can
        tell: it listened before the read and heard from the database within `within`."""
        since, heard = self._listening_since, self._heard_at
        return (
            since is not None
            and heard is not None
            and since <= read_at
            and self.clock() - heard < within
        )

    def start_if_enabled(self) -> None:
        """Start listening in this process, once, when the feed is enabled here."""
        if self._thread is None and self.enabled():
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"change-feed-{self.channel}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (tests, and a test database about to be dropped)."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            thread.join(timeout)
        self._silent()

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Wait until a round trip has been answered since listening began (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._heard_at is not None:
                return True
            self._stopping.wait(0.01)
        return False

    def _silent(self) -> None:
        self._listening_since = None
        self._heard_at = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._connect() as conn:
                    self._listen(conn)
            except Exception as exc:  # a lost connection never takes the thread down
                logger.warning("change feed %s lost (%s)", self.channel, type(exc).__name__)
            finally:
                self._silent()
            self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"LISTEN {self.channel}")
        # LISTEN took effect when it returned: a read that starts after this is covered.
        self._listening_since = self.clock()
        while not self._stopping.is_set():
            sent = self.clock()
            conn.execute("SELECT 1")
            # What the database sent ahead of the answer waits in the connection's backlog.
            self._heard(conn, timeout=0)
            self._heard_at = sent
            self._heard(conn, timeout=self.heartbeat)

    def _heard(self, conn: psycopg.Connection[Any], *, timeout: float) -> None:
        if list(conn.notifies(timeout=timeout, stop_after=1)):
            for receiver in self._receivers:
                receiver()


CREDENTIAL_CHANGES = ChangeFeed(
    CREDENTIALS_CHANNEL,
    enabled=lambda: (
        settings.CREDENTIAL_CHANGE_FEED and connections["default"].vendor == "postgresql"
    ),
)
