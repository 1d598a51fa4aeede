"""The loop guard: at most `CONVERSATION_BURST_LIMIT` agent sends into one conversation
within 60 seconds with no inbound message from the person in between.

Checked by `messaging.services.sending.message_send` while it holds the identity's row
lock (the lock the daily cap takes), so concurrent sends are counted exactly. The pace is
read by `messaging.services.scheduling.send_slot` beside the cap window, in one statement
(`pace_columns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DateTimeField, Min, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from console.errors import RateLimited
from messaging.models import Direction, Message

BURST_WINDOW = timedelta(seconds=60)
BURST_LIMITED = (
    "Too many messages into this conversation in the last 60 seconds without a reply from "
    "the person; is the agent looping?"
)


@dataclass(frozen=True)
class Pace:
    """A conversation's recent traffic: when the person last wrote (blocked messages
    excluded), and the agent sends since then within `BURST_WINDOW` (how many, the oldest)."""

    last_inbound: datetime | None
    recent: int
    oldest_recent: datetime | None


def pace_columns(*, conversation_id: Any, since: datetime) -> dict[str, Any]:
    """The `Pace` of a conversation as expressions over one of its rows (its own id, or
    the placeholder of a prepared query): `last_inbound`, `recent`, `oldest_recent`."""
    messages = Message.objects.filter(conversation_id=conversation_id)
    last_inbound = Subquery(
        messages.filter(direction=Direction.INBOUND, is_blocked=False)
        .order_by("-created_at")
        .values("created_at")[:1],
        output_field=DateTimeField(),
    )
    # Sent after `since` and after the person's last message: one bound, which no plan
    # can estimate better than another. As two, the bound a plan made for the call's
    # own `since` looked cheaper than one made for any value, so PostgreSQL planned this
    # statement anew on every send (0.6 ms of its CPU) rather than once.
    since_value = Value(since, DateTimeField())
    after = Greatest(Coalesce(last_inbound, since_value), since_value)
    recent = (
        messages.filter(direction=Direction.OUTBOUND, created_at__gt=after)
        .order_by()
        .values("conversation_id")
    )
    return {
        "last_inbound": last_inbound,
        "recent": Subquery(recent.annotate(n=Count("pk")).values("n")),
        "oldest_recent": Subquery(recent.annotate(m=Min("created_at")).values("m")),
    }


def pace_of(row: dict[str, Any]) -> Pace:
    """The `Pace` that `pace_columns` read."""
    return Pace(
        last_inbound=row["last_inbound"],
        recent=row["recent"] or 0,
        oldest_recent=row["oldest_recent"],
    )


def burst_check(*, pace: Pace, now: datetime) -> None:
    """Raise 429 `conversation_burst_limited` when this send would exceed the burst limit.

    The caller holds the identity's row lock, so the count cannot change underneath.
    """
    limit = settings.CONVERSATION_BURST_LIMIT
    if pace.recent < limit:
        return
    assert pace.oldest_recent is not None
    reset_at = pace.oldest_recent + BURST_WINDOW
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
