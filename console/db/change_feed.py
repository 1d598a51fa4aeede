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

The feed proves what it relies on before it vouches: the triggers are there, and fire
even for sessions that skip ordinary triggers (`ENABLE ALWAYS`); and every round trip is
answered by the very session that listens (a pooler in transaction mode would hand the
statements to other server sessions, which hear nothing for this one).

Started on first use in each process (a forked child starts its own); only on
PostgreSQL, and only with `CREDENTIAL_CHANGE_FEED` (tests run their own feeds).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

CREDENTIALS_CHANNEL = "bluewire_credentials"
# The tables whose changes the credentials channel announces (console 0010, provisioning
# 0006), each with a trigger per kind of change: `{table}_changed_{kind}`.
CREDENTIAL_TABLES = (
    "console_apikey",
    "console_agentidentity",
    "console_organization",
    "provisioning_setup",
)
CREDENTIAL_TRIGGERS = tuple(
    f"{table}_changed_{kind}"
    for table in CREDENTIAL_TABLES
    for kind in ("update", "delete", "truncate")
)
HEARTBEAT_SECONDS = 0.25
RECONNECT_SECONDS = 1.0
# A feed whose triggers or session cannot be trusted looks again this much later.
UNRELIABLE_RECHECK_SECONDS = 30.0
# A connection that stops answering is given up this soon (the feed vouches for nothing
# from its second on, whatever these say).
CONNECT_TIMEOUT_SECONDS = 5
TCP_USER_TIMEOUT_MS = 5000


def listener_connection(alias: str = "default") -> psycopg.Connection[Any]:
    """A connection of its own to database `alias`, outside Django's management."""
    params = connections[alias].get_connection_params()
    for django_only in ("cursor_factory", "context", "server_side_binding"):
        params.pop(django_only, None)
    params.update(
        application_name="bluewire change feed",
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=2,
        tcp_user_timeout=TCP_USER_TIMEOUT_MS,
    )
    return psycopg.connect(**params, autocommit=True)


class FeedUnreliable(Exception):
    """What the feed relies on is not there: it vouches for nothing until it is."""


class ChangeFeed:
    """One channel's notifications in this process; `connect` the receivers before use.

    `triggers`: the triggers that notify the channel; the feed vouches only while every
    one of them exists and fires for every session."""

    def __init__(
        self,
        channel: str,
        *,
        enabled: Callable[[], bool],
        triggers: Sequence[str],
        connect: Callable[[], psycopg.Connection[Any]] = listener_connection,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.channel = channel
        self.enabled = enabled
        self.triggers = tuple(triggers)
        self._connect = connect
        self.clock = clock
        self.heartbeat = heartbeat
        self._receivers: list[Callable[[], None]] = []
        self._reset()
        # Weakly: a feed nobody holds any more is not kept alive for the fork hook's sake.
        reset = weakref.WeakMethod(self._reset)
        os.register_at_fork(after_in_child=lambda: _call_if_alive(reset))

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # (listening since, last answered round trip went out at), or None while not
        # listening; replaced whole, so a reader never pairs one connection's start with
        # another's round trip.
        self._state: tuple[float, float] | None = None

    def connect(self, receiver: Callable[[], None]) -> None:
        """Have `receiver()` run (on the feed's thread) for every change heard."""
        self._receivers.append(receiver)

    def vouches(self, read_at: float, *, within: float) -> bool:
        """Whether a row read at `read_at` (on `clock`) is current as far as the feed can
        tell: it listened before the read and heard from the database within `within`."""
        state = self._state
        if state is None:
            return False
        since, heard = state
        return since <= read_at and self.clock() - heard < within

    def start_if_enabled(self) -> None:
        """Start listening in this process, once, when the feed is enabled here."""
        if self._thread is None and self.enabled():
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            # Each thread its own stop: a thread that outlived its stop never runs on.
            self._stopping = stopping = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(stopping,),
                name=f"change-feed-{self.channel}",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (tests, and a test database about to be dropped)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        if thread is not None:
            thread.join(timeout)
        self._state = None

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Wait until a round trip has been answered since listening began (tests)."""
        deadline = time.monotonic() + timeout
        while self._state is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            pause = RECONNECT_SECONDS
            try:
                with self._connect() as conn:
                    self._listen(conn, stopping)
            except FeedUnreliable as exc:
                logger.warning("change feed %s vouches for nothing: %s", self.channel, exc)
                pause = UNRELIABLE_RECHECK_SECONDS
            except Exception as exc:  # a lost connection never takes the thread down
                logger.warning("change feed %s lost (%s)", self.channel, type(exc).__name__)
            finally:
                self._publish(stopping, None)
            stopping.wait(pause)

    def _publish(self, stopping: threading.Event, state: tuple[float, float] | None) -> None:
        """Set what `vouches` reads, unless this thread was told to stop (a thread that
        outlived its `stop` never speaks for the feed again)."""
        with self._lock:
            if self._stopping is stopping and not stopping.is_set():
                self._state = state

    def _listen(self, conn: psycopg.Connection[Any], stopping: threading.Event) -> None:
        conn.execute(f"LISTEN {self.channel}")
        # LISTEN took effect when it returned: a read that starts after this is covered.
        since = self.clock()
        session = self._session(conn)
        self._triggers_check(conn)
        while not stopping.is_set():
            sent = self.clock()
            if self._session(conn) != session:
                raise FeedUnreliable("round trips reach another server session than LISTEN")
            # What the database sent ahead of the answer waits in the connection's backlog.
            self._heard(conn, timeout=0)
            self._publish(stopping, (since, sent))
            self._heard(conn, timeout=self.heartbeat)

    def _session(self, conn: psycopg.Connection[Any]) -> int:
        """The server session that answers (its backend pid), which must be listening."""
        row = conn.execute(
            "SELECT pg_backend_pid(), %s = ANY(ARRAY(SELECT pg_listening_channels()))",
            [self.channel],
        ).fetchone()
        assert row is not None
        pid, listening = row
        if not listening:
            raise FeedUnreliable("the session that answers does not listen")
        return int(pid)

    def _triggers_check(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s) AND tgenabled = 'A'",
            [list(self.triggers)],
        ).fetchone()
        if row is None or row[0] != len(self.triggers):
            raise FeedUnreliable("its triggers are missing or do not fire for every session")

    def _heard(self, conn: psycopg.Connection[Any], *, timeout: float) -> None:
        if list(conn.notifies(timeout=timeout, stop_after=1)):
            for receiver in self._receivers:
                receiver()


def _call_if_alive(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if bound is not None:
        bound()


CREDENTIAL_CHANGES = ChangeFeed(
    CREDENTIALS_CHANNEL,
    enabled=lambda: (
        settings.CREDENTIAL_CHANGE_FEED and connections["default"].vendor == "postgresql"
    ),
    triggers=CREDENTIAL_TRIGGERS,
)
