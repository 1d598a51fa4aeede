"""Staff takeover: a conversation handled by staff instead of the agent, and back.

While staff handle a conversation the agent's sends into it answer 409
`conversation_handed_off` and staff reply from the console through the same send path
(`sending.message_send` with `sent_by`); inbound messages still reach the agent, marked
`data.context.handled_by = "staff"`. Every change is audited and announced to the agent
(`imessage.handoff`). Organisations may hand idle conversations back automatically
(`Organization.handoff_idle_minutes`, swept by beat).

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.errors import Conflict
from console.models import Organization
from console.services import Actor, audit_record
from messaging.models import Conversation, HandledBy, Message
from messaging.services import common
from messaging.wire import handoff_state_wire

logger = logging.getLogger(__name__)

CONVERSATION_HANDED_OFF = (
    "Staff took this conversation over; the agent cannot send into it until they hand it "
    "back (imessage.handoff tells you when)."
)
CONVERSATION_NOT_HANDED_OFF = "Take the conversation over before replying as staff."
IDLE_ACTOR = Actor(type="system", id="", label="idle hand-back")


def event_context(conversation: Conversation) -> dict[str, Any] | None:
    """What `data.context` of an inbound event says about the takeover (None: nothing,
    while the agent handles the conversation)."""
    if conversation.handled_by == HandledBy.STAFF:
        return {"handled_by": HandledBy.STAFF.value}
    return None


def send_check(*, conversation: Conversation, staff: bool) -> None:
    """Agents may not send while staff handle the conversation (409
    `conversation_handed_off`); staff reply only once they took it over."""
    handled_by_staff = conversation.handled_by == HandledBy.STAFF
    if handled_by_staff and not staff:
        raise Conflict(CONVERSATION_HANDED_OFF, code="conversation_handed_off")
    if staff and not handled_by_staff:
        raise Conflict(CONVERSATION_NOT_HANDED_OFF, code="conversation_not_handed_off")


@transaction.atomic
def conversation_handoff(*, conversation: Conversation, to: str, actor: Actor) -> Conversation:
    """Hand `conversation` to staff or back to the agent; a no-op when it is already there.

    Audited, and announced to the agent as `imessage.handoff`."""
    common.group_refuse(conversation)
    locked = (
        Conversation.objects.select_for_update().select_related("identity").get(pk=conversation.pk)
    )
    if locked.handled_by == to:
        return locked
    before = handoff_state_wire(locked)
    locked.handled_by = to
    locked.handed_off_at = timezone.now()
    locked.handed_off_by = actor.label[:255]
    locked.save(update_fields=["handled_by", "handed_off_at", "handed_off_by", "updated_at"])
    after = handoff_state_wire(locked)
    audit_record(
        organization=locked.identity.organization,
        actor=actor,
        action="conversation.handoff",
        obj=locked,
        before=before,
        after=after,
    )
    common.emit(
        "imessage.handoff",
        identity=locked.identity,
        details={
            "conversation_id": str(locked.id),
            "remote_number": locked.remote_number,
            **after,
        },
    )
    logger.info("conversation %s handed to %s", locked.id, to)
    return locked


def staff_reply(*, conversation: Conversation, text: str, user: Any, actor: Actor) -> Message:
    """A staff member's reply: the agent's send path (every check, the cap, the outbox),
    recorded with `sent_by` and audited."""
    from messaging.services.sending import message_send

    with transaction.atomic():
        message = message_send(
            identity=conversation.identity,
            conversation=conversation,
            to=None,
            text=text,
            media_urls=[],
            send_style=None,
            sent_by=user,
        ).message
        audit_record(
            organization=conversation.identity.organization,
            actor=actor,
            action="conversation.staff_reply",
            obj=message,
            after={"conversation_id": str(conversation.id)},
        )
    return message


def idle_handback_sweep() -> int:
    """Hand back every conversation staff left idle longer than their organisation's
    `handoff_idle_minutes` (no message either way and no takeover since). Returns how many."""
    now = timezone.now()
    handed_back = 0
    for organization in Organization.objects.filter(handoff_idle_minutes__isnull=False):
        assert organization.handoff_idle_minutes is not None
        cutoff = now - timedelta(minutes=organization.handoff_idle_minutes)
        idle = Conversation.objects.filter(
            organization=organization, handled_by=HandledBy.STAFF, handed_off_at__lt=cutoff
        ).filter(Q(last_message_at__isnull=True) | Q(last_message_at__lt=cutoff))
        for conversation in idle:
            conversation_handoff(conversation=conversation, to=HandledBy.AGENT, actor=IDLE_ACTOR)
            handed_back += 1
    return handed_back
