"""The buffer that tallies identity-key reads in memory and writes them once a second per
process (`console.access_tally_buffer`): reads carry no write, counts merge, nothing is lost on a
failed write, and the flusher thread writes on its own."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from console import access_tally_buffer
from console.access_tally_buffer import TallyBuffer
from console.models import AccessTally, Organization
from console.services import IssuedApiKey
from tests.console.tallies import agent_read


@pytest.mark.django_db
def test_a_flush_adds_to_the_counts_already_written(
    buffer: TallyBuffer, org: Organization, identity_key: IssuedApiKey
) -> None:
    conversation_id = uuid.uuid4()
    buffer.add(agent_read(org, identity_key, conversation_id))
    buffer.flush()
    buffer.add(agent_read(org, identity_key, conversation_id))
    buffer.add(agent_read(org, identity_key, conversation_id))
    buffer.flush()

    assert AccessTally.objects.get().count == 3


@pytest.mark.django_db
def test_a_failed_write_keeps_the_counts_for_the_next_flush(
    buffer: TallyBuffer,
    org: Organization,
    identity_key: IssuedApiKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conversation_id = uuid.uuid4()
    buffer.add(agent_read(org, identity_key, conversation_id))
    real_upsert = access_tally_buffer.tally_upsert

    def database_down(counts: Any) -> None:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(access_tally_buffer, "tally_upsert", database_down)
    with pytest.raises(DatabaseError):
        buffer.flush()
    buffer.add(agent_read(org, identity_key, conversation_id))
    monkeypatch.setattr(access_tally_buffer, "tally_upsert", real_upsert)
    buffer.flush()

    assert AccessTally.objects.get().count == 2


@pytest.mark.django_db
def test_a_zero_interval_writes_the_tally_in_the_request(
    settings: Any, org: Organization, identity_key: IssuedApiKey
) -> None:
    settings.ACCESS_TALLY_FLUSH_SECONDS = 0
    unused = TallyBuffer()

    unused.add(agent_read(org, identity_key, uuid.uuid4()))

    assert AccessTally.objects.get().count == 1
    assert unused.pending() == 0


@pytest.mark.django_db(transaction=True)
def test_the_flusher_thread_writes_the_counts_on_its_own(
    settings: Any, org: Organization, identity_key: IssuedApiKey
) -> None:
    settings.ACCESS_TALLY_FLUSH_SECONDS = 0.05
    running = TallyBuffer()
    try:
        running.add(agent_read(org, identity_key, uuid.uuid4()))
        deadline = time.monotonic() + 30
        while not AccessTally.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the condition, not waiting out a duration
        assert AccessTally.objects.get().count == 1
        assert running.pending() == 0
    finally:
        running.close()


@pytest.mark.django_db
def test_many_conversations_are_written_in_one_statement_each_with_its_count(
    buffer: TallyBuffer, org: Organization, identity_key: IssuedApiKey
) -> None:
    conversations = [uuid.uuid4() for _ in range(120)]
    for conversation_id in conversations:
        buffer.add(agent_read(org, identity_key, conversation_id))
    buffer.add(agent_read(org, identity_key, conversations[0]))

    with CaptureQueriesContext(connection) as flushing:
        assert buffer.flush() == 121

    assert len(flushing.captured_queries) == 1
    counts = dict(AccessTally.objects.values_list("conversation_id", "count"))
    assert len(counts) == 120
    assert counts[conversations[0]] == 2
    assert set(counts.values()) == {1, 2}
