"""`console.idempotency.run_idempotent`: the work runs once per key, its response is kept."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, OperationalError, connection, connections, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.db.inserts import insert_together
from console.errors import Conflict, InProgress, RateLimited, Unprocessable
from console.idempotency import IdempotentResponse, RecordKeep, run_idempotent
from console.models import IdempotencyRecord, Organization

pytestmark = pytest.mark.django_db

AN_ID = uuid.UUID(int=42)
A_MOMENT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def _run(org, key: str, payload: object, calls: list[int]) -> IdempotentResponse:
    def work(keep: RecordKeep | None) -> IdempotentResponse:
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

    assert again.replayed is True
    assert (again.status, again.headers) == (201, {"X-RateLimit-Remaining": "9"})
    assert again.body == {
        "id": str(AN_ID),
        "at": str(A_MOMENT),
        "text": "Säh 😀",
        "n": [1, None],
    }


def test_the_record_goes_in_with_its_response_in_one_insert_after_the_work(org) -> None:
    with CaptureQueriesContext(connection) as ctx:
        _run(org, "k-2", {"a": 1}, [])

    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 1 and writes[0].startswith("INSERT")
    record = IdempotencyRecord.objects.get(key="k-2")
    assert record.response_status == 201
    assert record.response_body["text"] == "Säh 😀"


def test_a_new_key_reads_no_record_before_the_work(org) -> None:
    with CaptureQueriesContext(connection) as ctx:
        _run(org, "k-4", {"a": 1}, [])

    statements = [q["sql"] for q in ctx.captured_queries]
    assert not [sql for sql in statements if sql.startswith("SELECT")]


def test_a_replay_rolls_its_work_back_and_answers_the_stored_response(org) -> None:
    def work(name: str):
        def run(keep: RecordKeep | None) -> IdempotentResponse:
            Organization.objects.create(name=name, slug=name)
            return IdempotentResponse(status=201, body={"by": name})

        return run

    keyed_run(org, "k-8", work("first"))

    again = keyed_run(org, "k-8", work("again"))

    assert (again.replayed, again.body) == (True, {"by": "first"})
    assert not Organization.objects.filter(slug="again").exists()


def test_a_replay_with_another_body_is_refused_after_its_work_is_rolled_back(org) -> None:
    keyed_run(org, "k-9", lambda keep: IdempotentResponse(status=201, body={}))

    def work(keep: RecordKeep | None) -> IdempotentResponse:
        Organization.objects.create(name="other", slug="other")
        return IdempotentResponse(status=201, body={})

    with pytest.raises(Conflict):
        run_idempotent(
            organization=org, scope="s", operation="op", key="k-9", payload={"b": 2}, work=work
        )
    assert not Organization.objects.filter(slug="other").exists()


def test_an_error_of_the_work_stores_no_record(org) -> None:
    def failing(keep: RecordKeep | None) -> IdempotentResponse:
        raise Unprocessable("No.", code="nope")

    with pytest.raises(Unprocessable):
        run_idempotent(
            organization=org, scope="s", operation="op", key="k-5", payload={}, work=failing
        )

    assert not IdempotencyRecord.objects.filter(key="k-5").exists()


def threaded(target, *args) -> tuple[threading.Thread, list[object]]:
    """`target(*args)` in a thread with its own connection; its answer (or error) lands in
    the returned list."""
    answer: list[object] = []

    def run() -> None:
        try:
            answer.append(target(*args))
        except Exception as exc:  # handed to the test
            answer.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answer


def keyed_run(org, key: str, work) -> IdempotentResponse:
    return run_idempotent(
        organization=org, scope="s", operation="op", key=key, payload={"a": 1}, work=work
    )


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite serialises writers: no two works overlap"
)
@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_duplicates_one_works_and_the_other_replays_it(org) -> None:
    both_working = threading.Barrier(2, timeout=30)

    def work(name: str):
        def run(keep: RecordKeep | None) -> IdempotentResponse:
            Organization.objects.create(name=name, slug=name)
            both_working.wait()  # each has read no record, each has done its work
            return IdempotentResponse(status=201, body={"by": name})

        return run

    first, first_answer = threaded(keyed_run, org, "k-6", work("first"))
    second, second_answer = threaded(keyed_run, org, "k-6", work("second"))
    first.join(30)
    second.join(30)

    answers = [*first_answer, *second_answer]
    assert all(isinstance(a, IdempotentResponse) for a in answers)
    bodies = {a.body["by"] for a in answers}  # type: ignore[union-attr]
    assert len(bodies) == 1
    assert sorted(a.replayed for a in answers) == [False, True]  # type: ignore[union-attr]
    # The replayed one's work was rolled back with its transaction.
    assert Organization.objects.filter(slug__in=["first", "second"]).count() == 1


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite serialises writers: no two works overlap"
)
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_refused_because_of_the_first_replays_the_first(org) -> None:
    reading_done = threading.Event()
    first_done = threading.Event()

    def refused(keep: RecordKeep | None) -> IdempotentResponse:
        reading_done.set()
        assert first_done.wait(30)
        raise RateLimited(
            "Cap full.",
            code="send_rate_limited",
            limit=1,
            remaining=0,
            reset_at=timezone.now(),
            retry_after=60,
        )

    late, late_answer = threaded(keyed_run, org, "k-7", refused)
    assert reading_done.wait(30)
    first = keyed_run(org, "k-7", lambda keep: IdempotentResponse(status=201, body={"by": "first"}))
    first_done.set()
    late.join(30)

    (answer,) = late_answer
    assert isinstance(answer, IdempotentResponse)
    assert (answer.replayed, answer.body) == (True, {"by": "first"})
    assert first.replayed is False


def test_the_same_key_with_another_body_is_refused(org) -> None:
    _run(org, "k-3", {"a": 1}, [])

    with pytest.raises(Conflict):
        _run(org, "k-3", {"a": 2}, [])


def test_on_commit_work_of_a_replay_never_runs(org) -> None:
    ran: list[str] = []

    def work(name: str):
        def run(keep: RecordKeep | None) -> IdempotentResponse:
            transaction.on_commit(lambda: ran.append(name))
            return IdempotentResponse(status=201, body={"by": name})

        return run

    with TestCase.captureOnCommitCallbacks(execute=True):
        keyed_run(org, "k-10", work("first"))
    with TestCase.captureOnCommitCallbacks(execute=True):
        keyed_run(org, "k-10", work("again"))

    assert ran == ["first"]


def _taking_work(name: str):
    """A work that inserts the key's record itself, as the send does in its statement."""

    def run(keep: RecordKeep | None) -> IdempotentResponse:
        assert keep is not None
        Organization.objects.create(name=name, slug=name)
        result = IdempotentResponse(status=201, body={"by": name})
        insert_together([keep.row(result)])
        return result

    return run


def test_a_work_that_takes_the_record_stores_it_and_no_other_insert_follows(org) -> None:
    with CaptureQueriesContext(connection) as ctx:
        answer = keyed_run(org, "k-11", _taking_work("taker"))

    records = [q["sql"] for q in ctx.captured_queries if "idempotencyrecord" in q["sql"]]
    assert len(records) == 1
    assert answer.replayed is False
    assert IdempotencyRecord.objects.get(key="k-11").response_body == {"by": "taker"}


def test_a_replay_of_a_work_that_takes_the_record_answers_the_stored_response(org) -> None:
    keyed_run(org, "k-12", _taking_work("taken-first"))

    again = keyed_run(org, "k-12", _taking_work("taken-again"))

    assert (again.replayed, again.body) == (True, {"by": "taken-first"})
    assert not Organization.objects.filter(slug="taken-again").exists()


def test_an_integrity_error_of_the_work_itself_is_not_a_replay(org) -> None:
    Organization.objects.create(name="dup", slug="dup")

    with pytest.raises(IntegrityError):
        keyed_run(org, "k-13", _taking_work("dup"))

    assert not IdempotencyRecord.objects.filter(key="k-13").exists()


def test_a_replay_whose_work_fails_in_the_database_answers_the_stored_response(org) -> None:
    keyed_run(org, "k-14", lambda keep: IdempotentResponse(status=201, body={"by": "first"}))

    def timed_out(keep: RecordKeep | None) -> IdempotentResponse:
        raise OperationalError("canceling statement due to lock timeout")

    again = keyed_run(org, "k-14", timed_out)

    assert (again.replayed, again.body) == (True, {"by": "first"})


def test_a_database_error_of_a_new_key_stands(org) -> None:
    def timed_out(keep: RecordKeep | None) -> IdempotentResponse:
        raise OperationalError("canceling statement due to lock timeout")

    with pytest.raises(OperationalError):
        keyed_run(org, "k-15", timed_out)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite names no violated constraint")
def test_a_record_purged_after_its_insert_met_it_asks_for_a_retry(org, monkeypatch) -> None:
    keyed_run(org, "k-16", _taking_work("purged-first"))
    monkeypatch.setattr("console.idempotency.IdempotentRecord.stored", lambda self: None)

    with pytest.raises(InProgress):
        keyed_run(org, "k-16", _taking_work("purged-again"))


def test_the_record_is_offered_to_the_work_only_where_values_travel_apart(org, monkeypatch) -> None:
    offered: list[bool] = []

    def work(keep: RecordKeep | None) -> IdempotentResponse:
        assert keep is not None
        offered.append(keep.offered)
        return IdempotentResponse(status=201, body={})

    keyed_run(org, "k-17", work)
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {})
    keyed_run(org, "k-18", work)

    assert offered == [True, connection.vendor != "postgresql"]
