"""Messaging reads that every send or inbound message runs: what they find, and on
PostgreSQL the index they find it through."""

from __future__ import annotations

import pytest
from django.db import connection

from messaging.selectors import _conversation_for_send, conversation_for_send
from tests.messaging.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_a_send_by_number_finds_the_persons_conversation():
    conversation = ConversationFactory()
    ConversationFactory(identity=conversation.identity)  # another person's

    found = conversation_for_send(
        identity=conversation.identity, remote_number=conversation.remote_number
    )

    assert found is not None
    assert found.pk == conversation.pk


def test_a_send_by_number_finds_nothing_before_the_persons_first_message():
    conversation = ConversationFactory()

    assert (
        conversation_for_send(identity=conversation.identity, remote_number="+14155550111") is None
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_the_conversation_a_send_looks_up_is_found_through_the_per_person_index():
    conversation = ConversationFactory()
    with connection.cursor() as cursor:
        # A table this small would be read whole; ask for the index the query can use.
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = _conversation_for_send(
        identity_id=conversation.identity_id, remote_number=conversation.remote_number
    ).explain()

    assert "conversation_unique_per_person" in plan
