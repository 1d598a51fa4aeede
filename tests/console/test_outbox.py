"""The outbox engine on its own: batch claims, leases, the sweep, never-raising publishes
and the named retry policies. Router reply rows serve as the outbox rows."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.outbox import (
    CLAIM_PLANNING,
    Outbox,
    RetryPolicy,
    SweepCounts,
    publish,
    publish_on_commit,
    retry_policy,
)
from routing.models import ReplyState, RouterReply
from routing.services.router_replies import REPLIES, REPLY_CLAIM_TIMEOUT
from tests.routing.factories import RouterLineFactory, RouterReplyFactory

pytestmark = pytest.mark.django_db

CLAIMERS = 8


class RecordingTask:
    """Stands in for a Celery task: records each publish, or fails like a dead broker."""

    name = "tests.recording"

    def __init__(self, *, broker_down: bool = False) -> None:
        self.broker_down = broker_down
        self.published: list[tuple[Any, float | None]] = []

    def apply_async(self, *, args: tuple[Any, ...], countdown: float | None = None) -> None:
        if self.broker_down:
            raise ConnectionError("broker down")
        self.published.append((args[0], countdown))


def outbox_with(task: RecordingTask) -> Outbox:
    return dataclasses.replace(REPLIES, task=lambda: task)


def queued_replies(count: int) -> list[RouterReply]:
    line = RouterLineFactory()
    return [RouterReplyFactory(line=line) for _ in range(count)]


def test_a_batch_claim_takes_due_rows_oldest_first_up_to_the_limit() -> None:
    now = timezone.now()
    rows = queued_replies(5)
    for age, row in enumerate(rows):
        RouterReply.objects.filter(pk=row.pk).update(next_attempt_at=now - timedelta(minutes=age))
    not_due = RouterReplyFactory(line=rows[0].line, next_attempt_at=now + timedelta(minutes=5))

    first = REPLIES.claim_batch(limit=3, now=now)
    second = REPLIES.claim_batch(limit=3, now=now)

    assert set(first) == {rows[4].pk, rows[3].pk, rows[2].pk}
    assert set(second) == {rows[1].pk, rows[0].pk}
    assert REPLIES.claim_batch(limit=3, now=now) == []
    claimed = RouterReply.objects.filter(pk__in=first + second)
    assert all(r.state == ReplyState.SENDING and r.attempts == 1 for r in claimed)
    assert RouterReply.objects.get(pk=not_due.pk).state == ReplyState.QUEUED


def _claiming(sql: str) -> bool:
    """A statement that reads or writes rows (not a savepoint or the planner setting)."""
    return "SAVEPOINT" not in sql and sql != CLAIM_PLANNING


def test_a_batch_claim_is_one_statement_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    queued_replies(3)

    with CaptureQueriesContext(connection) as queries:
        claimed = REPLIES.claim_batch(limit=2)

    statements = [q["sql"] for q in queries.captured_queries if _claiming(q["sql"])]
    assert len(claimed) == 2
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
    assert "FOR UPDATE SKIP LOCKED" in statements[0] and "RETURNING" in statements[0]


@pytest.mark.parametrize("with_first", [False, True])
def test_a_batch_claim_never_takes_more_than_its_limit_whatever_plan_postgresql_picks(
    with_first: bool,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    rows = queued_replies(4)
    # The plan that rescans the LIMIT subquery once per row of the outer scan (seen once
    # the table's statistics changed): a nested-loop semi-join with nothing materialised.
    with connection.cursor() as cursor:
        for setting in ("hashjoin", "mergejoin", "material", "sort", "hashagg"):
            cursor.execute(f"SET LOCAL enable_{setting} = off")

    claimed = REPLIES.claim_batch(limit=2, first=rows[0].pk if with_first else None)

    assert len(claimed) == 2
    assert RouterReply.objects.filter(state=ReplyState.SENDING).count() == 2


def test_a_batch_claim_walks_the_due_index_in_order_whatever_the_statistics_say() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE routing_routerreply")  # statistics of an empty outbox
    queued_replies(200)  # a burst the statistics never saw
    sql, params = REPLIES.claim_statement(
        using=connection.alias, now=timezone.now(), first=None, limit=20
    )
    raw = connection.connection
    literal = psycopg.ClientCursor(raw).mogrify(sql, params)

    with connection.cursor() as cursor:
        cursor.execute(CLAIM_PLANNING)
        cursor.execute(f"EXPLAIN {literal}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # The oldest due rows straight off the index, not every due row read and sorted.
    assert "Index Scan using router_reply_outbox" in plan
    assert "Sort" not in plan


def test_a_batch_claim_with_a_first_row_takes_it_and_the_oldest_others() -> None:
    now = timezone.now()
    rows = queued_replies(4)
    for age, row in enumerate(rows):
        RouterReply.objects.filter(pk=row.pk).update(next_attempt_at=now - timedelta(minutes=age))

    claimed = REPLIES.claim_batch(limit=2, now=now, first=rows[0].pk)

    assert set(claimed) == {rows[0].pk, rows[3].pk}


def test_a_batch_claim_leaves_out_a_first_row_that_is_not_due() -> None:
    now = timezone.now()
    due, later = queued_replies(2)
    RouterReply.objects.filter(pk=later.pk).update(next_attempt_at=now + timedelta(minutes=5))

    assert REPLIES.claim_batch(limit=2, now=now, first=later.pk) == [due.pk]
    assert RouterReply.objects.get(pk=later.pk).state == ReplyState.QUEUED


def test_a_batch_claim_with_a_first_row_is_one_statement_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    rows = queued_replies(3)

    with CaptureQueriesContext(connection) as queries:
        claimed = REPLIES.claim_batch(limit=2, first=rows[2].pk)

    statements = [q["sql"] for q in queries.captured_queries if _claiming(q["sql"])]
    assert rows[2].pk in claimed and len(claimed) == 2
    assert len(statements) == 1
    assert statements[0].count("FOR UPDATE SKIP LOCKED") == 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_claim_gives_each_due_row_to_exactly_one_of_racing_claimers() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED batch claims race on PostgreSQL")
    rows = queued_replies(60)
    start = threading.Barrier(CLAIMERS)
    won: list[list[Any]] = []

    def claimer() -> None:
        mine: list[Any] = []
        try:
            start.wait()
            while batch := REPLIES.claim_batch(limit=4):
                mine.extend(batch)
        finally:
            won.append(mine)
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    every_claim = [pk for mine in won for pk in mine]
    assert len(every_claim) == len(rows)
    assert set(every_claim) == {r.pk for r in rows}
    assert set(RouterReply.objects.values_list("attempts", flat=True)) == {1}


def test_a_claim_succeeds_once_and_only_when_due() -> None:
    now = timezone.now()
    (row,) = queued_replies(1)
    RouterReply.objects.filter(pk=row.pk).update(next_attempt_at=now + timedelta(seconds=30))

    assert not REPLIES.claim(row.pk, now=now)
    assert REPLIES.claim(row.pk, now=now + timedelta(seconds=30))
    assert not REPLIES.claim(row.pk, now=now + timedelta(seconds=30))


def test_an_expired_lease_makes_a_claimed_row_sweepable() -> None:
    task = RecordingTask()
    outbox = outbox_with(task)
    now = timezone.now()
    (row,) = queued_replies(1)
    assert outbox.claim(row.pk, now=now)

    assert outbox.sweep(now=now + REPLY_CLAIM_TIMEOUT) == SweepCounts()
    assert task.published == []  # a live lease: the worker keeps its row

    counts = outbox.sweep(now=now + REPLY_CLAIM_TIMEOUT + timedelta(seconds=1))

    assert (counts.recovered, counts.requeued) == (1, 0)
    assert task.published == [(str(row.pk), None)]
    row.refresh_from_db()
    assert row.state == ReplyState.QUEUED


def test_the_sweep_publishes_overdue_rows_and_leaves_future_ones() -> None:
    task = RecordingTask()
    outbox = outbox_with(task)
    now = timezone.now()
    overdue, future = queued_replies(2)
    RouterReply.objects.filter(pk=overdue.pk).update(next_attempt_at=now - timedelta(seconds=1))
    RouterReply.objects.filter(pk=future.pk).update(next_attempt_at=now + timedelta(minutes=1))

    counts = outbox.sweep(now=now)

    assert (counts.recovered, counts.requeued) == (0, 1)
    assert task.published == [(str(overdue.pk), None)]


def test_a_publish_with_the_broker_down_never_raises_and_stops_at_the_first_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = RecordingTask(broker_down=True)

    assert publish(task, ["a", "b", "c"], countdown=5) == 0
    assert "the sweep will pick up 3 row(s)" in caplog.text


def test_a_publish_after_commit_with_the_broker_down_never_fails_the_transaction(
    django_capture_on_commit_callbacks: Any,
) -> None:
    down = RecordingTask(broker_down=True)
    up = RecordingTask()

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        publish_on_commit(down, ["a"])
        publish_on_commit(up, ["b"], countdown=2.5)
        assert up.published == []  # nothing leaves before the commit

    assert len(callbacks) == 2
    assert up.published == [("b", 2.5)]


def test_each_kind_reads_its_named_retry_policy_from_settings(settings: Any) -> None:
    send = retry_policy("message_send")
    assert send.window == timedelta(minutes=settings.SEND_RETRY_WINDOW_MINUTES)
    assert (send.base_seconds, send.max_delay_seconds, send.jitter) == (
        settings.SEND_RETRY_BASE_SECONDS,
        settings.SEND_RETRY_MAX_DELAY_SECONDS,
        True,
    )
    webhook = retry_policy("webhook_delivery")
    assert webhook.window == timedelta(hours=settings.WEBHOOK_RETRY_WINDOW_HOURS)
    reply = retry_policy("router_reply")
    assert [reply.backoff(n) for n in (1, 2, 3, 7)] == [30.0, 60.0, 120.0, 1800.0]
    assert not reply.exhausted(4) and reply.exhausted(5)

    settings.OUTBOX_RETRY_POLICIES = {
        **settings.OUTBOX_RETRY_POLICIES,
        "router_reply": {"base_seconds": 2, "max_delay_seconds": 10, "jitter": False},
    }

    assert retry_policy("router_reply") == RetryPolicy(
        base_seconds=2.0, max_delay_seconds=10.0, jitter=False
    )


def test_jitter_keeps_the_backoff_between_half_and_all_of_the_delay() -> None:
    policy = RetryPolicy(base_seconds=10, max_delay_seconds=40, window=timedelta(hours=1))

    delays = [policy.backoff(3) for _ in range(50)]

    assert all(20 <= d <= 40 for d in delays)
    assert len(set(delays)) > 1
