"""psycopg keeps the converted text of the hot paths' long statements (`console.db.driver`)."""

from __future__ import annotations

import pytest
from django.db import connection

from console.db.driver import STATEMENT_LENGTH, STATEMENT_PARAMETERS, statement_cache_widen

pytestmark = pytest.mark.django_db


def _long_statement(parameters: int) -> str:
    # Over psycopg's own 4,096-byte bound, with one placeholder per selected value.
    padding = " " * 4_200
    values = ", ".join(f"%s::int AS v{n}" for n in range(parameters))
    return f"SELECT {values}{padding}"


@pytest.fixture
def converted_statements():
    if connection.vendor != "postgresql":
        pytest.skip("only psycopg converts placeholders")
    from psycopg import _queries

    return _queries._query2pg


def test_a_long_statement_with_many_parameters_is_converted_once(converted_statements) -> None:
    sql = _long_statement(120)
    params = list(range(120))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        hits = converted_statements.cache_info().hits
        cursor.execute(sql, params)
        row = cursor.fetchone()

    assert converted_statements.cache_info().hits == hits + 1
    assert list(row) == params


def test_widening_keeps_a_larger_bound_psycopg_already_has(converted_statements, monkeypatch):
    from psycopg import _queries

    monkeypatch.setattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", STATEMENT_LENGTH * 4)
    monkeypatch.setattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", STATEMENT_PARAMETERS - 1)

    statement_cache_widen()

    assert _queries.MAX_CACHED_STATEMENT_LENGTH == STATEMENT_LENGTH * 4
    assert _queries.MAX_CACHED_STATEMENT_PARAMS == STATEMENT_PARAMETERS


@pytest.fixture
def timestamp_loaders():
    """(Django's own timestamptz loader, the fast one) on the test connection."""
    if connection.vendor != "postgresql":
        pytest.skip("psycopg's loaders")
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.adapt import AdaptersMap

    connection.ensure_connection()
    raw = connection.connection
    oid = raw.adapters.types["timestamptz"].oid
    djangos = AdaptersMap(raw.adapters)
    register_tzloader(connection.timezone, djangos)
    from psycopg.pq import Format

    return (
        djangos.get_loader(oid, Format.TEXT)(oid, raw),
        raw.adapters.get_loader(oid, Format.TEXT)(oid, raw),
    )


def test_a_connection_reads_timestamps_with_the_fast_loader(timestamp_loaders) -> None:
    _, fast = timestamp_loaders
    assert type(fast).__name__ == "TimestamptzFastLoader"
    assert fast.timezone == connection.timezone


@pytest.mark.parametrize(
    "text",
    [
        b"2026-12-05 07:22:04.462023+00",
        b"2026-12-05 07:22:04.4+00",
        b"2026-12-05 07:22:04+00",
        b"0099-01-31 23:59:59.999999+00",
        b"0001-01-01 00:00:00+00",
        b"9999-12-31 23:59:59.999999+00",
        b"2026-12-05 07:22:04.5+05:30",
        b"2026-12-05 07:22:04-03:00:12",
    ],
)
def test_the_fast_loader_reads_what_djangos_reads(timestamp_loaders, text: bytes) -> None:
    djangos, fast = timestamp_loaders
    expected = djangos.load(text)

    loaded = fast.load(text)

    assert (loaded, loaded.tzinfo, loaded.fold) == (expected, expected.tzinfo, expected.fold)


@pytest.mark.parametrize(
    "text", [b"infinity", b"1999-01-08 04:05:06+00 BC", b"10000-01-01 00:00:00+00"]
)
def test_the_fast_loader_refuses_what_djangos_refuses(timestamp_loaders, text: bytes) -> None:
    djangos, fast = timestamp_loaders
    with pytest.raises(Exception) as refused:
        djangos.load(text)

    with pytest.raises(type(refused.value)):
        fast.load(text)


def test_a_time_printed_in_utc_is_not_parsed_by_psycopgs_parser(
    timestamp_loaders, monkeypatch
) -> None:
    from psycopg.types.datetime import TimestamptzLoader

    _, fast = timestamp_loaders
    monkeypatch.setattr(TimestamptzLoader, "load", lambda self, data: pytest.fail("slow path"))

    assert fast.load(b"2026-12-05 07:22:04.5+00").microsecond == 500_000


def test_a_session_outside_utc_keeps_djangos_loader(monkeypatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("psycopg's loaders")
    from console.db.driver import timestamps_read_fast

    class LondonConnection:
        vendor = "postgresql"
        timezone_name = "Europe/London"

        @property
        def connection(self):
            pytest.fail("a session outside UTC is left alone")

    timestamps_read_fast(sender=None, connection=LondonConnection())


def test_the_database_reads_a_stored_time_back_unchanged(timestamp_loaders) -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 5, 7, 22, 4, 462023, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [moment])
        (read,) = cursor.fetchone()

    assert (read, read.tzinfo) == (moment, connection.timezone)


def test_the_orm_reads_a_stored_time_back_unchanged(admin_key) -> None:
    from console.models import ApiKey

    stored = ApiKey.objects.get(pk=admin_key.record.pk)

    assert stored.created_at == admin_key.record.created_at
    assert stored.created_at.tzinfo == connection.timezone
