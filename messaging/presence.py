"""What the person does besides writing: reading our messages, typing, connecting and
disconnecting. Each becomes an opt-in agent webhook event (`imessage.read`,
`imessage.typing`, `imessage.connected`, `imessage.disconnected`), sent only to
subscriptions that list it, and never for a person the identity's inbound rules block.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.utils import timezone

from console.timestamps import iso
from messaging.models import Conversation, Message
from messaging.services import common
from provisioning.models import LineRole, PhoneLine, Setup
from provisioning.providers.base import TypingEvent
from routing.models import Assignment, AssignmentStatus

logger = logging.getLogger(__name__)


def message_read_record(*, message: Message, at: datetime | None = None) -> bool:
    """Record that the person read our outbound `message` (once) and emit `imessage.read`;
    returns whether this call recorded it. The status stays `delivered`."""
    at = at or timezone.now()
    recorded = Message.objects.filter(pk=message.pk, read_at__isnull=True).update(
        read_at=at, updated_at=timezone.now()
    )
    if not recorded:
        return False
    message.refresh_from_db()
    common.emit("imessage.read", identity=message.identity, message=message)
    return True


def _inbound_allowed(conversation: Conversation, number: str) -> bool:
    from routing.rule_decisions import contact_decision

    decision = contact_decision(identity=conversation.identity, number=number, direction="inbound")
    return decision.allowed


def _typing_conversation(line: PhoneLine, contact: str) -> Conversation | None:
    """The 1:1 conversation a typing person is in on `line`, if they have one there."""
    from routing.selectors import active_assignment_on_line

    if line.role == LineRole.POOL:
        assignment = active_assignment_on_line(line=line, remote_number=contact)
        identity_id = assignment.identity_id if assignment else None
    elif line.role == LineRole.DEDICATED:
        identity_id = line.identity_id
    else:
        return None
    if identity_id is None:
        return None
    return (
        Conversation.objects.select_related("identity")
        .filter(identity_id=identity_id, remote_number=contact, is_group=False)
        .first()
    )


def typing_receive(*, setup: Setup, event: TypingEvent) -> bool:
    """Forward the person's typing on one of `setup`'s lines as `imessage.typing`; returns
    whether an event was written. Typing with no conversation yet, on the router, or from
    a blocked person is dropped (typing is ephemeral: nothing is stored)."""
    from provisioning.selectors import line_by_number

    line = line_by_number(setup=setup, number=event.line_number)
    if line is None:
        return False
    conversation = _typing_conversation(line, event.contact_number)
    if conversation is None or not _inbound_allowed(conversation, event.contact_number):
        logger.debug("typing on line %s not forwarded", line.id)
        return False
    common.emit(
        "imessage.typing",
        identity=conversation.identity,
        details={
            "conversation_id": str(conversation.id),
            "remote_number": conversation.remote_number,
            "is_typing": event.is_typing,
            "timestamp": iso(event.at or timezone.now()),
        },
    )
    return True


def connection_changed(assignment: Assignment, *, conversation_id: uuid.UUID | None) -> None:
    """After `conversation_attach` (both from `services.conversations.connection_attach`), which
    answered the person's `conversation_id`: a new connection emits `imessage.connected`,
    a released one `imessage.disconnected` with its reason."""
    details: dict[str, object] = {
        "assignment_id": str(assignment.id),
        "conversation_id": str(conversation_id) if conversation_id else None,
        "remote_number": assignment.remote_number,
    }
    if assignment.status == AssignmentStatus.ACTIVE:
        common.emit("imessage.connected", identity=assignment.identity, details=details)
    else:
        details["reason"] = assignment.release_reason or None
        common.emit("imessage.disconnected", identity=assignment.identity, details=details)
