"""Messaging reads that every send or inbound message runs: what they find, and on
PostgreSQL the index they find it through."""

from __future__ import annotations

import pytest
from django.db import connection

from messaging.models import Conversation
from messaging.selectors import (
    SendLock,
    _conversation_for_send,
    conversation_for_send,
    send_lock_of,
)
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
    # The identity's other conversations, and statistics that know of them: the planner
    # then weighs a scan of the identity's conversations against the per-person index.
    Conversation.objects.bulk_create(
        Conversation(
            organization_id=conversation.organization_id,
            identity_id=conversation.identity_id,
            remote_number=f"+1415555{n:04d}",
        )
        for n in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_conversation")
        # Nor may it read a table this small whole.
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = _conversation_for_send(
        identity_id=conversation.identity_id, remote_number=conversation.remote_number
    ).explain()

    assert "conversation_unique_per_person" in plan


def test_the_send_lock_read_with_a_conversation_is_answered_once():
    conversation = ConversationFactory()

    found = conversation_for_send(
        identity=conversation.identity, remote_number=conversation.remote_number
    )

    assert found is not None
    assert send_lock_of(found) == SendLock(quiet_hours=None)
    # The object may outlive this transaction: a later send takes the lock again.
    assert send_lock_of(found) is None


def test_a_conversation_read_elsewhere_holds_no_send_lock():
    conversation = ConversationFactory()

    assert send_lock_of(Conversation.objects.get(pk=conversation.pk)) is None
