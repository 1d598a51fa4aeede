"""psycopg tuning that Django's settings cannot reach.

psycopg turns every statement's `%s` placeholders into PostgreSQL's `$n` on each call
unless the statement is short (at most 4,096 bytes) and has at most 50 parameters; only
then does it keep the converted text in a process-wide cache of 128 statements. The
ORM's statements for wide models pass neither bar: the inbound line read (about 5,900
bytes) and the inbound message's one statement with its event and deliveries (70 to 200
parameters) were converted on every message, a tenth of ingest's CPU in the web process.

The bounds are raised, not lifted: the cache still holds 128 statements, so a statement
of a new shape each time (a bulk insert of many sizes) costs at most 128 entries of up
to `STATEMENT_LENGTH` bytes.
"""

from __future__ import annotations

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
