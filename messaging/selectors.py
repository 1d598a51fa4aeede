"""Messaging reads, always scoped to the caller's key.

Identity-scoped keys see only their identity's rows and never a blocked message; admin
keys see the whole organisation (or one identity via `agent_identity_id`) and may filter
on `is_blocked`. Foreign or invisible objects answer 404 like missing ones.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    JSONField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime

from console.errors import NotFound, ValidationFailed
from console.models import ApiKey
from console.selectors import acting_identity_for_key
from messaging.models import Conversation, Direction, Message, Reaction

CONVERSATION_NOT_FOUND = "Conversation not found."
MESSAGE_NOT_FOUND = "Message not found."
REACTION_NOT_FOUND = "Reaction not found."
THREAD_NOT_FOUND = "Thread not found."

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", extra={"fields": {name: [message]}})


# --- Query parameters shared by the lists -------------------------------------------


@dataclass(frozen=True)
class DateRange:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # inclusive when end_inclusive, else exclusive
    end_inclusive: bool = True

    def q(self, prefix: str = "") -> Q:
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{prefix}created_at__gte": self.start})
        if self.end is not None:
            lookup = "lte" if self.end_inclusive else "lt"
            q &= Q(**{f"{prefix}created_at__{lookup}": self.end})
        return q

    @property
    def is_set(self) -> bool:
        return self.start is not None or self.end is not None


def parse_tz(raw: str | None) -> ZoneInfo:
    if not raw:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid("tz", "must be an IANA time zone name") from None


def _parse_bound(name: str, raw: str, zone: ZoneInfo, *, is_end: bool) -> tuple[datetime, bool]:
    """Returns the instant and whether the bound is inclusive.

    A bare date is the start of that day in `zone` (for the end: the whole day, so the
    bound is the next midnight, exclusive); a naive value is read in `zone`; a zoned
    value is exact."""
    raw = raw.strip()
    if _DATE_ONLY.match(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise _invalid(name, "must be a date or an ISO 8601 datetime") from None
        if is_end:
            return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone), False
        return datetime.combine(day, time.min, tzinfo=zone), True
    try:
        value = parse_datetime(raw.replace(" ", "T", 1)) or datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, "must be a date or an ISO 8601 datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value, True


def parse_date_range(params: Any) -> DateRange:
    zone = parse_tz(params.get("tz"))
    start = end = None
    end_inclusive = True
    if params.get("start_datetime"):
        start, _ = _parse_bound("start_datetime", params["start_datetime"], zone, is_end=False)
    if params.get("end_datetime"):
        end, end_inclusive = _parse_bound("end_datetime", params["end_datetime"], zone, is_end=True)
    if start is not None and end is not None and end < start:
        raise _invalid("end_datetime", "must not be before start_datetime")
    return DateRange(start=start, end=end, end_inclusive=end_inclusive)


# --- Scopes -------------------------------------------------------------------------


def _live_reactions() -> Prefetch[Any]:
    return Prefetch(
        "reactions", queryset=Reaction.objects.filter(is_live=True).order_by("created_at")
    )


def message_scope(*, key: ApiKey, agent_identity_id: uuid.UUID | None = None) -> QuerySet[Message]:
    """Identity keys never see blocked rows nor group messages (kept for admins' audit)."""
    qs = Message.objects.filter(organization_id=key.organization_id)
    identity = acting_identity_for_key(key=key, agent_identity_id=agent_identity_id)
    if identity is not None:
        qs = qs.filter(identity_id=identity.id)
    if not key.is_admin:
        qs = qs.filter(is_blocked=False, is_group=False)
    return qs


def conversation_scope(
    *, key: ApiKey, agent_identity_id: uuid.UUID | None = None
) -> QuerySet[Conversation]:
    qs = Conversation.objects.filter(organization_id=key.organization_id)
    identity = acting_identity_for_key(key=key, agent_identity_id=agent_identity_id)
    if identity is not None:
        qs = qs.filter(identity_id=identity.id)
    if not key.is_admin:
        qs = qs.filter(is_group=False)
        # A conversation whose only traffic is blocked would reveal the blocked sender, even
        # when they once connected: hidden until a message of theirs gets through. A
        # connection with no traffic yet stays visible (the agent may greet the person).
        visible = Message.objects.filter(conversation=OuterRef("pk"), is_blocked=False)
        blocked = Message.objects.filter(conversation=OuterRef("pk"), is_blocked=True)
        qs = qs.filter(Exists(visible) | (Q(assignment__isnull=False) & ~Exists(blocked)))
    return qs


# --- Conversations --------------------------------------------------------------------


def conversation_list(
    *,
    key: ApiKey,
    agent_identity_id: uuid.UUID | None = None,
    is_blocked: bool | None = None,
    include_groups: bool = False,
    date_range: DateRange | None = None,
    limit: int,
    offset: int,
) -> list[Conversation]:
    """Newest activity first, each row annotated with its preview and counts in one query.

    `is_blocked` and the date range apply to the underlying messages: only conversations
    with matching messages are listed and the preview and counts cover those messages.
    Group conversations are listed only with `include_groups` (admin keys; identity keys
    never see them).
    """
    date_range = date_range or DateRange()
    msg_q = Q(conversation=OuterRef("pk"))
    if not key.is_admin:
        msg_q &= Q(is_blocked=False)
    elif is_blocked is not None:
        msg_q &= Q(is_blocked=is_blocked)
    msg_q &= date_range.q()
    messages = Message.objects.filter(msg_q)
    latest = messages.order_by("-created_at", "-id")

    def count(extra: Q) -> Coalesce:
        return Coalesce(
            Subquery(
                messages.filter(extra)
                .order_by()
                .values("conversation")
                .annotate(n=Count("id"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        )

    qs = conversation_scope(key=key, agent_identity_id=agent_identity_id)
    if not include_groups:
        qs = qs.filter(is_group=False)
    if (key.is_admin and is_blocked is not None) or date_range.is_set:
        qs = qs.filter(Exists(messages))
    qs = (
        qs.select_related("assignment")
        .annotate(
            latest_text=Subquery(latest.values("content")[:1]),
            latest_message_at=Subquery(latest.values("created_at")[:1]),
            latest_direction=Subquery(latest.values("direction")[:1]),
            latest_media=Subquery(latest.values("media")[:1], output_field=JSONField()),
            total_count=count(Q()),
            unread_count=count(Q(direction=Direction.INBOUND, is_read=False)),
        )
        .order_by("-last_message_at", "-id")
    )
    return list(qs[offset : offset + limit])


def conversation_get(
    *, key: ApiKey, conversation_id: uuid.UUID, agent_identity_id: uuid.UUID | None = None
) -> Conversation:
    conversation = (
        conversation_scope(key=key, agent_identity_id=agent_identity_id)
        .select_related("assignment", "line", "identity")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return conversation


# --- Messages ---------------------------------------------------------------------------


def message_list(
    *,
    key: ApiKey,
    agent_identity_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    is_read: bool | None = None,
    is_blocked: bool | None = None,
    include_groups: bool = False,
    date_range: DateRange | None = None,
    limit: int,
    offset: int,
) -> list[Message]:
    """Newest first. Scoped keys never get a blocked row, whatever `is_blocked` says, nor
    a group message. Admin keys get group messages with `include_groups`, or when they
    name a group conversation."""
    if thread_id is not None and conversation_id is None:
        raise _invalid("thread_id", "requires conversation_id")
    qs = message_scope(key=key, agent_identity_id=agent_identity_id)
    if conversation_id is not None:
        qs = qs.filter(conversation_id=conversation_id)
    elif not include_groups:
        qs = qs.filter(is_group=False)
    if thread_id is not None and conversation_id is not None and thread_id != conversation_id:
        # Threads are flat: a thread is named by its conversation or any of its messages.
        qs = qs.filter(
            Exists(Message.objects.filter(pk=thread_id, conversation_id=conversation_id))
        )
    if is_read is not None:
        qs = qs.filter(is_read=is_read)
    if is_blocked is not None and key.is_admin:
        qs = qs.filter(is_blocked=is_blocked)
    if date_range is not None:
        qs = qs.filter(date_range.q())
    qs = qs.prefetch_related(_live_reactions()).order_by("-created_at", "-id")
    return list(qs[offset : offset + limit])


def message_get(
    *,
    key: ApiKey,
    message_id: uuid.UUID,
    agent_identity_id: uuid.UUID | None = None,
    with_reactions: bool = True,
) -> Message:
    qs = message_scope(key=key, agent_identity_id=agent_identity_id).select_related(
        "conversation__assignment", "conversation__line", "identity"
    )
    if with_reactions:
        qs = qs.prefetch_related(_live_reactions())
    message = qs.filter(pk=message_id).first()
    if message is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    return message


def message_get_for_update(*, key: ApiKey, message_id: uuid.UUID) -> Message:
    """A message the caller may act on (tapbacks): visibility rules as for reads."""
    return message_get(key=key, message_id=message_id)


# --- Threads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadPage:
    conversation: Conversation
    thread_id: uuid.UUID
    messages: list[Message]
    next_cursor: str | None


def _encode_cursor(message: Message) -> str:
    raw = f"{message.created_at.isoformat()}|{message.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, ident = base64.urlsafe_b64decode(padded).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid("cursor", "is not a cursor this server issued") from None


def thread_page(
    *,
    key: ApiKey,
    conversation: Conversation,
    thread_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> ThreadPage:
    """The conversation's visible messages, oldest first, `limit` at a time."""
    qs = message_scope(key=key).filter(conversation=conversation)
    if cursor:
        created, after_id = _decode_cursor(cursor)
        qs = qs.filter(Q(created_at__gt=created) | Q(created_at=created, id__gt=after_id))
    rows = list(qs.prefetch_related(_live_reactions()).order_by("created_at", "id")[: limit + 1])
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return ThreadPage(
        conversation=conversation,
        thread_id=thread_id,
        messages=rows[:limit],
        next_cursor=next_cursor,
    )


def thread_for_message(
    *,
    key: ApiKey,
    message_id: uuid.UUID,
    agent_identity_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> ThreadPage:
    message = message_get(
        key=key, message_id=message_id, agent_identity_id=agent_identity_id, with_reactions=False
    )
    return thread_page(
        key=key,
        conversation=message.conversation,
        thread_id=message.conversation_id,
        limit=limit,
        cursor=cursor,
    )


def thread_in_conversation(
    *,
    key: ApiKey,
    conversation_id: uuid.UUID,
    thread_id: uuid.UUID,
    agent_identity_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> ThreadPage:
    conversation = conversation_get(
        key=key, conversation_id=conversation_id, agent_identity_id=agent_identity_id
    )
    if (
        thread_id != conversation.id
        and not message_scope(key=key).filter(pk=thread_id, conversation=conversation).exists()
    ):
        raise NotFound(THREAD_NOT_FOUND)
    return thread_page(
        key=key, conversation=conversation, thread_id=conversation.id, limit=limit, cursor=cursor
    )


# --- Reactions ---------------------------------------------------------------------------


def reaction_get(*, key: ApiKey, reaction_id: uuid.UUID) -> Reaction:
    qs = Reaction.objects.select_related(
        "message__conversation__assignment", "message__conversation__line__setup"
    ).filter(organization_id=key.organization_id, pk=reaction_id)
    if not key.is_admin:
        qs = qs.filter(identity_id=key.identity_id, message__is_blocked=False)
    reaction = qs.first()
    if reaction is None:
        raise NotFound(REACTION_NOT_FOUND)
    return reaction
