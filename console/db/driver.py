"""psycopg tuning that Django's settings cannot reach.

psycopg turns every statement's `%s` placeholders into PostgreSQL's `$n` on each call
unless the statement is short (at most 4,096 bytes) and has at most 50 parameters; only
then does it keep the converted text in a process-wide cache of 128 statements. The
ORM's statements for wide models pass neither bar: the inbound line read (about 5,900
bytes) and the inbound message's one statement with its event and deliveries (70 to 200
parameters) were converted on every message, a tenth of ingest's CPU in the web process.

Django reads `timestamptz` values with psycopg's pure-Python parser (it subclasses it to
put its time zone on them), a few microseconds each: an ingest reads about ten, a page of
messages over a hundred. `timestamps_read_fast` parses what a UTC session prints in C.

The bounds are raised, not lifted: the cache still holds 128 statements, so a statement
of a new shape each time (a bulk insert of many sizes) costs at most 128 entries of up
to `STATEMENT_LENGTH` bytes.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg.abc import Buffer

STATEMENT_LENGTH = 16_384
STATEMENT_PARAMETERS = 512


def statement_cache_widen() -> None:
    """Let psycopg keep converted statements up to the bounds above (idempotent)."""
    try:
        from psycopg import _queries
    except ImportError:  # SQLite only: no psycopg installed
        return
    if not hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH") or not hasattr(
        _queries, "MAX_CACHED_STATEMENT_PARAMS"
    ):
        return  # another psycopg: its own bounds stand (tests/console/test_db_driver.py)
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(
        _queries.MAX_CACHED_STATEMENT_LENGTH, STATEMENT_LENGTH
    )
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(
        _queries.MAX_CACHED_STATEMENT_PARAMS, STATEMENT_PARAMETERS
    )


def binds_on_server(using: str) -> bool:
    """Whether database `using` gets a statement's values apart from its text (PostgreSQL
    with server-side binding; SQLite, which logs no statement): a failing statement's log
    line then holds no values."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return True
    return bool(connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))


def timestamps_read_fast(sender: object, connection: Any, **kwargs: Any) -> None:
    """Signal receiver (`connection_created`): read this connection's `timestamptz` values
    with `TimestamptzFastLoader`, on the time zone Django's own loader was given. Only for
    a session in UTC: in another zone a value printed `+00` may still need the zone's
    rules (the repeated hour of a clock change in Europe/London), which Django's way
    applies."""
    if connection.vendor != "postgresql" or connection.timezone_name != "UTC":
        return
    adapters = getattr(connection.connection, "adapters", None)
    if adapters is None:  # psycopg 2: its own parser stands
        return
    from psycopg.pq import Format

    oid = adapters.types["timestamptz"].oid
    current = adapters.get_loader(oid, Format.TEXT)
    if current is None or not hasattr(current, "timezone"):
        return  # not Django's loader: whatever reads them stands
    adapters.register_loader("timestamptz", _fast_loader(current.timezone))


@cache
def _fast_loader(tz: tzinfo | None) -> type:
    from psycopg.types.datetime import TimestamptzLoader

    class TimestamptzFastLoader(TimestamptzLoader):
        """Django's `timestamptz` loader (psycopg's text parser, moved to the session's
        zone, then Django's time zone put on it) with a fast path for a session in UTC,
        where that comes to the wall-clock time PostgreSQL printed: a value printed
        `...+00` is parsed by `datetime.fromisoformat`, in C, a fifth of the time;
        anything else (another offset, `infinity`, years BC or past 9999) takes Django's
        way."""

        timezone = tz

        def load(self, data: Buffer) -> datetime:
            text = bytes(data)
            if text.endswith(b"+00"):
                try:
                    return datetime.fromisoformat(text[:-3].decode()).replace(tzinfo=tz)
                except ValueError:
                    pass
            return super().load(data).replace(tzinfo=tz)

    return TimestamptzFastLoader
