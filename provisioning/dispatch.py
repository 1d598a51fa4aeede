"""The registry the provider webhook intake dispatches typed events through.

Apps register handlers in their `AppConfig.ready()` so that provisioning never imports
messaging or routing:

    from provisioning import dispatch
    from provisioning.providers.base import InboundMessage

    dispatch.register(InboundMessage, inbound_message_handle)

A handler is called as `handler(*, setup=..., event=..., record=...)` inside the
intake's transaction, after the delivery's `ProviderEvent` was recorded (`record`, a
`provisioning.services.event_records.EventRecord`), so a repeated delivery never reaches
it. A handler registered with `records_event=True` is called before that instead, outside
any transaction, while it is the event's only handler: it opens its own before its first
write and stores the record in it, or stores the record with its only write, one
statement (see `EventRecord`); on PostgreSQL that saves the record's round trip and the
transaction's. It must be quick: slow work (media fetches, router replies, agent
webhooks) goes to Celery with `transaction.on_commit`. An exception rolls the delivery's
transaction back (the event is not recorded) and the intake answers 500, so the provider
delivers it again.

A handler may only act on what `setup` owns: its lines (platform router and pool lines
belong to the platform setup) and the messages on them. Its lookups are scoped to the setup
in the query (`line__setup=setup`). When the event names a line or message that exists but
belongs to another setup, the handler raises `ForeignReference`: the intake rolls back
everything the delivery did, records the event as `rejected_foreign` and answers 200, so a
valid secret of one setup can never touch another's data.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from provisioning.models import Setup
    from provisioning.services.event_records import EventRecord


class ForeignReference(Exception):
    """The event names a line, message or handle that belongs to another setup."""


class Handler(Protocol):
    def __call__(self, *, setup: Setup, event: Any, record: EventRecord) -> None: ...


_handlers: dict[type, list[Handler]] = defaultdict(list)
# Handlers that can store the delivery's record themselves, by event class.
_recording: dict[type, Handler] = {}


def register(event_class: type, handler: Handler, *, records_event: bool = False) -> None:
    """Add `handler` for events of exactly `event_class` (registering twice is a no-op).
    `records_event`: the handler can store the delivery's record itself (see the module's
    docstring), which it does while it is the class's only handler."""
    if handler not in _handlers[event_class]:
        _handlers[event_class].append(handler)
    if records_event:
        _recording[event_class] = handler


def unregister(event_class: type, handler: Handler) -> None:
    if handler in _handlers[event_class]:
        _handlers[event_class].remove(handler)
    if _recording.get(event_class) == handler:
        del _recording[event_class]


def handlers_for(event_class: type) -> list[Handler]:
    return list(_handlers.get(event_class, ()))


def handler_records(event_class: type) -> bool:
    """Whether the handler of `event_class` stores the delivery's record itself: it can,
    and it is the only one (with others, the intake stores the record before them all)."""
    return _handlers.get(event_class) == [_recording.get(event_class)]


def dispatch(*, setup: Setup, event: Any, record: EventRecord) -> int:
    """Call every handler registered for `type(event)`; returns how many ran."""
    handlers = handlers_for(type(event))
    for handler in handlers:
        handler(setup=setup, event=event, record=record)
    return len(handlers)
