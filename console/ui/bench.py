"""Bench-only baseline views, mounted under `/bench/` only when `BENCH_ENDPOINTS_ENABLED`.

They measure what the stack itself costs, so the real endpoints can be judged as a ratio:

- B1 `POST /bench/b1`: a plain Django view that parses a JSON body and inserts one row in
  a transaction, the floor under every write endpoint.
- B2 `GET /bench/b2`: a DRF list view that returns 50 rows of a small table, the floor
  under every list endpoint.

Their tables are created by the benchmark harness with raw SQL (`BENCH_TABLES_SQL`), never
by a migration, so a production database never holds them.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

BENCH_TABLES_SQL = [
    """CREATE TABLE IF NOT EXISTS bench_b1_row (
        id bigserial PRIMARY KEY,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS bench_b2_item (
        id integer PRIMARY KEY,
        name varchar(100) NOT NULL,
        remote_number varchar(20) NOT NULL,
        is_read boolean NOT NULL,
        created_at timestamptz NOT NULL
    )""",
    """INSERT INTO bench_b2_item (id, name, remote_number, is_read, created_at)
       SELECT g, 'item ' || g, '+1555' || lpad(g::text, 7, '0'), g % 3 = 0,
              now() - g * interval '1 minute'
       FROM generate_series(1, 500) g
       ON CONFLICT (id) DO NOTHING""",
]


@csrf_exempt
@require_POST
def b1_insert(request: HttpRequest) -> HttpResponse:
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "invalid JSON"}, status=400)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_b1_row (payload) VALUES (%s) RETURNING id", [json.dumps(body)]
        )
        row_id = cursor.fetchone()[0]
    return JsonResponse({"id": row_id}, status=201)


class B2ItemSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    remote_number = serializers.CharField()
    is_read = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class B2ListApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, name, remote_number, is_read, created_at FROM bench_b2_item "
                "ORDER BY created_at DESC LIMIT 50"
            )
            columns = [c[0] for c in cursor.description]
            rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
        serializer = B2ItemSerializer(instance=rows, many=True)  # type: ignore[arg-type]
        return Response(serializer.data)


urlpatterns = [
    path("b1", b1_insert, name="bench-b1"),
    path("b2", B2ListApi.as_view(), name="bench-b2"),
]
