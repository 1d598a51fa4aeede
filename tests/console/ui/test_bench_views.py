"""The bench-only baseline views (console/ui/bench.py): off by default, cheap when on."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from console.ui.bench import BENCH_TABLES_SQL, B2ListApi, b1_insert

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="the bench tables use PostgreSQL types (bigserial, jsonb); bench runs on PostgreSQL",
)


@pytest.fixture
def bench_tables(db: None) -> None:
    with connection.cursor() as cursor:
        for statement in BENCH_TABLES_SQL:
            cursor.execute(statement)


def test_bench_endpoints_are_not_mounted_by_default(db: None) -> None:
    client = APIClient()
    assert client.get("/bench/b2").status_code == 404
    assert client.post("/bench/b1", {}, format="json").status_code == 404


@postgres_only
def test_b1_inserts_one_row_from_a_json_body(bench_tables: None) -> None:
    request = RequestFactory().post(
        "/bench/b1", data=json.dumps({"n": 1}), content_type="application/json"
    )
    response = b1_insert(request)
    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM bench_b1_row")
        rows = cursor.fetchall()
    assert len(rows) == 1


@postgres_only
def test_b1_refuses_a_body_that_is_not_json(bench_tables: None) -> None:
    request = RequestFactory().post("/bench/b1", data="{", content_type="application/json")
    assert b1_insert(request).status_code == 400


@postgres_only
def test_b2_lists_fifty_rows_newest_first(bench_tables: None) -> None:
    response = B2ListApi.as_view()(RequestFactory().get("/bench/b2"))
    response.render()
    rows = json.loads(response.content)
    assert len(rows) == 50
    assert rows[0]["id"] == 1
