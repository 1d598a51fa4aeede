"""Sending: the checks in contract order, the rolling 24-hour cap, and the outbound row
stored `queued` with its job enqueued after commit. The job itself is
`messaging.services.delivery.message_deliver`.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from console.db.instances import unsaved as new_instance
from console.db.one_statement import insert_after
from console.errors import (
    ApplicationError,
    Conflict,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from console.models import AgentIdentity, ApiKey
from console.selectors import acting_identity_for_key
from console.services import Actor
from messaging import selectors
from messaging.media_urls import send_items
from messaging.models import (
    Conversation,
    Direction,
    Message,
    SendState,
)
from messaging.services import common, consent, handoff, scheduling
from messaging.services.common import (
    CONVERSATION_INACTIVE,
    IMESSAGE_NOT_ENABLED,
    RECIPIENT_NOT_E164,
)
from messaging.services.conversations import conversation_attach
from messaging.services.scheduling import RateInfo
from messaging.wire import mark_without_reactions
from provisioning.models import LineRole, PhoneLine
from routing.models import AssignmentStatus

logger = logging.getLogger(__name__)

NO_ACTIVE_ASSIGNMENT = (
    "This person is not connected to the identity. Ask them to text the connect command "
    "to the triage number, then send again."
)
DEDICATED_NOT_STARTED = (
    "This person has not messaged the identity's dedicated line yet; a conversation "
    "starts when they text it."
)


@dataclass(frozen=True)
class SendOutcome:
    message: Message
    rate: RateInfo


def _no_assignment_error(identity: AgentIdentity) -> NotFound:
    from routing.selectors import triage_info

    triage = triage_info(handle=identity.handle)
    return NotFound(
        NO_ACTIVE_ASSIGNMENT,
        code="no_active_assignment",
        extra={
            "connect_command": triage.connect_command if triage else f"connect @{identity.handle}",
            "triage_number": triage.number if triage else None,
        },
    )


def _dedicated_line(identity: AgentIdentity) -> PhoneLine | None:
    return (
        PhoneLine.objects.filter(
            identity=identity, role=LineRole.DEDICATED, number__isnull=False, released_at=None
        )
        .order_by("requested_at")
        .first()
    )


def _resolve_target(
    *,
    identity: AgentIdentity,
    conversation: Conversation | None,
    to: str | None,
    found: Conversation | None,
) -> tuple[Conversation, PhoneLine]:
    """The conversation and line a send goes out on (404/409 in contract order): the given
    `conversation`, or by `to`, where `found` is the identity's conversation with `to` as
    `selectors.conversation_for_send` read it."""
    if conversation is not None:
        line = common.conversation_line(conversation)
        if line is None:
            raise Conflict(CONVERSATION_INACTIVE, code="conversation_inactive")
        return conversation, line
    assert to is not None
    from routing.selectors import active_assignment

    conversation = found
    if conversation is not None and _on_active_connection(conversation, identity, to):
        # Usual case: the conversation already points at the person's active connection
        # (unique per identity and person), so that is the active assignment: one read.
        return conversation, common.active_line_or_409(conversation)
    assignment = active_assignment(identity=identity, remote_number=to)
    if assignment is not None:
        if (
            conversation is None
            or conversation.assignment_id != assignment.id
            or conversation.line_id != assignment.pool_line_id
        ):
            assignment.identity = identity  # same row; spares conversation_attach a read
            conversation_attach(assignment)
            conversation = selectors.conversation_for_send(identity=identity, remote_number=to)
            assert conversation is not None
        line = common.conversation_line(conversation)
        if line is None:  # pragma: no cover - attach just pointed it at the active one
            raise Conflict(CONVERSATION_INACTIVE, code="conversation_inactive")
        return conversation, line
    dedicated = _dedicated_line(identity)
    if dedicated is None:
        raise _no_assignment_error(identity)
    if conversation is None or conversation.line_id != dedicated.id:
        raise Conflict(DEDICATED_NOT_STARTED, code="conversation_inactive")
    return conversation, dedicated


def _on_active_connection(conversation: Conversation, identity: AgentIdentity, to: str) -> bool:
    """The conversation points at the identity's active connection with `to`, over its
    pool line."""
    assignment = conversation.assignment
    return (
        assignment is not None
        and assignment.status == AssignmentStatus.ACTIVE
        and assignment.identity_id == identity.id
        and assignment.remote_number == to
        and conversation.line_id == assignment.pool_line_id
    )


@dataclass(frozen=True)
class SendTarget:
    """Who sends, and into which conversation (None: a new one by `to`), replying to what."""

    identity: AgentIdentity
    conversation: Conversation | None
    reply_to: Message | None


def send_target_resolve(
    *,
    key: ApiKey,
    agent_identity_id: uuid.UUID | None,
    conversation_id: uuid.UUID | None,
    reply_to_message_id: uuid.UUID | None,
) -> SendTarget:
    """The acting identity and conversation of a send by `key`, checked before anything else.

    By conversation: the conversation must be visible to the key (`NotFound`), and a reply
    must quote a message of that conversation. By `to`: an admin key must name the identity
    it acts for. Both refusals are `ValidationFailed` naming the field.
    """
    if conversation_id:
        conversation = selectors.conversation_get(
            key=key,
            conversation_id=conversation_id,
            agent_identity_id=agent_identity_id,
            for_send=True,
        )
        reply_to: Message | None = None
        if reply_to_message_id:
            reply_to = selectors.message_get(key=key, message_id=reply_to_message_id)
            if reply_to.conversation_id != conversation.id:
                raise ValidationFailed(
                    "reply_to_message_id must be a message of this conversation.",
                    extra={"fields": {"reply_to_message_id": ["not in conversation"]}},
                )
        return SendTarget(
            identity=conversation.identity, conversation=conversation, reply_to=reply_to
        )
    acting = acting_identity_for_key(key=key, agent_identity_id=agent_identity_id)
    if acting is None:
        raise ValidationFailed(
            "agent_identity_id is required when an admin key sends by `to`.",
            extra={"fields": {"agent_identity_id": ["required"]}},
        )
    return SendTarget(identity=acting, conversation=None, reply_to=None)


# No caller catches its errors and carries on in the same transaction (the idempotent
# request and the staff reply both end theirs), so a SAVEPOINT would only add two round
# trips per send.
@transaction.atomic(savepoint=False)
def message_send(
    *,
    identity: AgentIdentity,
    conversation: Conversation | None,
    to: str | None,
    text: str | None,
    media_urls: list[str],
    send_style: str | None,
    reply_to: Message | None = None,
    send_at: datetime | None = None,
    urgent: bool = False,
    actor: Actor | None = None,
    sent_by: Any = None,
    stored_with: Callable[[Message, RateInfo], Sequence[Model]] | None = None,
) -> SendOutcome:
    """Store an outbound message `queued` and enqueue its send after commit.

    Checks in contract order: 400 imessage_not_enabled, 403 recipient_blocked,
    403 recipient_opted_out, 404 no_active_assignment / 409 conversation_inactive,
    409 conversation_handed_off, then the timing checks of `scheduling.send_slot`
    (429 conversation_burst_limited, quiet hours, 429 send_rate_limited). A scheduled or
    held send is stored `pending` with `scheduled_for` and goes out through the same outbox
    when due; `urgent` skips quiet hours (audited). `sent_by`: the staff user replying from
    the console (see `messaging.services.handoff`). `stored_with`: rows to insert in the
    message's own statement, built from the message as it is stored and the window's
    rate (the idempotency record with its response); an integrity error of theirs undoes
    the send.
    """
    from routing.rule_decisions import identity_mode, verdict
    from routing.services.contact_rules import outbound_permission_check

    if not identity.imessage_enabled:
        raise ApplicationError(IMESSAGE_NOT_ENABLED, code="imessage_not_enabled")
    if conversation is not None:
        common.group_refuse(conversation)
    remote = conversation.remote_number if conversation is not None else to
    assert remote is not None
    if not common.is_phone(remote):
        raise Unprocessable(RECIPIENT_NOT_E164, code="recipient_not_e164")
    # By `to`, the person's conversation is read once, with the recipient checks.
    found = (
        conversation
        if conversation is not None
        else selectors.conversation_for_send(identity=identity, remote_number=remote)
    )
    # Without them (a conversation read elsewhere) each check reads its own.
    checks = selectors.recipient_checks(found) if found is not None else None
    decision = (
        verdict(
            mode=identity_mode(identity, "outbound"),
            blocking=checks.blocking_rule_id,
            allowing=checks.allowing_rule_id,
        )
        if checks is not None
        else None
    )
    outbound_permission_check(identity=identity, number=remote, decision=decision)
    consent.send_check(
        identity=identity, number=remote, opted_out=checks.opted_out if checks else None
    )
    conversation, line = _resolve_target(
        identity=identity, conversation=conversation, to=to, found=found
    )
    handoff.send_check(conversation=conversation, staff=sent_by is not None)
    # By `to`, the conversation's read took the lock; otherwise it is taken now.
    held = selectors.send_lock_of(conversation)
    quiet = held.quiet_hours if held is not None else scheduling.send_lock(identity)
    now = timezone.now()
    slot = scheduling.send_slot(
        identity=identity,
        conversation=conversation,
        now=now,
        send_at=send_at,
        urgent=urgent,
        quiet=quiet,
    )
    timing = scheduling.timing_fields(slot.scheduled_for, now=now)
    unsaved = new_instance(
        Message,
        organization_id=identity.organization_id,
        identity=identity,
        conversation=conversation,
        assignment_id=conversation.assignment_id,
        line=line,
        direction=Direction.OUTBOUND,
        remote_number=conversation.remote_number,
        content=text or None,
        send_style=send_style,
        media=send_items(organization_id=identity.organization_id, urls=media_urls),
        is_read=True,
        reply_to=reply_to,
        sent_by=sent_by,
        send_state=SendState.QUEUED,
        created_at=now,
        **timing,
    )
    # A new message has no reactions: its wire form (the response) needs no read.
    mark_without_reactions(unsaved)

    def beside(stored: Message) -> list[Sequence[Model]]:
        return [stored_with(stored, slot.rate)] if stored_with is not None else []

    # The conversation's last message and counters move in the insert's own statement.
    touch = common.conversation_touched(conversation.pk, now, counting=unsaved)
    message = insert_after(unsaved, leading=[touch], dependents=beside)
    if urgent and actor is not None:
        from messaging.services.quiet_hours import urgent_send_audit

        urgent_send_audit(identity=identity, actor=actor, message_id=message.id)
    if slot.scheduled_for is None:
        from messaging.services.delivery import sends_publish_on_commit

        sends_publish_on_commit(message.id)
    logger.info("message %s accepted for identity %s", message.id, identity.id)
    return SendOutcome(message=message, rate=slot.rate)


def rate_status(*, identity: AgentIdentity) -> RateInfo:
    """The identity's current window (for headers on replays or reads)."""
    return scheduling.cap_status(identity, now=timezone.now())
