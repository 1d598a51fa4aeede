"""Messaging reads for the staff console: conversations and their messages, message
search, activity and daily volume for the dashboard, scheduled sends. Every read takes
the console user's `Scope`; rows outside it behave as missing.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from console.scope import Scope, filter_given, scoped_get
from messaging.models import REVIEW_WAITING, Conversation, Direction, Message, Reaction
from messaging.selectors import (
    CONVERSATION_NOT_FOUND,
    MESSAGE_NOT_FOUND,
    conversations_in,
    messages_in,
)


def conversation_list_for_scope(
    *,
    scope: Scope,
    identity: str = "",
    kind: str = "",
    number: str = "",
    oldest_first: bool = False,
) -> QuerySet[Conversation]:
    """By last activity, newest first unless `oldest_first` (never-active ones last).

    `kind`: "person" for 1:1 conversations, "group" for the ignored group threads.
    `number`: digits that appear in the person's number, or in a group member's."""
    activity = F("last_message_at")
    qs = (
        conversations_in(scope)
        .select_related("identity", "assignment")
        .order_by(
            activity.asc(nulls_last=True) if oldest_first else activity.desc(nulls_last=True),
            "created_at" if oldest_first else "-created_at",
            "id",
        )
    )
    qs = filter_given(qs, identity__handle=identity)
    if kind:
        qs = qs.filter(is_group=kind == "group")
    if number:
        qs = qs.filter(
            Q(remote_number__contains=number) | Q(is_group=True, participants__icontains=number)
        )
    return qs


def conversation_get_for_scope(*, scope: Scope, conversation_id: uuid.UUID | str) -> Conversation:
    return scoped_get(
        conversations_in(scope).select_related("identity", "assignment"),
        not_found=CONVERSATION_NOT_FOUND,
        id=conversation_id,
    )


def _live_reactions_attr() -> Prefetch[Any]:
    return Prefetch(
        "reactions",
        queryset=Reaction.objects.filter(is_live=True).order_by("created_at"),
        to_attr="live_reactions",
    )


def conversation_message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """Newest first for paging; the console shows each page oldest first."""
    return (
        conversation.messages.select_related("sent_by")
        .order_by("-created_at", "-id")
        .prefetch_related(_live_reactions_attr())
    )


def conversation_message_position(*, conversation: Conversation, message_id: uuid.UUID) -> int:
    """How many of the conversation's messages are newer than `message_id` (which page of
    the newest-first thread holds it); 0 when it is not one of this conversation's."""
    message = conversation.messages.filter(pk=message_id).values("created_at", "id").first()
    if message is None:
        return 0
    newer = Q(created_at__gt=message["created_at"]) | Q(
        created_at=message["created_at"], id__gt=message["id"]
    )
    return conversation.messages.filter(newer).count()


def conversation_transcript(*, conversation: Conversation) -> QuerySet[Message]:
    """Every message of the conversation, oldest first, with its line and live tapbacks:
    the rows of a conversation export."""
    return (
        conversation.messages.select_related("line")
        .prefetch_related(_live_reactions_attr())
        .order_by("created_at", "id")
    )


def message_find_for_scope(*, scope: Scope, reference: str, limit: int) -> list[Message]:
    """Messages named by their id or by the provider's handle for them."""
    q = Q(provider_handle=reference)
    with contextlib.suppress(ValueError):
        q |= Q(pk=uuid.UUID(reference))
    return list(
        messages_in(scope)
        .filter(q)
        .select_related("identity", "conversation")
        .order_by("-created_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class MessageActivity:
    # Blocked and still waiting for review.
    blocked: int
    # Inbound group messages: stored for audit, never delivered or answered.
    groups_ignored: int
    sends_per_identity: list[int]


def message_activity_since(*, scope: Scope, since: datetime) -> MessageActivity:
    messages = scope.filter(Message.objects.filter(created_at__gte=since), identity="identity_id")
    held = messages.aggregate(
        # Still waiting for review: a decided message no longer needs anyone.
        blocked=Count("id", filter=Q(is_blocked=True, review_state=REVIEW_WAITING)),
        groups=Count("id", filter=Q(is_group=True)),
    )
    sends = (
        messages.filter(direction=Direction.OUTBOUND)
        .values("identity_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return MessageActivity(
        blocked=held["blocked"],
        groups_ignored=held["groups"],
        sends_per_identity=[row["n"] for row in sends],
    )


@dataclass
class DayVolume:
    day: date
    inbound: int = 0
    outbound: int = 0
    blocked: int = 0


def daily_volume(*, scope: Scope, days: int) -> list[DayVolume]:
    """Messages per day in the active (viewer's) time zone, oldest day first."""
    tz = timezone.get_current_timezone()
    first = timezone.localdate() - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=tz)
    rows = (
        scope.filter(Message.objects.filter(created_at__gte=start), identity="identity_id")
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "direction", "is_blocked")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_day = {
        first + timedelta(days=i): DayVolume(day=first + timedelta(days=i)) for i in range(days)
    }
    for row in rows:
        bucket = by_day.get(row["day"])
        if bucket is None:
            continue
        if row["is_blocked"]:
            bucket.blocked += row["n"]
        elif row["direction"] == Direction.INBOUND:
            bucket.inbound += row["n"]
        else:
            bucket.outbound += row["n"]
    return list(by_day.values())


# --- Scheduled sends (console) -----------------------------------------------------------


def scheduled_list_for_identity(*, scope: Scope, identity: Any) -> QuerySet[Message]:
    """The identity's scheduled and held messages not yet sending, soonest first."""
    return (
        messages_in(scope)
        .filter(
            identity=identity,
            direction=Direction.OUTBOUND,
            scheduled_for__isnull=False,
            send_state="queued",
            send_attempts=0,
        )
        .order_by("scheduled_for", "id")
    )


def scheduled_get_for_scope(*, scope: Scope, identity: Any, message_id: uuid.UUID) -> Message:
    return scoped_get(
        messages_in(scope)
        .filter(identity=identity, direction=Direction.OUTBOUND)
        .select_related("identity__organization"),
        not_found=MESSAGE_NOT_FOUND,
        id=message_id,
    )
