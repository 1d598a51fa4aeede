"""`console.idempotency.run_idempotent`: the work runs once per key, its response is kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.errors import Conflict
from console.idempotency import IdempotentResponse, run_idempotent
from console.models import IdempotencyRecord

pytestmark = pytest.mark.django_db

AN_ID = uuid.UUID(int=42)
A_MOMENT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def _run(org, key: str, payload: object, calls: list[int]) -> IdempotentResponse:
    def work() -> IdempotentResponse:
        calls.append(1)
        return IdempotentResponse(
            status=201,
            body={"id": AN_ID, "at": A_MOMENT, "text": "Säh 😀", "n": [1, None]},
            headers={"X-RateLimit-Remaining": "9"},
        )

    return run_idempotent(
        organization=org, scope="s", operation="op", key=key, payload=payload, work=work
    )


def test_a_replay_answers_the_stored_response_with_what_json_cannot_hold_as_text(org) -> None:
    calls: list[int] = []
    _run(org, "k-1", {"a": 1}, calls)

    again = _run(org, "k-1", {"a": 1}, calls)

    assert calls == [1]
    assert again.replayed is True
    assert (again.status, again.headers) == (201, {"X-RateLimit-Remaining": "9"})
    assert again.body == {
        "id": str(AN_ID),
        "at": str(A_MOMENT),
        "text": "Säh 😀",
        "n": [1, None],
    }


def test_the_response_is_stored_in_one_statement_after_the_work(org) -> None:
    with CaptureQueriesContext(connection) as ctx:
        _run(org, "k-2", {"a": 1}, [])

    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 2  # the record before the work, its response after
    record = IdempotencyRecord.objects.get(key="k-2")
    assert record.response_status == 201
    assert record.response_body["text"] == "Säh 😀"


def test_the_same_key_with_another_body_is_refused(org) -> None:
    _run(org, "k-3", {"a": 1}, [])

    with pytest.raises(Conflict):
        _run(org, "k-3", {"a": 2}, [])
