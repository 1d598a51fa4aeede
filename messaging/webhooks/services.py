"""Agent webhook writes. `event_emit` is the one internal event function messaging calls."""

from __future__ import annotations

from console.models import AgentIdentity
from messaging.models import Message, Reaction
from messaging.webhooks.models import WebhookEvent


def event_emit(
    *,
    event_type: str,
    identity: AgentIdentity,
    message: Message | None = None,
    reaction: Reaction | None = None,
) -> WebhookEvent | None:
    """Write the event and one delivery per matching subscription in the caller's
    transaction (the outbox); deliveries are enqueued after commit.

    Returns None when nothing is to be delivered (identity disabled, blocked message).
    """
    return None
