"""Read receipts and typing we send on an open conversation: best-effort provider calls
on the conversation's current line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from console.errors import Unprocessable
from messaging.models import Conversation, Direction, Message
from messaging.services import common
from messaging.services.common import RECIPIENT_NOT_E164
from provisioning.providers.base import ProviderError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarkReadResult:
    conversation_id: Any
    updated_count: int


def conversation_mark_read(*, conversation: Conversation) -> MarkReadResult:
    """Send a read receipt (best effort, as the provider documents it) and mark the
    conversation's visible inbound rows read."""
    common.group_refuse(conversation)
    if not common.is_phone(conversation.remote_number):
        raise Unprocessable(RECIPIENT_NOT_E164, code="recipient_not_e164")
    line = common.conversation_line(conversation)
    if line is not None and line.number is not None:
        try:
            common.provider_adapter().mark_read(
                credentials=common.line_credentials(line),
                from_number=line.number,
                to_number=conversation.remote_number,
            )
        except ProviderError:
            logger.warning("read receipt for conversation %s failed", conversation.pk)
    updated = Message.objects.filter(
        conversation=conversation,
        direction=Direction.INBOUND,
        is_read=False,
        is_blocked=False,
    ).update(is_read=True, updated_at=timezone.now())
    return MarkReadResult(conversation_id=conversation.pk, updated_count=updated)


def typing_send(*, conversation: Conversation) -> None:
    common.group_refuse(conversation)
    if not common.is_phone(conversation.remote_number):
        raise Unprocessable(RECIPIENT_NOT_E164, code="recipient_not_e164")
    line = common.active_line_or_409(conversation)
    try:
        common.provider_adapter().send_typing(
            credentials=common.line_credentials(line),
            from_number=line.number or "",
            to_number=conversation.remote_number,
        )
    except ProviderError as exc:
        raise common.provider_call_failed(exc) from exc
