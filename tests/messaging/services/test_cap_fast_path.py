"""The cap's one-statement count of the window ending at a send (`_window_ending_at`)
answers exactly as the full analysis of every window (`_fullest_window`), and is what a
send now with nothing scheduled ahead uses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.errors import RateLimited
from messaging.models import Message, SendCapBucket
from messaging.services import scheduling
from messaging.services.cap_buckets import bucket_start, cap_buckets_prune, cap_buckets_refresh
from tests.messaging.sends import outbound_at

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY = scheduling.WINDOW


def buckets(identity) -> dict[datetime, int]:
    return dict(SendCapBucket.objects.filter(identity=identity).values_list("starts_at", "sends"))


def full_analysis(identity, at: datetime) -> tuple[int, datetime]:
    times = scheduling._cap_times(identity, at - DAY, at + DAY)
    return scheduling._fullest_window(times, at)


def outcome(call):
    """What a cap call returns or raises, comparable across the two paths."""
    try:
        return ("ok", call())
    except RateLimited as exc:
        return ("429", exc.code, str(exc), exc.limit, exc.reset_at, exc.retry_after, exc.extra)


def both_paths(monkeypatch, call):
    fast = outcome(call)
    with monkeypatch.context() as m:
        m.setattr(scheduling, "_window_ending_at", lambda identity, at: None)
        full = outcome(call)
    return fast, full


# Offsets from NOW, in seconds: the window's edges, just inside and outside them.
EDGES = [
    -DAY.total_seconds() - 1,
    -DAY.total_seconds(),
    -DAY.total_seconds() + 1,
    -3600,
    -1,
    0,
    1,
    3600,
    DAY.total_seconds() - 1,
    DAY.total_seconds(),
    DAY.total_seconds() + 1,
]


def scenarios() -> list[list[tuple[float, bool]]]:
    """Sets of (offset seconds, scheduled) cap times: edge cases, then random ones."""
    fixed: list[list[tuple[float, bool]]] = [
        [],
        [(0, False)],
        [(-DAY.total_seconds(), False)],  # exactly 24 h ago: out of the window
        [(-DAY.total_seconds() + 1, False), (-5, False)],
        [(DAY.total_seconds(), True)],  # exactly 24 h ahead: in no window containing now
        [(DAY.total_seconds() - 1, True), (-100, False)],
        [(1, True), (2, True), (-3, False)],
        [(-60 * i, False) for i in range(5)],  # a full cap of 5
        [(-60 * i, False) for i in range(4)] + [(7200, True)],
        [(-7200, True), (-3600, False), (0, True)],
    ]
    rng = random.Random(18)
    for _ in range(25):
        fixed.append(
            [
                (
                    rng.choice([rng.choice(EDGES), rng.uniform(-1.5, 1.5) * DAY.total_seconds()]),
                    rng.random() < 0.3,
                )
                for _ in range(rng.randint(0, 8))
            ]
        )
    return fixed


def slot_read(conversation, at: datetime) -> scheduling.WindowRead:
    """The window ending at `at` as a send's one read after the lock finds it."""
    row = scheduling._SLOT_READS.first(
        conversation_id=conversation.pk,
        since=at - timedelta(seconds=60),
        identity_id=conversation.identity_id,
        lo=at - DAY,
        edge=scheduling._window_edge(at - DAY),
        at=at,
        hi=at + DAY,
    )
    return scheduling._window_read(row, at)


def test_both_paths_answer_alike_over_varied_cap_times(conversation, settings, monkeypatch):
    settings.SEND_CAP_PER_24H = 5
    identity = conversation.identity
    ats = [
        NOW,
        NOW + timedelta(seconds=1),
        NOW + timedelta(hours=5),
        NOW - timedelta(hours=2),
        # Off the hour: the window's old end cuts an hour's bucket.
        NOW + timedelta(minutes=17, seconds=30, microseconds=250),
        NOW - timedelta(minutes=59, microseconds=1),
    ]
    checked = fast_used = 0
    for times in scenarios():
        Message.objects.filter(identity=identity).delete()
        for offset, scheduled in times:
            outbound_at(conversation, at=NOW + timedelta(seconds=offset), scheduled=scheduled)
        for at in ats:
            window = scheduling._window_ending_at(identity, at)
            assert slot_read(conversation, at) == scheduling.WindowRead(window), (times, at)
            if window is not None:
                fast_used += 1
                assert window == full_analysis(identity, at), (times, at)
            for call in (
                lambda at=at: scheduling.cap_check(identity, at=at, now=NOW),
                lambda at=at: scheduling.cap_status(identity, now=at),
            ):
                fast, full = both_paths(monkeypatch, call)
                assert fast == full, (times, at)
                checked += 1
    assert fast_used > 75 and checked > 300


def test_the_fast_path_steps_aside_when_a_cap_time_lies_ahead(conversation):
    outbound_at(conversation, at=NOW + timedelta(hours=3), scheduled=True)

    assert scheduling._window_ending_at(conversation.identity, NOW) is None


def test_a_full_cap_is_refused_alike_on_both_paths(conversation, settings, monkeypatch):
    settings.SEND_CAP_PER_24H = 3
    for minutes in (1, 10, 20):
        outbound_at(conversation, at=NOW - timedelta(minutes=minutes))

    fast, full = both_paths(
        monkeypatch, lambda: scheduling.cap_check(conversation.identity, at=NOW, now=NOW)
    )

    assert fast[0] == "429"
    assert fast == full


def test_a_send_now_counts_its_window_in_one_statement(conversation, settings):
    settings.SEND_CAP_PER_24H = 1000
    for minutes in range(30):
        outbound_at(conversation, at=NOW - timedelta(minutes=minutes))

    with CaptureQueriesContext(connection) as ctx:
        rate = scheduling.cap_check(conversation.identity, at=NOW, now=NOW)

    assert rate.remaining == 1000 - 30 - 1
    assert rate.reset_at == NOW - timedelta(minutes=29) + DAY
    assert len(ctx.captured_queries) == 1
    sql = ctx.captured_queries[0]["sql"].upper()
    assert "COUNT(" in sql and "LIMIT 1" in sql  # the oldest: the index's first entry
    assert "SUM(" in sql  # the hours inside the window: their buckets


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
@pytest.mark.django_db(transaction=True)
def test_the_window_is_counted_from_its_hours_buckets_and_the_index_alone(conversation):
    identity = conversation.identity
    for n in range(200):
        outbound_at(conversation, at=NOW - timedelta(minutes=n))
    with connection.cursor() as cursor:
        # What autovacuum does for a table that grows: statistics that know of the rows,
        # and the pages marked all-visible (outside a transaction, hence this test's own).
        cursor.execute("VACUUM ANALYZE messaging_message, messaging_sendcapbucket")

    lo = NOW - DAY
    with transaction.atomic(), connection.cursor() as cursor:
        # Tables this small are otherwise read whole.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = scheduling._window_row(
            identity_id=identity.pk, lo=lo, edge=scheduling._window_edge(lo), at=NOW, hi=NOW + DAY
        ).explain()

    assert "Index Only Scan using msg_outbound_cap_time_covering" in plan
    # The buckets by an index (on a table this small either of its two will do).
    assert "Index Scan using send_cap_bucket_" in plan
    assert "on messaging_sendcapbucket" in plan
    # The hours' sum and the edge's count, each once; the oldest is one index entry.
    assert plan.count("Aggregate") == 2 and "Limit" in plan


def test_the_hours_buckets_hold_each_identitys_cap_times_per_hour(conversation):
    outbound_at(conversation, at=NOW - timedelta(minutes=1))
    outbound_at(conversation, at=NOW - timedelta(minutes=59))
    outbound_at(conversation, at=NOW + timedelta(hours=2, minutes=5), scheduled=True)
    outbound_at(conversation, at=NOW)

    assert buckets(conversation.identity) == {
        NOW - timedelta(hours=1): 2,
        NOW: 1,
        NOW + timedelta(hours=2): 1,
    }


def test_a_deleted_message_leaves_its_hours_bucket(conversation):
    kept = outbound_at(conversation, at=NOW - timedelta(minutes=5))
    gone = outbound_at(conversation, at=NOW - timedelta(minutes=6))

    Message.objects.filter(pk=gone.pk).delete()

    assert buckets(conversation.identity) == {NOW - timedelta(hours=1): 1}
    assert kept.pk is not None


def test_a_message_whose_cap_time_moves_changes_bucket(conversation):
    message = outbound_at(conversation, at=NOW + timedelta(hours=3), scheduled=True)

    Message.objects.filter(pk=message.pk).update(scheduled_for=NOW + timedelta(hours=5))

    assert buckets(conversation.identity) == {
        NOW + timedelta(hours=3): 0,
        NOW + timedelta(hours=5): 1,
    }


def test_inbound_messages_count_in_no_bucket(conversation):
    inbound = outbound_at(conversation, at=NOW)

    Message.objects.filter(pk=inbound.pk).update(direction="inbound")

    assert buckets(conversation.identity) == {NOW: 0}


def test_the_recount_sets_the_buckets_a_window_can_reach_from_the_messages(conversation):
    hour = bucket_start(timezone.now())
    outbound_at(conversation, at=hour - timedelta(minutes=5))
    outbound_at(conversation, at=hour - timedelta(hours=3))
    outbound_at(conversation, at=hour + timedelta(hours=2), scheduled=True)
    outbound_at(conversation, at=hour - timedelta(hours=30))  # no window reaches it
    SendCapBucket.objects.all().update(sends=7)
    SendCapBucket.objects.create(identity=conversation.identity, starts_at=hour, sends=3)

    cap_buckets_refresh()

    assert buckets(conversation.identity) == {
        hour - timedelta(hours=1): 1,
        hour - timedelta(hours=3): 1,
        hour + timedelta(hours=2): 1,
    }


def test_the_prune_deletes_the_buckets_no_window_reaches(conversation):
    outbound_at(conversation, at=NOW - timedelta(hours=26))
    outbound_at(conversation, at=NOW - timedelta(hours=25, minutes=30))
    outbound_at(conversation, at=NOW - timedelta(hours=24, minutes=30))

    assert buckets(conversation.identity) == {
        NOW - timedelta(hours=26): 2,
        NOW - timedelta(hours=25): 1,
    }

    assert cap_buckets_prune(now=NOW) == 1

    # A send now looks back to NOW - 24 h: the hour before that is kept as a margin.
    assert buckets(conversation.identity) == {NOW - timedelta(hours=25): 1}


def slot_of(conversation, *, send_at: datetime | None, quiet=None) -> scheduling.SendSlot:
    return scheduling.send_slot(
        identity=conversation.identity,
        conversation=conversation,
        now=NOW,
        send_at=send_at,
        urgent=False,
        quiet=quiet,
    )


def test_a_send_now_reads_its_pace_and_window_in_one_statement_after_the_lock(
    conversation, settings
):
    settings.SEND_CAP_PER_24H = 3
    for minutes in (1, 10):
        outbound_at(conversation, at=NOW - timedelta(minutes=minutes))

    with transaction.atomic():
        held = scheduling.send_lock(conversation.identity)
        with CaptureQueriesContext(connection) as ctx:
            slot = slot_of(conversation, send_at=None, quiet=held)

    assert len(ctx.captured_queries) == 1
    assert (slot.scheduled_for, slot.rate.remaining) == (None, 0)


def test_a_scheduled_send_counts_the_window_at_its_own_time(conversation, settings):
    settings.SEND_CAP_PER_24H = 3
    later = NOW + timedelta(hours=30)
    for minutes in (1, 2):  # in the window ending now, not in the one ending at `later`
        outbound_at(conversation, at=NOW - timedelta(minutes=minutes))

    with transaction.atomic():
        slot = slot_of(conversation, send_at=later)

    assert (slot.scheduled_for, slot.rate.remaining) == (later, 2)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan cache")
def test_a_sends_pace_and_window_read_is_planned_once_for_every_send(conversation):
    # Months of a busy conversation, and statistics that know them: a plan made for the
    # call's own times finds far fewer rows past them than a plan made for any times.
    first = outbound_at(conversation, at=NOW)
    columns = [f.column for f in Message._meta.concrete_fields]
    copied = {
        "id": "gen_random_uuid()",
        "provider_handle": "NULL",
        "created_at": "m.created_at - n * interval '10 minutes'",
        "updated_at": "m.created_at - n * interval '10 minutes'",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO messaging_message ({', '.join(columns)})"
            f" SELECT {', '.join(copied.get(c, f'm.{c}') for c in columns)}"
            " FROM messaging_message AS m, generate_series(1, 20000) AS n WHERE m.id = %s",
            [first.id],
        )
        cursor.execute("ANALYZE messaging_message")

    # psycopg prepares the statement on its fifth run; PostgreSQL plans its first five
    # runs for their values, then keeps one plan for any values if that costs no more.
    for seconds in range(16):
        slot_read(conversation, NOW + timedelta(seconds=seconds))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ['%AS "last_inbound"%'],
        )
        [(generic, custom)] = cursor.fetchall()
    assert (generic, custom) == (6, 5)
