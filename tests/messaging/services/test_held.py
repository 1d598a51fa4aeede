"""Releasing a held message: visible to the agent like any inbound message, announced once."""

from __future__ import annotations

from typing import Any

import pytest

from console.errors import Conflict
from console.models import AgentIdentity
from messaging.models import Message
from messaging.services.held import held_message_release
from messaging.webhooks.models import WebhookEvent
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db
CONVERSATIONS = "/api/v1/imessage/conversations"


def _held(identity: AgentIdentity) -> Message:
    conversation = ConversationFactory(identity=identity, last_message_at=None)
    return MessageFactory(conversation=conversation, is_blocked=True)


def test_a_released_message_is_no_longer_blocked_and_records_when(
    identity: AgentIdentity,
) -> None:
    message = _held(identity)

    assert held_message_release(message=message) is True

    message.refresh_from_db()
    assert not message.is_blocked
    assert message.released_at is not None


def test_a_second_release_does_nothing(identity: AgentIdentity) -> None:
    WebhookSubscriptionFactory(identity=identity)
    message = _held(identity)
    held_message_release(message=message)

    again = Message.objects.get(pk=message.pk)
    assert held_message_release(message=again) is False
    assert WebhookEvent.objects.filter(event_type="imessage.received").count() == 1


def test_the_conversation_of_a_released_message_becomes_visible_to_the_identity_key(
    identity: AgentIdentity, identity_client: Any
) -> None:
    message = _held(identity)
    assert identity_client.get(CONVERSATIONS).json() == []

    held_message_release(message=message)

    [row] = identity_client.get(CONVERSATIONS).json()
    assert row["id"] == str(message.conversation_id)


def test_an_outbound_message_cannot_be_released(identity: AgentIdentity) -> None:
    message = MessageFactory(conversation__identity=identity, direction="outbound")
    with pytest.raises(Conflict):
        held_message_release(message=message)


def test_no_event_is_emitted_for_a_disabled_identity(identity: AgentIdentity) -> None:
    identity.imessage_enabled = False
    identity.save()
    WebhookSubscriptionFactory(identity=identity)
    message = _held(identity)

    held_message_release(message=message)

    assert not WebhookEvent.objects.exists()
