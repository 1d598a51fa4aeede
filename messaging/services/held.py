"""Releasing a held (blocked) inbound message to its agent after review.

A released message stops being `is_blocked`: the agent's keys read it like any inbound
message and it is announced with the same `imessage.received` event the inbound path
emits. It keeps its review fields and `released_at`, so the blocked review still lists it.
A message is released once: a second release finds it already released and does nothing.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from console.errors import Conflict
from messaging.models import Direction, Message
from messaging.services import common
from messaging.services.inbound import media_fetch_enqueue

logger = logging.getLogger(__name__)

NOT_RELEASABLE = "Only a held inbound message from one person can be released."


@transaction.atomic
def held_message_release(*, message: Message) -> bool:
    """Deliver the held `message` to its agent now; False when it was released already.

    The conditional update decides concurrent releases: only the one that flips
    `is_blocked` emits the event. Raises `Conflict` for a message that was never held
    (outbound, group)."""
    if message.direction != Direction.INBOUND or message.is_group:
        raise Conflict(NOT_RELEASABLE, code="not_releasable")
    now = timezone.now()
    flipped = Message.objects.filter(pk=message.pk, is_blocked=True).update(
        is_blocked=False, released_at=now, updated_at=now
    )
    if not flipped:
        message.refresh_from_db(fields=["is_blocked", "released_at"])
        return False
    message.is_blocked = False
    message.released_at = now
    common.conversation_touch(message.conversation_id, message.created_at)
    media_fetch_enqueue(message)
    if message.identity.imessage_enabled:
        common.emit("imessage.received", identity=message.identity, message=message)
    logger.info("held message %s released to identity %s", message.id, message.identity_id)
    return True
