"""The agent API's conversation and message lists, scoped like every read (see
`messaging.selectors`).

A list without a date range or a thread runs a statement compiled once per shape
(`PreparedShapes`); the values of the call fill its parameters.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Exists, F, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import Combinable
from django.db.models.functions import JSONObject

from console.db.prepared import PreparedQuery, PreparedShapes
from console.models import ApiKey
from console.scope import DateRange, Scope
from messaging.models import Conversation, Direction, Message
from messaging.selectors import (
    MessageRow,
    conversations_in,
    invalid_field,
    key_scope,
    messages_in,
    rows_with_reactions,
)
from messaging.wire import CONVERSATION_COLUMNS, MESSAGE_COLUMNS

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
) -> list[dict[str, Any]]:
    """Newest activity first, as rows for `conversation_summary_row_wire`: CONVERSATION_COLUMNS,
    `assignment_status` and the preview and counts (SUMMARY_COLUMNS), in one query.

    `is_blocked` and the date range apply to the underlying messages: only conversations
    with matching messages are listed and the preview and counts cover those messages.
    Group conversations are listed only with `include_groups` (admin keys; identity keys
    never see them).
    """
    scope = key_scope(key=key, agent_identity_id=agent_identity_id)
    shape = _ConversationPage(
        may_see_blocked=scope.may_see_blocked,
        narrowed=scope.identity_id is not None,
        # Which messages count: identity keys never see blocked ones, whatever they ask for.
        blocked=is_blocked if key.is_admin else False,
        include_groups=include_groups,
    )
    if date_range is not None and date_range.is_set:
        qs = _conversation_page(shape, scope, date_range)
        rows = list(qs[offset : offset + limit])
    else:
        ids = {"identity_id": scope.identity_id} if shape.narrowed else {}
        rows = _CONVERSATION_PAGES[shape].rows(
            organization_id=scope.organization_ids[0], limit=limit, offset=offset, **ids
        )
    return [_summary_row(row) for row in rows]


@dataclass(frozen=True)
class _ConversationPage:
    """What decides the statement of a conversation list, beside its values."""

    may_see_blocked: bool
    narrowed: bool
    blocked: bool | None
    include_groups: bool


def _conversation_page_query(shape: _ConversationPage) -> PreparedQuery[Conversation]:
    params: dict[str, type] = {"organization_id": uuid.UUID}
    if shape.narrowed:
        params["identity_id"] = uuid.UUID

    def build(
        *, organization_id: uuid.UUID, identity_id: uuid.UUID | None = None
    ) -> QuerySet[Conversation, Any]:
        scope = Scope(
            organization_ids=(organization_id,),
            identity_id=identity_id,
            may_see_blocked=shape.may_see_blocked,
        )
        return _conversation_page(shape, scope, DateRange())

    return PreparedQuery(Conversation, build, paged=True, **params)


# One compiled statement per shape (a few dozen at most), for lists without a date range.
_CONVERSATION_PAGES = PreparedShapes(_conversation_page_query)


def _conversation_page(
    shape: _ConversationPage, scope: Scope, date_range: DateRange
) -> QuerySet[Conversation, Any]:
    """The ordered rows of a conversation list, unsliced."""
    blocked = shape.blocked
    msg_q = Q(conversation=OuterRef("pk")) & date_range.q()
    if blocked is not None:
        msg_q &= Q(is_blocked=blocked)
    messages = Message.objects.filter(msg_q)
    latest = messages.order_by("-created_at", "-id")

    # The preview comes back as one JSON object from one subquery: six scalar subqueries
    # were most of this request's SQL compilation and planning.
    preview = latest.values(
        json=JSONObject(text="content", at="created_at", direction="direction", media="media")
    )[:1]
    qs = conversations_in(scope)
    if not shape.include_groups:
        qs = qs.filter(is_group=False)
    if date_range.is_set:
        # The conversation's counters cover all its messages; a range counts its own.
        qs = qs.filter(Exists(messages))
        counts: dict[str, Any] = {"counts": _counts(messages)}
    else:
        total, unread = _counters(blocked)
        if shape.may_see_blocked and blocked is not None:
            qs = qs.alias(matching=total).filter(matching__gt=0)
        counts = {"total_count": total, "unread_count": unread}
    return (
        qs.order_by("-last_message_at", "-id")
        # Rows, not instances (as for messages): model construction was most of the cost.
        .values(
            *CONVERSATION_COLUMNS,
            assignment_status=F("assignment__status"),
            preview=Subquery(preview, output_field=JSONField()),
            **counts,
        )
    )


def _summary_row(row: dict[str, Any]) -> dict[str, Any]:
    """A conversation list row with its preview and counts unpacked."""
    preview_row = row.pop("preview") or {}
    row["latest_text"] = preview_row.get("text")
    row["latest_message_at"] = _json_time(preview_row.get("at"))
    row["latest_direction"] = preview_row.get("direction")
    media = preview_row.get("media")
    # SQLite nests a JSON column as its text; PostgreSQL as JSON.
    row["latest_media"] = json.loads(media) if isinstance(media, str) else media
    if "counts" in row:
        count_row = row.pop("counts") or {}
        row["total_count"] = count_row.get("total", 0)
        row["unread_count"] = count_row.get("unread", 0)
    return row


def _counters(blocked: bool | None) -> tuple[Combinable, Combinable]:
    """(total, unread) from the conversation's counters: its visible messages, its blocked
    ones (`blocked`), or both (None)."""
    visible = (F("visible_count"), F("visible_unread_count"))
    hidden = (F("blocked_count"), F("blocked_unread_count"))
    if blocked is None:
        return visible[0] + hidden[0], visible[1] + hidden[1]
    return hidden if blocked else visible


def _counts(messages: QuerySet[Message]) -> Subquery:
    """`messages`' total and unread inbound count as one JSON object."""
    counts = (
        messages.order_by()
        .values("conversation")
        .annotate(
            json=JSONObject(
                total=Count("id"),
                unread=Count("id", filter=Q(direction=Direction.INBOUND, is_read=False)),
            )
        )
        .values("json")[:1]
    )
    return Subquery(counts, output_field=JSONField())


def _json_time(text: str | None) -> datetime | None:
    """A timestamp column as a JSON object carries it: ISO 8601 text, in UTC (the session
    time zone), naive on SQLite."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
) -> list[MessageRow]:
    """Newest first. Scoped keys never get a blocked row, whatever `is_blocked` says, nor
    a group message. Admin keys get group messages with `include_groups`, or when they
    name a group conversation. Rows for `message_row_wire` (see `_message_rows`)."""
    if thread_id is not None and conversation_id is None:
        raise invalid_field("thread_id", "requires conversation_id")
    scope = key_scope(key=key, agent_identity_id=agent_identity_id)
    shape = _MessagePage(
        may_see_blocked=scope.may_see_blocked,
        narrowed=scope.identity_id is not None,
        by_conversation=conversation_id is not None,
        include_groups=include_groups,
        is_read=is_read,
        is_blocked=is_blocked if key.is_admin else None,
    )
    in_thread = thread_id is not None and thread_id != conversation_id
    if in_thread or (date_range is not None and date_range.is_set):
        qs = _message_page(shape, scope, conversation_id=conversation_id)
        if in_thread:
            assert thread_id is not None and conversation_id is not None
            # Threads are flat: a thread is named by its conversation or any of its messages.
            qs = qs.filter(
                Exists(Message.objects.filter(pk=thread_id, conversation_id=conversation_id))
            )
        if date_range is not None:
            qs = qs.filter(date_range.q())
        rows = list(qs.values(*MESSAGE_COLUMNS)[offset : offset + limit])
    else:
        ids: dict[str, Any] = {"organization_id": scope.organization_ids[0]}
        if shape.narrowed:
            ids["identity_id"] = scope.identity_id
        if shape.by_conversation:
            ids["conversation_id"] = conversation_id
        rows = _MESSAGE_PAGES[shape].rows(limit=limit, offset=offset, **ids)
    return rows_with_reactions(rows)


@dataclass(frozen=True)
class _MessagePage:
    """What decides the statement of a message list, beside its values."""

    may_see_blocked: bool
    narrowed: bool
    by_conversation: bool
    include_groups: bool
    is_read: bool | None
    is_blocked: bool | None


def _message_page_query(shape: _MessagePage) -> PreparedQuery[Message]:
    params: dict[str, type] = {"organization_id": uuid.UUID}
    if shape.narrowed:
        params["identity_id"] = uuid.UUID
    if shape.by_conversation:
        params["conversation_id"] = uuid.UUID

    def build(
        *,
        organization_id: uuid.UUID,
        identity_id: uuid.UUID | None = None,
        conversation_id: uuid.UUID | None = None,
    ) -> QuerySet[Message, Any]:
        scope = Scope(
            organization_ids=(organization_id,),
            identity_id=identity_id,
            may_see_blocked=shape.may_see_blocked,
        )
        return _message_page(shape, scope, conversation_id=conversation_id).values(*MESSAGE_COLUMNS)

    return PreparedQuery(Message, build, paged=True, **params)


# One compiled statement per shape (under a hundred), for lists without a thread or range.
_MESSAGE_PAGES = PreparedShapes(_message_page_query)


def _message_page(
    shape: _MessagePage, scope: Scope, *, conversation_id: uuid.UUID | None
) -> QuerySet[Message]:
    """The messages of a list, newest first, unsliced."""
    qs = messages_in(scope)
    if conversation_id is not None:
        qs = qs.filter(conversation_id=conversation_id)
    elif not shape.include_groups:
        qs = qs.filter(is_group=False)
    if shape.is_read is not None:
        qs = qs.filter(is_read=shape.is_read)
    if shape.is_blocked is not None:
        qs = qs.filter(is_blocked=shape.is_blocked)
    return qs.order_by("-created_at", "-id")
