"""Agent-read tallies through Redis (`console.access_tally_queue`): a process's flush
pushes its counts and writes nothing, a drain writes every process's counts once per
(key, conversation, hour), a drain that dies midway is finished by the next without
counting twice, and a Redis that does not answer sends the flush to the database."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console import access_tally_queue
from console.access_tally_buffer import TallyBuffer
from console.access_tally_queue import queue_push, tally_drain
from console.models import AccessTally, AccessTallyBatch, Organization
from console.services import IssuedApiKey, api_key_create
from tests.console.factories import AccessTallyBatchFactory
from tests.console.tallies import AT, agent_read
from tests.private_redis import free_port

pytestmark = pytest.mark.django_db


def _counts() -> dict[uuid.UUID, int]:
    return dict(AccessTally.objects.values_list("conversation_id", "count"))


def test_a_flush_with_a_queue_pushes_one_entry_and_writes_nothing(
    tally_queue: redis.Redis, buffer: TallyBuffer, org: Organization, identity_key: IssuedApiKey
) -> None:
    buffer.add(agent_read(org, identity_key, uuid.uuid4(), uuid.uuid4()))
    buffer.add(agent_read(org, identity_key, uuid.uuid4()))

    assert buffer.flush() == 3

    assert not AccessTally.objects.exists()
    assert tally_queue.llen(access_tally_queue.QUEUE_KEY) == 1


def test_a_drain_adds_every_process_flush_into_one_row_per_conversation(
    tally_queue: redis.Redis, org: Organization, identity_key: IssuedApiKey
) -> None:
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    one_process = agent_read(org, identity_key, busy, busy, quiet)  # busy shown twice, read once
    another_process = agent_read(org, identity_key, busy)
    another_process[next(iter(another_process))].count = 4
    queue_push(one_process)
    queue_push(another_process)

    assert tally_drain() == 6

    assert _counts() == {busy: 5, quiet: 1}
    tally = AccessTally.objects.get(conversation_id=busy)
    assert (tally.organization_id, tally.api_key_id, tally.key_label, tally.remote_number) == (
        org.id,
        identity_key.record.id,
        "agent",
        "+14155550100",
    )


def test_hours_and_keys_stay_apart_in_the_queue(
    tally_queue: redis.Redis, org: Organization, identity_key: IssuedApiKey, identity: Any
) -> None:
    conversation_id = uuid.uuid4()
    other_key = api_key_create(organization=org, label="second agent", identity=identity)
    counts = agent_read(org, identity_key, conversation_id)
    counts |= agent_read(org, identity_key, conversation_id, at=AT + dt.timedelta(hours=1))
    counts |= agent_read(org, other_key, conversation_id)
    queue_push(counts)

    assert tally_drain() == 3

    rows = AccessTally.objects.values_list("key_label", "hour", "count")
    assert sorted(rows) == [
        ("agent", AT.replace(minute=0), 1),
        ("agent", AT.replace(minute=0) + dt.timedelta(hours=1), 1),
        ("second agent", AT.replace(minute=0), 1),
    ]


def test_a_second_drain_adds_only_what_was_pushed_since(
    tally_queue: redis.Redis, org: Organization, identity_key: IssuedApiKey
) -> None:
    conversation_id = uuid.uuid4()
    queue_push(agent_read(org, identity_key, conversation_id))
    tally_drain()

    assert tally_drain() == 0
    queue_push(agent_read(org, identity_key, conversation_id))
    assert tally_drain() == 1

    assert _counts() == {conversation_id: 2}


def test_a_batch_read_in_pages_writes_each_row_once_in_one_statement(
    tally_queue: redis.Redis,
    org: Organization,
    identity_key: IssuedApiKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(access_tally_queue, "PAGE_ENTRIES", 2)
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    for _ in range(5):  # five flushes, of as many processes or intervals
        queue_push(agent_read(org, identity_key, busy, quiet))

    with CaptureQueriesContext(connection) as draining:
        assert tally_drain() == 10

    assert _counts() == {busy: 5, quiet: 5}
    upserts = [q for q in draining.captured_queries if 'console_accesstally"' in q["sql"]]
    assert len(upserts) == 1
    assert AccessTallyBatch.objects.count() == 1


def test_a_batch_left_by_a_drain_that_died_is_finished_without_counting_twice(
    tally_queue: redis.Redis,
    org: Organization,
    identity_key: IssuedApiKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conversation_id = uuid.uuid4()
    for _ in range(3):
        queue_push(agent_read(org, identity_key, conversation_id))
    real_delete = redis.Redis.delete

    def dies_before_deleting(self: redis.Redis, *names: Any) -> int:
        raise redis.ConnectionError("drain killed")

    monkeypatch.setattr(redis.Redis, "delete", dies_before_deleting)
    with pytest.raises(redis.ConnectionError):
        tally_drain()
    monkeypatch.setattr(redis.Redis, "delete", real_delete)
    queue_push(agent_read(org, identity_key, conversation_id))

    assert tally_drain() == 1

    assert _counts() == {conversation_id: 4}
    assert tally_queue.keys(f"{access_tally_queue.BATCH_PREFIX}*") == []


def test_a_drain_forgets_batch_markers_older_than_a_week(tally_queue: redis.Redis) -> None:
    AccessTallyBatchFactory(name="old")
    AccessTallyBatchFactory(name="recent")
    AccessTallyBatch.objects.filter(name="old").update(
        written_at=timezone.now() - dt.timedelta(days=access_tally_queue.BATCH_MARKER_DAYS, hours=1)
    )

    tally_drain()

    assert list(AccessTallyBatch.objects.values_list("name", flat=True)) == ["recent"]


def test_an_unreadable_entry_is_skipped_and_the_rest_written(
    tally_queue: redis.Redis, org: Organization, identity_key: IssuedApiKey
) -> None:
    conversation_id = uuid.uuid4()
    tally_queue.rpush(access_tally_queue.QUEUE_KEY, "not json")
    tally_queue.rpush(access_tally_queue.QUEUE_KEY, json.dumps(["too", "short"]))
    malformed_rows = ["k", "agent", AT.isoformat(), str(org.id), [["only one"]]]
    tally_queue.rpush(access_tally_queue.QUEUE_KEY, json.dumps(malformed_rows))
    queue_push(agent_read(org, identity_key, conversation_id))

    assert tally_drain() == 1

    assert _counts() == {conversation_id: 1}


def test_when_redis_does_not_answer_the_flush_writes_to_the_database(
    settings: Any, buffer: TallyBuffer, org: Organization, identity_key: IssuedApiKey
) -> None:
    settings.ACCESS_TALLY_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    conversation_id = uuid.uuid4()
    buffer.add(agent_read(org, identity_key, conversation_id))

    assert buffer.flush() == 1

    assert _counts() == {conversation_id: 1}
    assert buffer.pending() == 0


def test_without_a_queue_a_flush_writes_to_the_database_and_a_drain_does_nothing(
    settings: Any, buffer: TallyBuffer, org: Organization, identity_key: IssuedApiKey
) -> None:
    settings.ACCESS_TALLY_REDIS_URL = ""
    conversation_id = uuid.uuid4()
    buffer.add(agent_read(org, identity_key, conversation_id))

    buffer.flush()

    assert _counts() == {conversation_id: 1}
    assert tally_drain() == 0


def test_the_drain_command_writes_the_queue(
    tally_queue: redis.Redis, org: Organization, identity_key: IssuedApiKey, capsys: Any
) -> None:
    queue_push(agent_read(org, identity_key, uuid.uuid4()))

    call_command("access_tally_drain")

    assert "1 reads written" in capsys.readouterr().out
    assert AccessTally.objects.get().count == 1


def test_the_drain_command_refuses_when_no_queue_is_configured(settings: Any) -> None:
    settings.ACCESS_TALLY_REDIS_URL = ""

    with pytest.raises(CommandError, match="ACCESS_TALLY_REDIS_URL"):
        call_command("access_tally_drain")
