"""Conversation pages: the list (filter by number and identity, sort by last activity),
one conversation as a thread, and their CSV exports."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, QuerySet
from django.http import HttpResponse, StreamingHttpResponse

from console.access import Viewed, access_record
from console.models import AccessKind
from console.selectors import identity_handle_list
from console.ui.access import ConsoleRequest, console_page, user_viewer
from console.ui.export import csv_export
from console.ui.forms import ConversationFilterForm
from console.ui.handoff import handoff_context
from console.ui.pagination import PAGE_SIZE, paginate
from console.ui.rendering import page_number, query_without_page, render_list, render_page
from console.ui.thread import thread_days
from messaging.console_selectors import (
    conversation_get_for_scope,
    conversation_list_for_scope,
    conversation_message_list,
    conversation_message_position,
    conversation_transcript,
)
from messaging.models import Conversation, Direction, Message

LIST_HEADER = [
    "conversation_id",
    "person",
    "identity",
    "kind",
    "connection",
    "messages",
    "last_message_at",
    "created_at",
]
TRANSCRIPT_HEADER = [
    "time",
    "direction",
    "from",
    "to",
    "service",
    "status",
    "content",
    "media_count",
    "reactions",
]


def _filtered(request: ConsoleRequest) -> tuple[ConversationFilterForm, dict[str, Any]]:
    scope = request.console.scope
    form = ConversationFilterForm(request.GET or None, handles=identity_handle_list(scope=scope))
    return form, (form.cleaned_data if form.is_valid() else {})


def _conversations(request: ConsoleRequest, filters: dict[str, Any]) -> QuerySet[Conversation]:
    return conversation_list_for_scope(
        scope=request.console.scope,
        identity=filters.get("identity", ""),
        kind=filters.get("kind", ""),
        number=filters.get("number", ""),
        oldest_first=filters.get("sort") == "oldest",
    )


@console_page
def conversation_list(request: ConsoleRequest) -> HttpResponse:
    form, filters = _filtered(request)
    return render_list(
        request,
        "console/conversations.html",
        _conversations(request, filters),
        partial="conversation-rows",
        nav="conversations",
        form=form,
    )


def _connection(conversation: Conversation) -> str:
    if conversation.assignment is None:
        return ""
    return "connected" if conversation.assignment.status == "active" else "released"


@console_page
def conversation_list_export(request: ConsoleRequest) -> StreamingHttpResponse:
    """One row per conversation the list shows with the same filters (every page)."""
    _, filters = _filtered(request)
    rows = _conversations(request, filters).annotate(message_count=Count("messages"))
    return csv_export(
        request,
        kind="conversations",
        header=LIST_HEADER,
        rows=rows,
        to_row=lambda c: [
            c.id,
            c.title,
            c.identity.handle,
            "group" if c.is_group else "person",
            _connection(c),
            c.message_count,
            c.last_message_at,
            c.created_at,
        ],
        filters=filters,
    )


def _message_page(request: ConsoleRequest, conversation: Conversation) -> int:
    """The page asked for, or the page holding `?message=<id>` (a search result)."""
    try:
        message_id = uuid.UUID(request.GET.get("message", ""))
    except ValueError:
        return page_number(request)
    newer = conversation_message_position(conversation=conversation, message_id=message_id)
    return newer // PAGE_SIZE + 1


@console_page
def conversation_detail(request: ConsoleRequest, conversation_id: str) -> HttpResponse:
    conversation = conversation_get_for_scope(
        scope=request.console.scope, conversation_id=conversation_id
    )
    page = paginate(
        conversation_message_list(conversation=conversation),
        page=_message_page(request, conversation),
    )
    access_record(
        viewer=user_viewer(request),
        viewed=Viewed(
            organization_id=conversation.organization_id,
            kind=AccessKind.CONVERSATION,
            object_id=conversation.id,
            number=conversation.remote_number,
        ),
    )
    return render_page(
        request,
        "console/conversation_detail.html",
        {
            "nav": "conversations",
            "conversation": conversation,
            "page": page,
            # Pages are fetched newest first; a thread reads oldest first.
            "days": thread_days(list(reversed(page.items))),
            "query": query_without_page(request),
            **handoff_context(request, conversation),
        },
        partial="thread",
    )


_SIDE = {Direction.INBOUND: "person", Direction.OUTBOUND: "agent"}


def _ends(message: Message, conversation: Conversation) -> tuple[str, str]:
    """(from, to) of a message: the person (or group member) and our line."""
    line = message.line.number if message.line is not None and message.line.number else ""
    person = message.sender_number or message.remote_number or conversation.title
    return (person, line) if message.direction == Direction.INBOUND else (line, person)


def _reactions(message: Message) -> str:
    """Live tapbacks as `love (person); like (agent)`."""
    return "; ".join(
        f"{r.custom_emoji or r.reaction} ({_SIDE[r.direction]})"
        for r in getattr(message, "live_reactions", [])
    )


@console_page
def conversation_export(request: ConsoleRequest, conversation_id: str) -> StreamingHttpResponse:
    """The whole conversation as CSV, one row per message, oldest first."""
    conversation = conversation_get_for_scope(
        scope=request.console.scope, conversation_id=conversation_id
    )
    return csv_export(
        request,
        kind="conversation",
        header=TRANSCRIPT_HEADER,
        rows=conversation_transcript(conversation=conversation),
        to_row=lambda m: [
            m.created_at,
            m.direction,
            *_ends(m, conversation),
            m.service,
            m.status,
            m.content,
            len(m.media or []),
            _reactions(m),
        ],
        filters={"conversation": conversation.id},
    )
