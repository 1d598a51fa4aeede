"""Wire shapes of the agent contract (IMessage, MessageReaction, Reaction, Conversation).

Used by the API serializers and the webhook payloads alike, so the two never drift.
Each shape is written once, over a row of named columns (`*_row_wire`): list reads pass
`.values()` rows straight from the database (building a page of wide model instances
cost more than the rest of the request), single objects and webhooks pass model
instances through the `*_wire` functions. Prefetch `reactions` (live ones) on messages
before calling `message_wire` in a loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from functools import cache
from typing import Any

from django.db.models import Model
from django.utils import timezone

from console.timestamps import iso
from messaging.media_urls import item_url
from messaging.models import Conversation, Message, Reaction


def mark_without_reactions(message: Message) -> Message:
    """Tell `message_wire` that a message created in this request has no reactions yet,
    so rendering it does not query for them."""
    cache = getattr(message, "_prefetched_objects_cache", None)
    if cache is None:
        cache = message._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    cache[_REACTIONS_CACHE] = _no_reactions()
    return message


_REACTIONS_CACHE = Message.reactions.rel.cache_name


@cache
def _no_reactions() -> Any:
    """An empty, evaluated queryset of reactions, as a prefetch leaves it: iterating it
    compiles nothing, and every queryset method answers a copy. One per process: building
    one took longer than rendering the message."""
    none = Reaction.objects.none()
    none._result_cache = []
    return none


# The columns the IMessage shape reads: `message_list` selects exactly these as rows.
MESSAGE_COLUMNS = (
    "id",
    "organization_id",
    "conversation_id",
    "assignment_id",
    "direction",
    "remote_number",
    "content",
    "message_type",
    "service",
    "send_style",
    "media",
    "was_downgraded",
    "status",
    "error_code",
    "error_message",
    "error_reason",
    "error_detail",
    "is_read",
    "read_at",
    "is_group",
    "reply_to_id",
    "created_at",
    "updated_at",
    "redacted_at",
    "scheduled_for",
    "sender_number",
    "participants",
    "is_blocked",
)
# The columns of a MessageReaction (`message_list` adds each message's as `reactions`).
REACTION_COLUMNS = (
    "id",
    "direction",
    "reaction",
    "custom_emoji",
    "remote_number",
    "part_index",
    "created_at",
)

Row = Mapping[str, Any]


def columns(instance: Model, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in names}


def message_reaction_wire(reaction: Reaction) -> dict[str, Any]:
    return message_reaction_row_wire(columns(reaction, REACTION_COLUMNS))


def message_reaction_row_wire(row: Row, *, tz: tzinfo | None = None) -> dict[str, Any]:
    """A MessageReaction from a row of REACTION_COLUMNS (times in `tz`, by default the
    current timezone)."""
    return {
        "id": str(row["id"]),
        "direction": row["direction"],
        "reaction": row["reaction"],
        "custom_emoji": row["custom_emoji"],
        "remote_number": row["remote_number"],
        "part_index": row["part_index"],
        "created_at": iso(row["created_at"], tz=tz),
    }


def reaction_wire(reaction: Reaction) -> dict[str, Any]:
    """The full Reaction object (POST /reactions, webhook `reaction`)."""
    return {
        **message_reaction_wire(reaction),
        "conversation_id": str(reaction.conversation_id),
        "assignment_id": (
            str(reaction.message.assignment_id) if reaction.message.assignment_id else None
        ),
        "target_message_id": str(reaction.message_id),
        "updated_at": iso(reaction.updated_at),
    }


def live_reactions(message: Message) -> list[Reaction]:
    # Uses the prefetch cache when present; filtering in Python keeps it one query per page.
    prefetched = getattr(message, "_prefetched_objects_cache", {}).get(_REACTIONS_CACHE)
    reactions = prefetched if prefetched is not None else message.reactions.all()
    return sorted((r for r in reactions if r.is_live), key=lambda r: r.created_at)


def message_wire(message: Message, *, include_blocked: bool = True) -> dict[str, Any]:
    """The IMessage object. Webhook payloads pass `include_blocked=False`."""
    row = columns(message, MESSAGE_COLUMNS)
    row["reactions"] = [columns(r, REACTION_COLUMNS) for r in live_reactions(message)]
    return message_row_wire(row, include_blocked=include_blocked)


def message_row_wire(
    row: Row, *, include_blocked: bool = True, tz: tzinfo | None = None
) -> dict[str, Any]:
    """The IMessage object from a row of MESSAGE_COLUMNS with its live `reactions` rows
    (oldest first): lists render from `.values()` rows, without model instances. Times
    are in `tz`: a list passes the current timezone, looked up once for the page."""
    tz = tz or timezone.get_current_timezone()
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "conversation_id": str(row["conversation_id"]),
        "assignment_id": str(row["assignment_id"]) if row["assignment_id"] else None,
        "direction": row["direction"],
        "remote_number": row["remote_number"],
        "content": row["content"],
        "message_type": row["message_type"],
        "service": row["service"],
        "send_style": row["send_style"],
        "media": [
            {"url": item_url(m), "content_type": m.get("content_type"), "size": m.get("size")}
            for m in (row["media"] or [])
        ],
        "was_downgraded": row["was_downgraded"],
        "status": row["status"],
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "error_reason": row["error_reason"],
        "error_detail": row["error_detail"],
        "is_read": row["is_read"],
        "read_at": iso(row["read_at"], tz=tz),
        "is_group": row["is_group"],
        "reply_to_message_id": str(row["reply_to_id"]) if row["reply_to_id"] else None,
        "thread_id": None,
        "thread_root_message_id": None,
        "recipients": [],
        "reactions": [message_reaction_row_wire(r, tz=tz) for r in row["reactions"]],
        "created_at": iso(row["created_at"], tz=tz),
        "updated_at": iso(row["updated_at"], tz=tz),
        # Set when retention removed the content and media (both then empty).
        "redacted_at": iso(row["redacted_at"], tz=tz),
        # A scheduled or held (quiet hours) send: when it goes (or went) out.
        "scheduled_for": iso(row["scheduled_for"], tz=tz),
    }
    if row["is_group"]:
        body["sender_number"] = row["sender_number"]
        body["participants"] = list(row["participants"] or [])
    if include_blocked:
        body["is_blocked"] = row["is_blocked"]
    return body


def _assignment_status(conversation: Conversation) -> str | None:
    # Sent explicitly: the SDK assumes `active` whenever assignment_id is set.
    assignment = conversation.assignment if conversation.assignment_id else None
    return assignment.status if assignment is not None else None


_HANDOFF_COLUMNS = ("handled_by", "handed_off_at", "handed_off_by")
# The columns the Conversation shape reads; `conversation_list` selects these as rows,
# with `assignment_status` (the assignment's status, or None).
CONVERSATION_COLUMNS = (
    "id",
    "organization_id",
    "assignment_id",
    "remote_number",
    "participants",
    "is_group",
    *_HANDOFF_COLUMNS,
    "created_at",
    "updated_at",
)
# What `conversation_list` annotates on each row for the ConversationSummary shape.
SUMMARY_COLUMNS = (
    "latest_text",
    "latest_message_at",
    "latest_direction",
    "latest_media",
    "unread_count",
    "total_count",
)


def handoff_state_wire(conversation: Conversation) -> dict[str, Any]:
    """Who handles the conversation (conversation reads and `imessage.handoff`)."""
    return _handoff_row_wire(columns(conversation, _HANDOFF_COLUMNS))


def _handoff_row_wire(row: Row, *, tz: tzinfo | None = None) -> dict[str, Any]:
    return {
        "handled_by": row["handled_by"],
        "handed_off_at": iso(row["handed_off_at"], tz=tz),
        "handed_off_by": row["handed_off_by"] or None,
    }


def conversation_wire(conversation: Conversation) -> dict[str, Any]:
    """The Conversation object (GET /conversations/{id})."""
    row = columns(conversation, CONVERSATION_COLUMNS)
    row["assignment_status"] = _assignment_status(conversation)
    return conversation_row_wire(row)


def conversation_row_wire(row: Row, *, tz: tzinfo | None = None) -> dict[str, Any]:
    """The Conversation object from a row of CONVERSATION_COLUMNS and `assignment_status`
    (times in `tz`, by default the current timezone)."""
    tz = tz or timezone.get_current_timezone()
    return {
        "id": str(row["id"]),
        "assignment_id": str(row["assignment_id"]) if row["assignment_id"] else None,
        "assignment_status": row["assignment_status"],
        "remote_number": None if row["is_group"] else row["remote_number"],
        "participants": (
            list(row["participants"] or []) if row["is_group"] else [row["remote_number"]]
        ),
        "is_group": row["is_group"],
        "group_creation_status": None,
        # Staff takeover (extra fields; the SDK ignores them).
        **_handoff_row_wire(row, tz=tz),
        "created_at": iso(row["created_at"], tz=tz),
        "updated_at": iso(row["updated_at"], tz=tz),
    }


def conversation_summary_row_wire(row: Row, *, tz: tzinfo | None = None) -> dict[str, Any]:
    """A ConversationSummary from a `conversation_list` row (with SUMMARY_COLUMNS)."""
    tz = tz or timezone.get_current_timezone()
    return {
        **conversation_row_wire(row, tz=tz),
        "latest_text": row["latest_text"],
        "latest_message_at": iso(row["latest_message_at"], tz=tz),
        "latest_direction": row["latest_direction"],
        "latest_has_media": bool(row["latest_media"]),
        "unread_count": row["unread_count"] or 0,
        "total_count": row["total_count"] or 0,
    }
