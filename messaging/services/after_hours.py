"""The after-hours auto-reply: a person who writes during the identity's quiet hours gets
the clinic's text once per quiet period (the unique `AfterHoursReply` row decides, never a
read before the write).

Inbound calls `after_hours_inbound` inside the delivery's transaction (it opens one for an
identity with an auto-reply); it only publishes a job after commit, because the reply takes
the identity's send lock, which the intake (holding the conversation row) must not wait
for. The job counts the reply against the send cap like any send and skips it when the cap
is full.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from console.db.inserts import insert_unique
from console.errors import RateLimited
from messaging.models import (
    AfterHoursReply,
    DeliveryStatus,
    Direction,
    Message,
    QuietHours,
    SendState,
)
from messaging.services import common, scheduling
from messaging.services.quiet_hours import quiet_window_at

logger = logging.getLogger(__name__)


def _auto_reply(identity_id: uuid.UUID) -> QuietHours | None:
    return QuietHours.objects.filter(identity_id=identity_id).exclude(auto_reply="").first()


def after_hours_inbound(message: Message) -> None:
    """Publish the auto-reply job for `message` when it arrived inside quiet hours of an
    identity that has an auto-reply."""
    quiet = _auto_reply(message.identity_id)
    if quiet is None:
        return
    if quiet_window_at(quiet, number=message.remote_number, at=message.created_at) is None:
        return
    from messaging.tasks import after_hours_reply_task

    common.enqueue(after_hours_reply_task, str(message.id))


@transaction.atomic
def after_hours_reply(*, message_id: uuid.UUID | str) -> Message | None:
    """Send the auto-reply to the person who wrote `message_id`, unless this quiet period
    already had one for them, quiet hours changed, or the cap is full. Returns the reply."""
    inbound = Message.objects.select_related("identity", "conversation__line").get(pk=message_id)
    identity = inbound.identity
    scheduling.send_lock(identity)
    quiet = _auto_reply(identity.id)
    window = (
        quiet_window_at(quiet, number=inbound.remote_number, at=inbound.created_at)
        if quiet is not None
        else None
    )
    line = common.conversation_line(inbound.conversation)
    if quiet is None or window is None or line is None or not identity.imessage_enabled:
        return None
    marker = insert_unique(
        AfterHoursReply,
        identity=identity,
        remote_number=inbound.remote_number,
        period_start=window.start,
    )
    if marker is None:
        return None  # this person already had the reply in this quiet period
    now = timezone.now()
    try:
        scheduling.cap_check(identity, at=now, now=now)
    except RateLimited:
        logger.warning("after-hours reply for message %s skipped: send cap full", inbound.id)
        return None
    # The conversation's row first, as every send takes it: the insert's triggers then
    # take its send-cap bucket, in the order a cancel's delete takes the two.
    common.conversation_touch(inbound.conversation_id, now)
    reply = Message.objects.create(
        organization_id=identity.organization_id,
        identity=identity,
        conversation=inbound.conversation,
        assignment_id=inbound.conversation.assignment_id,
        line=line,
        direction=Direction.OUTBOUND,
        remote_number=inbound.remote_number,
        content=quiet.auto_reply,
        status=DeliveryStatus.QUEUED,
        is_read=True,
        send_state=SendState.QUEUED,
        next_attempt_at=now,
        created_at=now,
    )
    marker.message = reply
    marker.save(update_fields=["message"])
    from messaging.services.delivery import sends_publish_on_commit

    sends_publish_on_commit(reply.id)
    logger.info("after-hours reply %s queued for identity %s", reply.id, identity.id)
    return reply
