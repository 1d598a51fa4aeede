"""The loop guard: at most `CONVERSATION_BURST_LIMIT` agent sends into one conversation
within 60 seconds with no inbound message from the person in between.

Checked by `messaging.services.sending.message_send` while it holds the identity's row
lock (the lock the daily cap takes), so concurrent sends are counted exactly.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from console.errors import RateLimited
from messaging.models import Conversation, Direction, Message

BURST_WINDOW = timedelta(seconds=60)
BURST_LIMITED = (
    "Too many messages into this conversation in the last 60 seconds without a reply from "
    "the person; is the agent looping?"
)


def last_inbound_at(conversation: Conversation) -> datetime | None:
    """When the person last wrote in this conversation (blocked messages excluded)."""
    row = Message.objects.filter(
        conversation=conversation, direction=Direction.INBOUND, is_blocked=False
    ).aggregate(last=Max("created_at"))
    last: datetime | None = row["last"]
    return last


def burst_check(
    *, conversation: Conversation, now: datetime, last_inbound: datetime | None
) -> None:
    """Raise 429 `conversation_burst_limited` when this send would exceed the burst limit.

    The caller holds the identity's row lock, so the count cannot change underneath.
    """
    limit = settings.CONVERSATION_BURST_LIMIT
    since = now - BURST_WINDOW
    if last_inbound is not None and last_inbound > since:
        since = last_inbound
    recent = list(
        Message.objects.filter(
            conversation=conversation, direction=Direction.OUTBOUND, created_at__gt=since
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return
    reset_at = recent[0] + BURST_WINDOW
    retry_after = max(1, math.ceil((reset_at - now).total_seconds()))
    raise RateLimited(
        BURST_LIMITED,
        code="conversation_burst_limited",
        limit=limit,
        remaining=0,
        reset_at=reset_at,
        retry_after=retry_after,
        extra={"limit": limit, "window_seconds": 60, "retry_after_seconds": retry_after},
    )
