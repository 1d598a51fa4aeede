"""Inbound: a provider message stored once on its conversation, and the one conversation
per (identity, person) that routing's assignments point at.

`inbound_message_receive` is called by the provider intake (see `messaging.handlers`),
opens the delivery's transaction before its first write (a connected person's message is
one statement and needs none), and reads top to bottom: routing's `inbound_route` decides where the
message goes and returns any connection a router command made or ended;
`connection_attach` then points the conversation at it and announces it. Media
re-hosting goes to Celery after commit.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.db.models import Exists, OuterRef, Subquery, UUIDField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.db.instances import unsaved as new_instance
from console.db.one_statement import insert_with_dependents, writes_in_one_statement
from console.db.prepared import BoundUpdate
from console.models import AgentIdentity
from messaging.media import inbound_media_items
from messaging.models import Conversation, DeliveryStatus, Direction, Message, QuietHours
from messaging.services import common, consent, handoff
from messaging.services.conversations import (
    connection_attach,
    conversation_get_or_create,
    conversation_received_update,
    received_conversation,
)
from messaging.webhooks import events as webhook_events
from messaging.webhooks.events import NEVER_CHANGED
from messaging.webhooks.models import SubscriptionSetVersion
from messaging.wire import mark_without_reactions
from provisioning.dispatch import ForeignReference
from provisioning.models import LineRole, PhoneLine, Setup
from provisioning.providers.base import InboundMessage
from routing.inbound_selectors import ROUTED_IDENTITY, InboundLine, InboundLineReader
from routing.models import Assignment

if TYPE_CHECKING:
    from provisioning.services.event_records import EventRecord
    from routing.services.router import InboundRoute

logger = logging.getLogger(__name__)


def inbound_message_receive(
    *, setup: Setup, event: InboundMessage, record: EventRecord | None = None
) -> Message | None:
    """Store an inbound message on a line of `setup` once and hand it to the agent webhook
    layer.

    Routing decides the identity (None: consumed as a router command or unroutable).
    Group messages go to `messaging.groups` (audit only, never a 1:1 conversation).
    Blocked senders are stored `is_blocked` for audit with no event; a disabled identity
    gets the row but no event. A re-delivered provider handle is a no-op. Raises
    `ForeignReference` when the line or the handle belongs to another setup.

    `record`: the delivery's provider event, when the intake leaves storing it to this
    function (`provisioning.dispatch.register(..., records_event=True)`). It is stored
    before the first write (nothing is written when an earlier delivery stored it), or,
    when the line's read found the conversation and the sender is not blocked, in the
    message's own statement.

    The writes share one transaction, opened before the first of them: the common case
    (that statement, on PostgreSQL) is atomic on its own and runs without one.
    """
    with _Writes(record) as writes:
        return _receive(setup=setup, event=event, writes=writes)


class _Writes(ExitStack):
    """An inbound delivery's writes: `first()` before each write opens their transaction
    (without a savepoint: no caller catches an error and carries on in the same
    transaction) and stores the delivery's record in it; False when an earlier delivery
    stored it, and then nothing may be written."""

    def __init__(self, record: EventRecord | None) -> None:
        super().__init__()
        self.record = record
        self.opened = False

    def first(self) -> bool:
        if not self.opened:
            self.enter_context(transaction.atomic(savepoint=False))
            self.opened = True
        return self.record is None or self.record.store()

    def gate(self) -> EventRecord | None:
        """The record, when the message's statement is to store it."""
        if self.record is None or self.record.stored is not None:
            return None
        return self.record


def _receive(*, setup: Setup, event: InboundMessage, writes: _Writes) -> Message | None:
    from provisioning.selectors import line_number_held_elsewhere

    target = _inbound_target(
        setup=setup,
        number=event.to_number,
        sender=event.from_number,
        provider_handle=event.provider_handle,
        person=event.from_number,
    )
    if target is None:
        if line_number_held_elsewhere(setup=setup, number=event.to_number):
            raise ForeignReference
        logger.warning("inbound message for an unknown line ignored")
        return None
    line = target.line
    if target.extra["handle_stored"]:
        # An early exit only: the insert below is what guarantees one row per handle.
        if target.extra["handle_setup_id"] != setup.id:
            raise ForeignReference
        return None

    if event.is_group:
        from messaging.groups import group_message_receive

        if not writes.first():
            return None
        # Kept for audit only: no 1:1 conversation, no agent event, no router reply.
        return group_message_receive(line=line, event=event)
    if line.role == LineRole.ROUTER and (
        not writes.first()
        or consent.router_message_screen(line=line, sender=event.from_number, text=event.content)
    ):
        return None
    route = message_route(
        line=line,
        sender=event.from_number,
        text=event.content,
        resolved=target,
        before_change=writes.first,
    )
    if route is None:
        return None
    identity = route.identity
    now = timezone.now()
    conversation = None
    touch: Callable[[Message], BoundUpdate] | None = None
    if not route.is_blocked:
        # Keep the conversation on the line the person is using now: when the line's read
        # found it, in the message's own statement (which counts the message there too),
        # else in the statement that reads it. Should the insert find the handle stored
        # by a concurrent delivery after all, that one moved `last_message_at` to about
        # the same moment.
        def received_now(counting: Message | None = None) -> BoundUpdate:
            return conversation_received_update(
                identity=identity,
                remote_number=event.from_number,
                line=route.line,
                assignment=route.assignment,
                at=now,
                counting=counting,
            )

        conversation = _conversation_beside_line(target, identity=identity, route=route)
        if conversation is not None:
            touch = received_now
        elif writes.first():
            conversation = received_conversation(received_now().run(), identity)
        else:
            return None
    if conversation is None:
        if not writes.first():
            return None
        conversation = conversation_get_or_create(
            identity=identity,
            remote_number=event.from_number,
            defaults={
                "assignment": route.assignment,
                "line": route.line,
                "last_message_at": None if route.is_blocked else now,
            },
        )
    # STOP, START and HELP are answered and recorded instead of reaching the agent.
    keyword = consent.keyword_of(event.content)
    announced = keyword is None and not route.is_blocked and identity.imessage_enabled

    def received(message: Message) -> webhook_events.PendingEvent | None:
        return common.event_build(
            "imessage.received",
            identity=identity,
            message=message,
            context=handoff.event_context(conversation),
            # The version read beside the line speaks of the identity the line routed to.
            subscriptions_version=(
                target.extra["subscriptions_version"] if identity == target.identity else None
            ),
        )

    # What must commit with the message, or not at all, needs the transaction: a
    # keyword's answer (written after it), the after-hours reply's job (no sweep publishes
    # it again), the conversation's update without a record to guard it, and the several
    # statements of a store elsewhere than on PostgreSQL.
    needs_transaction = (
        keyword is not None
        or (announced and target.extra["has_auto_reply"])
        or writes.record is None
        or not writes_in_one_statement(Message)
    )
    if needs_transaction and not writes.first():
        return None
    message = inbound_message_store(
        event=event,
        identity=identity,
        conversation=conversation,
        assignment=route.assignment,
        line=route.line,
        created_at=now,
        announce=received if announced else None,
        touch=touch,
        record=writes.gate(),
        is_blocked=route.is_blocked,
        blocked_rule_id=route.matched_rule_id if route.is_blocked else None,
    )
    if message is None:
        return None
    if keyword is not None:
        consent.keyword_answer(message=message, identity=identity, line=route.line, keyword=keyword)
    if route.is_blocked:
        logger.info("inbound message %s stored blocked", message.id)
        return message
    media_fetch_enqueue(message)
    if announced and target.extra["has_auto_reply"]:
        from messaging.services.after_hours import after_hours_inbound

        after_hours_inbound(message)
    logger.info("inbound message %s stored for identity %s", message.id, identity.id)
    return message


def _inbound_extra(provider_handle: str, person: str) -> dict[str, Any]:
    """What messaging reads beside the line (`_inbound_target`): whether the handle is
    stored already and on which setup's line, the conversation of the identity the
    message goes to with `person` (its id and who handles it), whether that identity has
    an after-hours auto-reply, and the version of its webhook subscriptions."""
    stored = Message.objects.filter(provider_handle=provider_handle).order_by()
    conversation = Conversation.objects.filter(
        identity_id=OuterRef(ROUTED_IDENTITY), remote_number=person, is_group=False
    ).order_by()
    return {
        "conversation_id": Subquery(conversation.values("id")[:1], output_field=UUIDField()),
        "conversation_handled_by": Subquery(conversation.values("handled_by")[:1]),
        "handle_stored": Exists(stored),
        # Typed explicitly: a foreign key's column would come back as text on SQLite.
        "handle_setup_id": Subquery(stored.values("line__setup_id")[:1], output_field=UUIDField()),
        "has_auto_reply": Exists(
            QuietHours.objects.filter(identity_id=OuterRef(ROUTED_IDENTITY)).exclude(auto_reply="")
        ),
        # Lets the agent event reuse the subscriptions this process read at this version.
        "subscriptions_version": Coalesce(
            Subquery(
                SubscriptionSetVersion.objects.filter(identity_id=OuterRef(ROUTED_IDENTITY)).values(
                    "version"
                )[:1]
            ),
            Value(NEVER_CHANGED, output_field=UUIDField()),
            output_field=UUIDField(),
        ),
    }


# The line an inbound message arrives on, with routing's reads and messaging's own
# (`_inbound_extra`), in one statement compiled once per process.
_inbound_target = InboundLineReader(_inbound_extra, provider_handle=str, person=str)


def _conversation_beside_line(
    target: InboundLine, *, identity: AgentIdentity, route: InboundRoute
) -> Conversation | None:
    """The conversation the line's read found, as the route's touch leaves it (its other
    columns load when read); None when there was none or the message goes to another
    identity than the line routed to (a router command's connection).

    Who handles it is as the line's read found it: a staff takeover that commits while
    this message is being stored reaches the agent as its own `imessage.handoff` event,
    and the agent's sends are refused from the takeover's commit on (`handoff.send_check`),
    whatever this message's event says."""
    conversation_id = target.extra["conversation_id"]
    if conversation_id is None or identity != target.identity:
        return None
    known: dict[str, Any] = {
        "id": conversation_id,
        "organization_id": identity.organization_id,
        "identity_id": identity.pk,
        "remote_number": target.sender,
        "is_group": False,
        "handled_by": target.extra["conversation_handled_by"],
        "line_id": route.line.pk,
    }
    if route.assignment is not None:
        known["assignment_id"] = route.assignment.pk
    # `from_db` takes the values in the model's column order.
    names = [f.attname for f in Conversation._meta.concrete_fields if f.attname in known]
    conversation = Conversation.from_db(
        router.db_for_read(Conversation), names, [known[name] for name in names]
    )
    conversation.identity = identity
    return conversation


def inbound_message_store(
    *,
    event: InboundMessage,
    identity: AgentIdentity,
    conversation: Conversation,
    assignment: Assignment | None,
    line: PhoneLine,
    created_at: datetime,
    announce: Callable[[Message], webhook_events.PendingEvent | None] | None = None,
    touch: Callable[[Message], BoundUpdate] | None = None,
    record: EventRecord | None = None,
    **fields: Any,
) -> Message | None:
    """Insert the message `event` carries (1:1 or group: `fields` adds the rest) and the
    agent event `announce` builds from it, with the conversation update `touch` builds
    for it (one statement on PostgreSQL); None when the same provider handle raced in
    through another delivery of this setup, stored once already (then no event is stored
    and the update does not run either). Raises `ForeignReference` when the stored row is
    on another setup's line.

    With `record` (the delivery's provider event, not stored yet) the statement stores it
    first and nothing else unless it went in: None, with nothing written, when an earlier
    delivery of the event stored it."""
    announcement: webhook_events.PendingEvent | None = None

    def event_rows(message: Message) -> list[list[Any]]:
        nonlocal announcement
        mark_without_reactions(message)
        announcement = announce(message) if announce is not None else None
        return announcement.rows if announcement is not None else []

    unsaved = new_instance(
        Message,
        organization_id=identity.organization_id,
        identity=identity,
        conversation=conversation,
        assignment=assignment,
        line=line,
        direction=Direction.INBOUND,
        remote_number=event.from_number,
        content=event.content or None,
        service=event.service or "imessage",
        media=inbound_media_items(event.media_url),
        status=DeliveryStatus.RECEIVED,
        provider_handle=event.provider_handle,
        created_at=created_at,
        **fields,
    )
    gate = record.gate() if record is not None else None
    leading = (touch(unsaved),) if touch is not None else ()
    message = insert_with_dependents(unsaved, event_rows, leading=leading, gate=gate)
    if record is not None and not record.settle():
        return None
    if message is None:
        owner = (
            Message.objects.filter(provider_handle=event.provider_handle)
            .values_list("line__setup_id", flat=True)
            .first()
        )
        if owner != line.setup_id:
            raise ForeignReference
        return None
    if announcement is not None:
        announcement.recorded()
    return message


def media_fetch_enqueue(message: Message) -> None:
    """Re-host the message's media after commit (a Celery job per message)."""
    if message.media:
        from messaging.tasks import media_rehost_task

        common.enqueue(media_rehost_task, str(message.id))


def message_route(
    *,
    line: PhoneLine,
    sender: str,
    text: str,
    resolved: InboundLine | None = None,
    before_change: Callable[[], bool] | None = None,
) -> InboundRoute | None:
    """Where routing sends an inbound message (None: consumed or unroutable); a connection
    a router command made or ended is attached and announced here, before returning.
    `resolved`: the line as `inbound_line_get` read it with this sender; `before_change`:
    see `routing.services.router.inbound_route`."""
    from routing.services.router import inbound_route

    result = inbound_route(
        line=line,
        sender=sender,
        text=text,
        resolved=resolved,
        before_change=before_change,
    )
    if result.changed is not None:
        connection_attach(result.changed)
    return result.route
