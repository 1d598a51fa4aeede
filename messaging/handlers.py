"""Provider-event handlers: where an event from the provider enters messaging.

The inbound chain, intake -> dispatch -> handler:

1. Intake. The provider posts to `/api/v1/provider-webhooks/{setup_id}` (optionally
   `/{event_type}`, or `/status_callback/{message_ref}`, the URL every send carries for
   its own status). `provisioning.api.webhooks.ProviderWebhookView` refuses oversized
   bodies (413), authenticates the setup by its signing secret (one identical 401 for an
   unknown setup or a wrong secret) and hands the raw body to
   `provisioning.services.intake.provider_event_receive`. That parses it with the provider
   adapter into a typed event (`InboundMessage`, `StatusUpdate`, `InboundReaction`,
   `TypingEvent`, provisioning's own line events), records malformed and unparseable
   bodies as `failed`, and then, in one transaction, records the `ProviderEvent` row
   (at most once per event key: a re-delivery is answered `duplicate` and changes
   nothing) and dispatches the event. An inbound message's handler stores that record
   itself (`inbound_message_receive`), in the transaction it opens before its first
   write (a router command, a reply, a new conversation, a blocked or group message),
   or, when the line's read found the conversation, in the one statement that stores the
   message, which needs no transaction; when it writes nothing, the intake stores the
   record afterwards.
2. Dispatch. `provisioning.dispatch.dispatch` calls every handler registered for the
   event's exact type. `register()` below, run from `MessagingConfig.ready()`, registers
   messaging's; provisioning never imports messaging.
3. Handler. Each handler here runs inside the intake's transaction (the inbound
   message's in the one it opens itself) and calls one
   messaging service: a message goes to `services.inbound.inbound_message_receive`, a
   status to `services.status` or, for a message's own callback URL,
   `services.send_recovery`, a tapback to `services.reactions`, typing to `presence`.
   Handlers only do the cheap, transactional part; slow work (media fetches, webhook
   deliveries, router replies) goes to Celery after commit.
4. Inbound message, top to bottom (`inbound_message_receive`): find the line (one query,
   `routing.inbound_selectors.inbound_line_get`, also reads the sender's connection, the filter
   verdict and whether the handle is stored), drop a re-delivered handle, then routing's
   `inbound_route` decides where the message goes and returns a `RouteResult`: the
   identity, connection and filter verdict, or None when the router consumed the text
   (connect, disconnect, help), plus any connection a router command made or ended.
   Messaging then attaches the conversation to that connection and emits
   `imessage.connected`/`imessage.disconnected` itself
   (`services.conversations.connection_attach`); routing never calls back into messaging on
   this path. Last, the message is stored and emitted to the agent's webhooks through the
   outbox.

A handler that finds the event names a line or message of another setup raises
`ForeignReference`: the intake rolls back everything the delivery did, records it
`rejected_foreign` and answers 200. Any other exception rolls the delivery back and
answers 5xx, so the provider delivers it again.

`register()` also subscribes messaging to routing's hooks for the connection changes
made outside the inbound path (a release by the agent's API key, a staff member or an
identity deletion): `services.conversations.connection_attach` attaches the conversation and
emits the connection events, and `media.media_bytes_publish` hosts the contact cards
routing's replies send.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from messaging import media, presence
from messaging.services import consent, conversations, inbound, reactions, send_recovery, status
from provisioning.dispatch import ForeignReference
from provisioning.providers.base import (
    InboundMessage,
    InboundReaction,
    StatusUpdate,
    TypingEvent,
)

if TYPE_CHECKING:
    from provisioning.models import Setup
    from provisioning.services.event_records import EventRecord

logger = logging.getLogger(__name__)


def inbound_message_handle(*, setup: Setup, event: InboundMessage, record: EventRecord) -> None:
    inbound.inbound_message_receive(setup=setup, event=event, record=record)


def status_update_handle(*, setup: Setup, event: StatusUpdate, record: Any) -> None:
    if event.message_ref is not None:
        # Posted to one message's own callback URL: tied to that message, even when the
        # send's answer (and so the handle) was lost.
        message = send_recovery.message_callback_receive(setup=setup, update=event)
        if message is not None and event.read:
            presence.message_read_record(message=message)
        return
    status.message_status_update(setup=setup, update=event)


def inbound_reaction_handle(*, setup: Setup, event: InboundReaction, record: Any) -> None:
    reactions.inbound_reaction_receive(setup=setup, event=event)


def typing_handle(*, setup: Setup, event: TypingEvent, record: Any) -> None:
    """Raises `ForeignReference` when the typing line belongs to another setup."""
    from provisioning.selectors import line_number_held_elsewhere

    # Numbers are unique across lines: held by another setup means not this setup's.
    if line_number_held_elsewhere(setup=setup, number=event.line_number):
        raise ForeignReference
    presence.typing_receive(setup=setup, event=event)


def register() -> None:
    from console import hooks as core_hooks
    from messaging.webhooks.subscriptions import identity_subscriptions_stop
    from provisioning import dispatch
    from routing import hooks

    dispatch.register(InboundMessage, inbound_message_handle, records_event=True)
    dispatch.register(StatusUpdate, status_update_handle)
    dispatch.register(InboundReaction, inbound_reaction_handle)
    dispatch.register(TypingEvent, typing_handle)
    hooks.on_assignment_changed(conversations.connection_attach)
    hooks.on_media_publish(media.media_bytes_publish)
    core_hooks.on_identity_archiving(identity_subscriptions_stop)
    hooks.on_opt_out_check(consent.identity_opted_out)
