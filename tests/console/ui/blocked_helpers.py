"""Blocked messages for the review tests: one conversation per (identity, sender)."""

from __future__ import annotations

from typing import Any

from console.models import AgentIdentity
from messaging.models import Conversation, Message
from tests.messaging.factories import ConversationFactory, MessageFactory

SENDER = "+12025550147"


def blocked_message(identity: AgentIdentity, sender: str = SENDER, **kwargs: Any) -> Message:
    conversation = Conversation.objects.filter(identity=identity, remote_number=sender).first()
    if conversation is None:
        conversation = ConversationFactory(
            identity=identity, remote_number=sender, last_message_at=None
        )
    return MessageFactory(conversation=conversation, is_blocked=True, **kwargs)
