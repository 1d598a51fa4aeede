"""`send_target_resolve`: who sends into which conversation, checked before the send."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.errors import NotFound, ValidationFailed
from console.models import AgentIdentity
from console.services import IssuedApiKey
from messaging.models import Conversation
from messaging.services.sending import send_target_resolve
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.sends import send_now


def test_by_conversation_the_conversation_names_the_identity_and_the_reply(
    admin_key: IssuedApiKey, conversation: Conversation
) -> None:
    quoted = MessageFactory(conversation=conversation)

    target = send_target_resolve(
        key=admin_key.record,
        agent_identity_id=None,
        conversation_id=conversation.id,
        reply_to_message_id=quoted.id,
    )

    assert (target.identity, target.conversation, target.reply_to) == (
        conversation.identity,
        conversation,
        quoted,
    )


def test_a_reply_must_quote_a_message_of_the_same_conversation(
    admin_key: IssuedApiKey, conversation: Conversation
) -> None:
    elsewhere = MessageFactory(conversation=ConversationFactory(identity=conversation.identity))

    with pytest.raises(ValidationFailed) as refused:
        send_target_resolve(
            key=admin_key.record,
            agent_identity_id=None,
            conversation_id=conversation.id,
            reply_to_message_id=elsewhere.id,
        )

    assert refused.value.extra == {"fields": {"reply_to_message_id": ["not in conversation"]}}


def test_a_conversation_outside_the_key_is_not_found(
    identity_key: IssuedApiKey, outsider_identity: AgentIdentity
) -> None:
    foreign = ConversationFactory(identity=outsider_identity)

    with pytest.raises(NotFound):
        send_target_resolve(
            key=identity_key.record,
            agent_identity_id=None,
            conversation_id=foreign.id,
            reply_to_message_id=None,
        )


def test_an_admin_key_sending_by_to_must_name_the_identity(admin_key: IssuedApiKey) -> None:
    with pytest.raises(ValidationFailed) as refused:
        send_target_resolve(
            key=admin_key.record,
            agent_identity_id=None,
            conversation_id=None,
            reply_to_message_id=None,
        )

    assert refused.value.extra == {"fields": {"agent_identity_id": ["required"]}}


def test_by_to_a_scoped_key_acts_as_its_identity_and_an_admin_key_as_the_one_named(
    admin_key: IssuedApiKey, identity_key: IssuedApiKey, identity: AgentIdentity
) -> None:
    scoped = send_target_resolve(
        key=identity_key.record,
        agent_identity_id=None,
        conversation_id=None,
        reply_to_message_id=None,
    )
    named = send_target_resolve(
        key=admin_key.record,
        agent_identity_id=identity.id,
        conversation_id=None,
        reply_to_message_id=None,
    )

    assert (scoped.identity, scoped.conversation, scoped.reply_to) == (identity, None, None)
    assert named.identity == identity


def test_a_send_moves_the_conversations_last_message_to_its_time(conversation) -> None:
    message = send_now(conversation)

    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at
    assert conversation.visible_count == 1  # counted once, beside the touch


def test_a_send_never_moves_the_conversations_last_message_back(conversation) -> None:
    later = timezone.now() + timedelta(hours=1)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=later)

    send_now(conversation)

    conversation.refresh_from_db()
    assert conversation.last_message_at == later
