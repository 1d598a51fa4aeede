"""Provider-event handlers, registered with the intake's dispatch registry.

Each runs inside the intake's transaction and only does the cheap, transactional part;
slow work (media fetches, sends) goes to Celery after commit.
"""

from __future__ import annotations

import logging
from typing import Any

from messaging import media, reactions, services
from provisioning.providers.base import (
    InboundMessage,
    InboundReaction,
    StatusUpdate,
    TypingEvent,
)

logger = logging.getLogger(__name__)


def inbound_message_handle(*, setup: Any, event: InboundMessage, provider_event: Any) -> None:
    services.inbound_message_receive(event=event)


def status_update_handle(*, setup: Any, event: StatusUpdate, provider_event: Any) -> None:
    services.message_status_update(update=event)


def inbound_reaction_handle(*, setup: Any, event: InboundReaction, provider_event: Any) -> None:
    reactions.inbound_reaction_receive(event=event)


def typing_handle(*, setup: Any, event: TypingEvent, provider_event: Any) -> None:
    # The agent contract has no typing event: nothing to store or forward.
    logger.debug("typing indicator on setup %s ignored", getattr(setup, "id", None))


def register() -> None:
    from provisioning import dispatch
    from routing import hooks

    dispatch.register(InboundMessage, inbound_message_handle)
    dispatch.register(StatusUpdate, status_update_handle)
    dispatch.register(InboundReaction, inbound_reaction_handle)
    dispatch.register(TypingEvent, typing_handle)
    hooks.on_assignment_changed(services.conversation_attach)
    hooks.on_media_publish(media.media_bytes_publish)
