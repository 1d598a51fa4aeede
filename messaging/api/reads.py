"""What an API read of message content writes to the access log (`console.access`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.request import Request

from console.access import Viewed, api_read_record
from console.api.authentication import caller_key
from console.models import AccessKind
from messaging.models import Message
from messaging.wire import columns

_READ_COLUMNS = ("id", "organization_id", "conversation_id", "remote_number")


def messages_read(request: Request, messages: Iterable[Message]) -> None:
    """One access row (admin key) or tally (identity key) per message shown."""
    message_rows_read(request, (columns(m, _READ_COLUMNS) for m in messages))


def message_rows_read(request: Request, rows: Iterable[Mapping[str, Any]]) -> None:
    """`messages_read` for rows (`list_selectors.message_list`, thread pages)."""
    _rows_read(request, rows, kind=AccessKind.MESSAGE, conversation="conversation_id")


def conversation_rows_read(request: Request, rows: Iterable[Mapping[str, Any]]) -> None:
    """Conversation summaries carry the latest message's text: one row per conversation
    (`list_selectors.conversation_list` rows)."""
    _rows_read(request, rows, kind=AccessKind.CONVERSATION, conversation="id")


def _rows_read(
    request: Request, rows: Iterable[Mapping[str, Any]], *, kind: AccessKind, conversation: str
) -> None:
    api_read_record(
        request=request,
        key=caller_key(request),
        viewed=[
            Viewed(
                organization_id=row["organization_id"],
                kind=kind,
                object_id=row["id"],
                number=row["remote_number"],
                conversation_id=row[conversation],
            )
            for row in rows
        ],
    )
