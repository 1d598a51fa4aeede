"""Provider-event handlers, registered with the intake's dispatch registry.

Each runs inside the intake's transaction and only does the cheap, transactional part;
slow work (media fetches, sends) goes to Celery after commit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from messaging import media, presence, reactions, send_recovery, services
from provisioning.dispatch import ForeignReference
from provisioning.providers.base import (
    InboundMessage,
    InboundReaction,
    StatusUpdate,
    TypingEvent,
)

if TYPE_CHECKING:
    from provisioning.models import Setup

logger = logging.getLogger(__name__)


def inbound_message_handle(*, setup: Setup, event: InboundMessage, provider_event: Any) -> None:
    services.inbound_message_receive(setup=setup, event=event)


def status_update_handle(*, setup: Setup, event: StatusUpdate, provider_event: Any) -> None:
    if event.message_ref is not None:
        # Posted to one message's own callback URL: tied to that message, even when the
        # send's answer (and so the handle) was lost.
        message = send_recovery.message_callback_receive(setup=setup, update=event)
        if message is not None and event.read:
            presence.message_read_record(message=message)
        return
    services.message_status_update(setup=setup, update=event)


def inbound_reaction_handle(*, setup: Setup, event: InboundReaction, provider_event: Any) -> None:
    reactions.inbound_reaction_receive(setup=setup, event=event)


def typing_handle(*, setup: Setup, event: TypingEvent, provider_event: Any) -> None:
    """Raises `ForeignReference` when the typing line belongs to another setup."""
    from provisioning.selectors import line_number_held_elsewhere

    # Numbers are unique across lines: held by another setup means not this setup's.
    if line_number_held_elsewhere(setup=setup, number=event.line_number):
        raise ForeignReference
    presence.typing_receive(setup=setup, event=event)


def register() -> None:
    from provisioning import dispatch
    from routing import hooks

    dispatch.register(InboundMessage, inbound_message_handle)
    dispatch.register(StatusUpdate, status_update_handle)
    dispatch.register(InboundReaction, inbound_reaction_handle)
    dispatch.register(TypingEvent, typing_handle)
    hooks.on_assignment_changed(services.conversation_attach)
    # After the attach: the connection events name the conversation it made.
    hooks.on_assignment_changed(presence.connection_changed)
    hooks.on_media_publish(media.media_bytes_publish)
