"""Identity-key reads, counted in memory and written every few seconds per process.

An identity-scoped key reading its own conversations is the agent doing its job, so those
reads are tallied per key, conversation and hour (`AccessTally`) rather than logged. Written
by the request, every read would carry an upsert and its commit, and concurrent reads of one
busy conversation would queue on that tally row's lock. Instead each process adds the
read to a buffer here, and a daemon thread writes the merged counts every
`ACCESS_TALLY_FLUSH_SECONDS` in one upsert; the process writes what is left when it exits.

What this trades: a process killed outright (SIGKILL, power loss) loses at most the last
interval's counts of agent reads. Reads that are logged per row (console views, exports,
organisation admin keys) are written by the request itself, never buffered. A failed write
keeps its counts for the next attempt.

`ACCESS_TALLY_FLUSH_SECONDS = 0` writes each read's tally in the request instead.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Field
from django.utils import timezone

from console.models import AccessTally, ApiKey

if TYPE_CHECKING:
    from console.access import Viewed

logger = logging.getLogger(__name__)
# The flusher never spins, whatever the setting says.
MIN_INTERVAL_SECONDS = 0.05


def _hour(now: dt.datetime) -> dt.datetime:
    return now.replace(minute=0, second=0, microsecond=0)


class TallyKey(NamedTuple):
    """One tally row's identity: the unique constraint of `AccessTally`. A named tuple,
    not a dataclass: every agent read builds one per conversation it shows."""

    api_key_id: Any
    conversation_id: Any
    hour: dt.datetime


@dataclass(slots=True)
class TallyCount:
    """What a tally row adds: `count` reads, plus the names the row is shown with."""

    organization_id: Any
    key_label: str
    remote_number: str
    count: int = 0


def tally_counts(
    *, key: ApiKey, viewed: Sequence[Viewed], now: dt.datetime
) -> dict[TallyKey, TallyCount]:
    """One read of each conversation `viewed` touches, however many of its messages."""
    hour = _hour(now)
    label = key.label[:255]
    counts: dict[TallyKey, TallyCount] = {}
    for item in viewed:
        if not item.conversation_id:
            continue
        tally_key = TallyKey(key.id, item.conversation_id, hour)
        if tally_key not in counts:
            counts[tally_key] = TallyCount(item.organization_id, label, item.number, 1)
    return counts


_TALLY_COLUMNS = (
    "organization",
    "api_key_id",
    "key_label",
    "conversation_id",
    "remote_number",
    "hour",
    "count",
)


def tally_upsert(counts: Mapping[TallyKey, TallyCount]) -> None:
    """Add `counts` to their tally rows in one INSERT … ON CONFLICT DO UPDATE.

    Rows go in a fixed order, so two processes flushing overlapping rows never deadlock.
    On PostgreSQL the rows travel as one JSON parameter (`jsonb_to_recordset`): encoding
    it is one C call, where psycopg's array parameters quote every value in Python (that
    quoting was most of a flush of a few thousand rows)."""
    if not counts:
        return
    # Ids as text once: the sort key, the JSON and (converted back) SQLite's parameters.
    # Sorted by the conflict key (key, conversation, hour): the same lock order everywhere.
    rows = sorted(
        (
            (
                str(count.organization_id),
                str(key.api_key_id),
                count.key_label,
                str(key.conversation_id),
                count.remote_number,
                key.hour,
                count.count,
            )
            for key, count in counts.items()
        ),
        key=lambda row: (row[1], row[3], row[5]),
    )
    fields: list[Field[Any, Any]] = [
        cast("Field[Any, Any]", AccessTally._meta.get_field(name)) for name in _TALLY_COLUMNS
    ]
    quote = connection.ops.quote_name
    table = quote(AccessTally._meta.db_table)
    columns = [quote(str(field.column)) for field in fields]
    if connection.vendor == "postgresql":
        record = ", ".join(
            f"{column} {field.db_type(connection)}"
            for column, field in zip(columns, fields, strict=True)
        )
        selected = ", ".join(columns)
        source = f"SELECT {selected} FROM jsonb_to_recordset(%s::jsonb) AS t({record})"  # noqa: S608
        by_column = [str(field.column) for field in fields]
        # Datetimes go as their text, which PostgreSQL reads back exactly.
        params: list[Any] = [
            json.dumps([dict(zip(by_column, row, strict=True)) for row in rows], default=str)
        ]
    else:
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([placeholders] * len(rows))
        params = [
            field.get_db_prep_value(value, connection, prepared=False)
            for row in rows
            for field, value in zip(fields, row, strict=True)
        ]
    # Only quoted model identifiers, column types and placeholders are interpolated; values
    # are parameters.
    count_column = quote("count")
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) {source}"
        + f" ON CONFLICT ({quote('api_key_id')}, {quote('conversation_id')}, {quote('hour')})"
        + f" DO UPDATE SET {count_column} = {table}.{count_column} + excluded.{count_column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def access_tally(*, key: ApiKey, viewed: Sequence[Viewed], now: dt.datetime | None = None) -> None:
    """Count one read of each conversation `viewed` touches by an identity-scoped key in
    the current hour, written now (`console.access_tally` buffers them instead)."""
    tally_upsert(tally_counts(key=key, viewed=viewed, now=now or timezone.now()))


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
            tally_upsert(counts)
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
        """Write every count held now in one upsert; returns the reads written. On a
        database error the counts go back into the buffer and the error is raised."""
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return 0
        try:
            tally_upsert(counts)
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
