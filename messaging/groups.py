"""Inbound group messages: stored for audit, kept out of every 1:1 thread.

Conversations are 1:1; group iMessage threads are not supported. A group message that
reaches one of our lines is stored in a group conversation of its own (`is_group`, with
the thread's participants) so admins and the console can see what was said, but it never
enters the sender's 1:1 conversation, never produces an agent event, and the router never
answers it: a reply would reach one member privately instead of the group.
"""

from __future__ import annotations

import hashlib
import logging

from django.utils import timezone

from console.models import AgentIdentity
from messaging.models import Conversation, Message
from messaging.services.inbound import inbound_message_store, media_fetch_enqueue
from provisioning.models import LineRole, PhoneLine
from provisioning.providers.base import InboundMessage
from routing.models import Assignment

logger = logging.getLogger(__name__)

GROUP_NOT_SUPPORTED = "Group conversations are kept for audit only; nothing can be sent to them."


def group_key(event: InboundMessage) -> str:
    """The provider's group id, or (when it gave none) one derived from the members."""
    if event.group_id:
        return event.group_id
    members = ",".join(sorted(set(event.participants) | {event.from_number}))
    return f"members:{hashlib.sha256(members.encode()).hexdigest()[:32]}"


def _owner(line: PhoneLine, event: InboundMessage) -> tuple[AgentIdentity, Assignment | None]:
    """Whose audit trail the group message belongs to: a dedicated line's identity, or on a
    pool line the identity a member of the thread is connected to over it."""
    from routing.selectors import group_connection_on_line

    if line.role == LineRole.DEDICATED and line.identity is not None:
        return line.identity, None
    if line.role == LineRole.POOL:
        connection = group_connection_on_line(
            line=line, sender=event.from_number, participants=event.participants
        )
        if connection is not None:
            return connection.identity, connection
    raise LookupError


def group_message_receive(*, line: PhoneLine, event: InboundMessage) -> Message | None:
    """Store an inbound group message once, for audit (see the module docstring).

    Returns None, storing nothing, when the thread belongs to nobody: a router line, an
    unattached dedicated line, or a pool line no member is connected over.
    """
    try:
        identity, assignment = _owner(line, event)
    except LookupError:
        logger.info("group message on line %s belongs to no identity; not stored", line.id)
        return None
    now = timezone.now()
    participants = list(event.participants) or [event.from_number]
    conversation, _ = Conversation.objects.get_or_create(
        identity=identity,
        group_id=group_key(event),
        is_group=True,
        defaults={
            "organization_id": identity.organization_id,
            "remote_number": "",
            "line": line,
            "participants": participants,
        },
    )
    message = inbound_message_store(
        event=event,
        identity=identity,
        conversation=conversation,
        assignment=assignment,
        line=line,
        created_at=now,
        sender_number=event.from_number,
        is_group=True,
        participants=participants,
    )
    if message is None:
        return None
    Conversation.objects.filter(pk=conversation.pk).update(
        participants=participants, last_message_at=now, updated_at=now
    )
    media_fetch_enqueue(message)
    logger.info("group message %s stored for audit (identity %s)", message.id, identity.id)
    return message
