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
