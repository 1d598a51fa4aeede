"""Messaging reads, always scoped to the caller's key.

Identity-scoped keys see only their identity's rows and never a blocked message; admin
keys see the whole organisation (or one identity via `agent_identity_id`) and may filter
on `is_blocked`. Foreign or invisible objects answer 404 like missing ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import (
    Count,
    Exists,
    F,
    JSONField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import JSONObject

from console.errors import NotFound, ValidationFailed
from console.models import ApiKey
from console.prepared import PreparedQuery, PreparedShapes
from console.scope import DateRange, Scope
from console.selectors import acting_identity_for_key
from messaging.models import Conversation, Direction, Message, Reaction
from messaging.wire import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    REACTION_COLUMNS,
)

CONVERSATION_NOT_FOUND = "Conversation not found."
MESSAGE_NOT_FOUND = "Message not found."
REACTION_NOT_FOUND = "Reaction not found."
THREAD_NOT_FOUND = "Thread not found."


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", extra={"fields": {name: [message]}})


# --- Scopes -------------------------------------------------------------------------


def _live_reactions() -> Prefetch[Any]:
    return Prefetch(
        "reactions", queryset=Reaction.objects.filter(is_live=True).order_by("created_at")
    )


def key_scope(*, key: ApiKey, agent_identity_id: uuid.UUID | None = None) -> Scope:
    """The key's scope, narrowed to the identity it acts for (see `acting_identity_for_key`)."""
    scope = Scope.for_api_key(key)
    identity = acting_identity_for_key(key=key, agent_identity_id=agent_identity_id)
    return scope if identity is None else scope.narrowed_to(identity.id)


def messages_in(scope: Scope) -> QuerySet[Message]:
    """A scope that may not see blocked rows sees no group messages either (those are kept
    for admins' audit)."""
    qs = scope.filter(Message.objects.all(), identity="identity_id")
    if not scope.may_see_blocked:
        qs = qs.filter(is_blocked=False, is_group=False)
    return qs


def conversations_in(scope: Scope) -> QuerySet[Conversation]:
    qs = scope.filter(Conversation.objects.all(), identity="identity_id")
    if not scope.may_see_blocked:
        qs = qs.filter(is_group=False)
        # A conversation whose only traffic is blocked would reveal the blocked sender, even
        # when they once connected: hidden until a message of theirs gets through. A
        # connection with no traffic yet stays visible (the agent may greet the person).
        # The counters stand for EXISTS over its visible and its blocked messages.
        qs = qs.filter(Q(visible_count__gt=0) | Q(assignment__isnull=False, blocked_count=0))
    return qs


def message_scope(*, key: ApiKey, agent_identity_id: uuid.UUID | None = None) -> QuerySet[Message]:
    return messages_in(key_scope(key=key, agent_identity_id=agent_identity_id))


def conversation_scope(
    *, key: ApiKey, agent_identity_id: uuid.UUID | None = None
) -> QuerySet[Conversation]:
    return conversations_in(key_scope(key=key, agent_identity_id=agent_identity_id))


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


def _conversation_for_send(*, identity_id: uuid.UUID, remote_number: str) -> Any:
    return (
        Conversation.objects.select_related("assignment", "line")
        .filter(identity_id=identity_id, remote_number=remote_number)
        .order_by("pk")[:1]
    )


# Every send by `to` reads it: compiled once per process.
_CONVERSATION_FOR_SEND = PreparedQuery(
    Conversation, _conversation_for_send, identity_id=uuid.UUID, remote_number=str
)


def conversation_for_send(*, identity: Any, remote_number: str) -> Conversation | None:
    """The identity's conversation with `remote_number`, with the assignment and line a
    send checks (one statement); None before the person's first message or connection."""
    found: Conversation | None = _CONVERSATION_FOR_SEND.first(
        identity_id=identity.pk, remote_number=remote_number
    )
    return found


# --- Messages ---------------------------------------------------------------------------

# A message as `message_row_wire` renders it (see `_message_rows`).
MessageRow = dict[str, Any]


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
        raise _invalid("thread_id", "requires conversation_id")
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
    return _with_reactions(rows)


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


def _message_rows(qs: QuerySet[Message], *, start: int, stop: int) -> list[MessageRow]:
    """Rows `start:stop` of the ordered `qs` for `message_row_wire`: MESSAGE_COLUMNS, and
    the message's live `reactions` (REACTION_COLUMNS, oldest first) read in one more
    query. Building 50 wide model instances cost more than the rest of a list request."""
    return _with_reactions(list(qs.values(*MESSAGE_COLUMNS)[start:stop]))


def _with_reactions(rows: list[MessageRow]) -> list[MessageRow]:
    """`rows` (MESSAGE_COLUMNS) with their live `reactions`, read in one more query."""
    reactions: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in rows:
        row["reactions"] = reactions[row["id"]] = []
    if rows:
        live = (
            Reaction.objects.filter(message_id__in=list(reactions), is_live=True)
            .order_by("created_at")
            .values("message_id", *REACTION_COLUMNS)
        )
        for reaction in live:
            reactions[reaction.pop("message_id")].append(reaction)
    return rows


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
    # Rows for `message_row_wire` (see `_message_rows`).
    messages: list[MessageRow]
    next_cursor: str | None


def _encode_cursor(row: MessageRow) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
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
    rows = _message_rows(qs.order_by("created_at", "id"), start=0, stop=limit + 1)
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
    scope = Scope.for_api_key(key)
    qs = scope.filter(
        Reaction.objects.select_related(
            "message__conversation__assignment", "message__conversation__line__setup"
        ).filter(pk=reaction_id),
        identity="identity_id",
    )
    if not scope.may_see_blocked:
        qs = qs.filter(message__is_blocked=False)
    reaction = qs.first()
    if reaction is None:
        raise NotFound(REACTION_NOT_FOUND)
    return reaction
