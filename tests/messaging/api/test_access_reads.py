"""API reads of message content in the access log: an organisation admin key's reads are
logged per item shown (one insert per request); an identity key reading its own
conversations is tallied per key, conversation and hour."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.access_tally_buffer import TallyBuffer
from console.access_tally_queue import tally_drain
from console.models import AccessLog, AccessTally
from console.services import IssuedApiKey
from tests.messaging.conftest import PERSON
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/imessage/conversations"
MESSAGES = "/api/v1/imessage/messages"


def test_an_admin_key_listing_messages_writes_a_row_per_message(admin_client, conversation):
    made = MessageFactory.create_batch(3, conversation=conversation)

    assert admin_client.get(MESSAGES).status_code == 200

    rows = AccessLog.objects.values_list("actor_type", "actor_label", "object_kind", "object_id")
    assert sorted(rows) == sorted(("api_key", "API key admin", "message", str(m.id)) for m in made)
    assert set(AccessLog.objects.values_list("remote_number", flat=True)) == {PERSON}
    assert not AccessTally.objects.exists()


def test_an_admin_key_reading_one_message_writes_one_row(admin_client, conversation):
    message = MessageFactory(conversation=conversation)

    admin_client.get(f"{MESSAGES}/{message.id}")

    assert list(AccessLog.objects.values_list("object_id", flat=True)) == [str(message.id)]


def test_an_admin_key_reading_a_thread_writes_a_row_per_message(admin_client, conversation):
    message = MessageFactory(conversation=conversation)

    admin_client.get(f"{MESSAGES}/{message.id}/thread")

    assert list(AccessLog.objects.values_list("object_id", flat=True)) == [str(message.id)]


def test_an_admin_key_listing_conversations_logs_their_latest_text(admin_client, conversation):
    MessageFactory(conversation=conversation)

    admin_client.get(CONVERSATIONS)

    assert list(AccessLog.objects.values_list("object_kind", "object_id")) == [
        ("conversation", str(conversation.id))
    ]


def test_identity_key_reads_in_one_hour_aggregate_into_one_tally(identity_client, conversation):
    MessageFactory.create_batch(2, conversation=conversation)

    identity_client.get(MESSAGES)
    identity_client.get(MESSAGES)

    tally = AccessTally.objects.get()
    # Two requests (of two messages each) of one conversation.
    assert (tally.conversation_id, tally.key_label, tally.count) == (conversation.id, "agent", 2)
    assert tally.remote_number == PERSON
    assert not AccessLog.objects.exists()


def test_an_empty_list_writes_nothing(admin_client, identity_client):
    admin_client.get(MESSAGES)
    identity_client.get(MESSAGES)

    assert not AccessLog.objects.exists()
    assert not AccessTally.objects.exists()


def test_an_identity_key_read_writes_nothing_until_the_flush(
    buffer: TallyBuffer, identity_client: Any, conversation: Any
) -> None:
    MessageFactory.create_batch(2, conversation=conversation)

    with CaptureQueriesContext(connection) as during_read:
        assert identity_client.get(MESSAGES).status_code == 200

    assert not AccessTally.objects.exists()
    assert not [q for q in during_read.captured_queries if "access_tally" in q["sql"].lower()]
    assert buffer.pending() == 1


def test_reads_of_one_conversation_merge_into_one_row_written_in_one_statement(
    buffer: TallyBuffer, identity_client: Any, conversation: Any
) -> None:
    MessageFactory.create_batch(2, conversation=conversation)
    for _ in range(3):
        identity_client.get(MESSAGES)

    with CaptureQueriesContext(connection) as flushing:
        assert buffer.flush() == 3

    assert len(flushing.captured_queries) == 1
    tally = AccessTally.objects.get()
    assert (tally.conversation_id, tally.key_label, tally.count) == (conversation.id, "agent", 3)
    assert buffer.pending() == 0


def test_an_identity_key_read_reaches_the_tally_through_the_queue(
    tally_queue: redis.Redis,
    buffer: TallyBuffer,
    identity_client: Any,
    identity_key: IssuedApiKey,
    conversation: Any,
) -> None:
    identity_client.get(CONVERSATIONS)
    identity_client.get(CONVERSATIONS)
    buffer.flush()
    assert not AccessTally.objects.exists()

    assert tally_drain() == 2

    tally = AccessTally.objects.get()
    assert (tally.api_key_id, tally.key_label, tally.conversation_id) == (
        identity_key.record.id,
        "agent",
        conversation.id,
    )
    assert (tally.organization_id, tally.remote_number, tally.count) == (
        conversation.organization_id,
        conversation.remote_number,
        2,
    )
