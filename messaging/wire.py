"""Wire shapes of the agent contract (IMessage, MessageReaction, Reaction).

Used by the API serializers and the webhook payloads alike, so the two never drift.
Prefetch `reactions` (live ones) on messages before calling these in a loop.
"""

from __future__ import annotations

from typing import Any

from console.timestamps import iso
from messaging.media_urls import item_url
from messaging.models import Conversation, Message, Reaction


def mark_without_reactions(message: Message) -> Message:
    """Tell `message_wire` that a message created in this request has no reactions yet,
    so rendering it does not query for them."""
    cache = getattr(message, "_prefetched_objects_cache", None)
    if cache is None:
        cache = message._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    cache[Message.reactions.rel.cache_name] = Reaction.objects.none()
    return message


def message_reaction_wire(reaction: Reaction) -> dict[str, Any]:
    return {
        "id": str(reaction.id),
        "direction": reaction.direction,
        "reaction": reaction.reaction,
        "custom_emoji": reaction.custom_emoji,
        "remote_number": reaction.remote_number,
        "part_index": reaction.part_index,
        "created_at": iso(reaction.created_at),
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
    return sorted((r for r in message.reactions.all() if r.is_live), key=lambda r: r.created_at)


def message_wire(message: Message, *, include_blocked: bool = True) -> dict[str, Any]:
    """The IMessage object. Webhook payloads pass `include_blocked=False`."""
    body: dict[str, Any] = {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "assignment_id": str(message.assignment_id) if message.assignment_id else None,
        "direction": message.direction,
        "remote_number": message.remote_number,
        "content": message.content,
        "message_type": message.message_type,
        "service": message.service,
        "send_style": message.send_style,
        "media": [
            {"url": item_url(m), "content_type": m.get("content_type"), "size": m.get("size")}
            for m in (message.media or [])
        ],
        "was_downgraded": message.was_downgraded,
        "status": message.status,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "error_reason": message.error_reason,
        "error_detail": message.error_detail,
        "is_read": message.is_read,
        "read_at": iso(message.read_at),
        "is_group": message.is_group,
        "reply_to_message_id": str(message.reply_to_id) if message.reply_to_id else None,
        "thread_id": None,
        "thread_root_message_id": None,
        "recipients": [],
        "reactions": [message_reaction_wire(r) for r in live_reactions(message)],
        "created_at": iso(message.created_at),
        "updated_at": iso(message.updated_at),
        # Set when retention removed the content and media (both then empty).
        "redacted_at": iso(message.redacted_at),
        # A scheduled or held (quiet hours) send: when it goes (or went) out.
        "scheduled_for": iso(message.scheduled_for),
    }
    if message.is_group:
        body["sender_number"] = message.sender_number
        body["participants"] = list(message.participants or [])
    if include_blocked:
        body["is_blocked"] = message.is_blocked
    return body


def _assignment_status(conversation: Conversation) -> str | None:
    # Sent explicitly: the SDK assumes `active` whenever assignment_id is set.
    assignment = conversation.assignment if conversation.assignment_id else None
    return assignment.status if assignment is not None else None


def handoff_state_wire(conversation: Conversation) -> dict[str, Any]:
    """Who handles the conversation (conversation reads and `imessage.handoff`)."""
    return {
        "handled_by": conversation.handled_by,
        "handed_off_at": iso(conversation.handed_off_at),
        "handed_off_by": conversation.handed_off_by or None,
    }


def conversation_wire(conversation: Conversation) -> dict[str, Any]:
    """The Conversation object (GET /conversations/{id})."""
    return {
        "id": str(conversation.id),
        "assignment_id": str(conversation.assignment_id) if conversation.assignment_id else None,
        "assignment_status": _assignment_status(conversation),
        "remote_number": None if conversation.is_group else conversation.remote_number,
        "participants": (
            list(conversation.participants or [])
            if conversation.is_group
            else [conversation.remote_number]
        ),
        "is_group": conversation.is_group,
        "group_creation_status": None,
        # Staff takeover (extra fields; the SDK ignores them).
        **handoff_state_wire(conversation),
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
    }


def conversation_summary_wire(conversation: Conversation) -> dict[str, Any]:
    """A ConversationSummary row; expects the annotations of `conversation_list`."""
    media = getattr(conversation, "latest_media", None)
    return {
        **conversation_wire(conversation),
        "latest_text": getattr(conversation, "latest_text", None),
        "latest_message_at": iso(getattr(conversation, "latest_message_at", None)),
        "latest_direction": getattr(conversation, "latest_direction", None),
        "latest_has_media": bool(media),
        "unread_count": getattr(conversation, "unread_count", 0) or 0,
        "total_count": getattr(conversation, "total_count", 0) or 0,
    }
