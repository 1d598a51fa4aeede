"""What an API read of message content writes to the access log (`console.access`)."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.request import Request

from console.access import Viewed, api_read_record
from console.api.authentication import caller_key
from console.models import AccessKind
from messaging.models import Conversation, Message


def messages_read(request: Request, messages: Iterable[Message]) -> None:
    """One access row (admin key) or tally (identity key) per message shown."""
    api_read_record(
        request=request,
        key=caller_key(request),
        viewed=[
            Viewed(
                organization_id=m.organization_id,
                kind=AccessKind.MESSAGE,
                object_id=m.id,
                number=m.remote_number,
                conversation_id=m.conversation_id,
            )
            for m in messages
        ],
    )


def conversations_read(request: Request, conversations: Iterable[Conversation]) -> None:
    """Conversation summaries carry the latest message's text: one row per conversation."""
    api_read_record(
        request=request,
        key=caller_key(request),
        viewed=[
            Viewed(
                organization_id=c.organization_id,
                kind=AccessKind.CONVERSATION,
                object_id=c.id,
                number=c.remote_number,
                conversation_id=c.id,
            )
            for c in conversations
        ],
    )
