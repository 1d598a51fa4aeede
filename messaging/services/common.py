"""What the messaging service modules share: the provider adapter and a line's credentials,
the after-commit enqueue, the agent-event emit, and the line a conversation sends on.

The other modules call these through the module (`common.provider_adapter()`), so a test
that replaces one here replaces it for every caller.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from console.db.prepared import BoundUpdate, PreparedUpdate
from console.errors import Conflict, ProviderFailed
from console.models import AgentIdentity
from console.outbox import publish_on_commit
from messaging.models import Conversation, DeliveryStatus
from messaging.webhooks import events as webhook_events
from provisioning.models import LineRole, PhoneLine
from provisioning.providers.base import AccountCredentials, ProviderAdapter, ProviderError
from routing.models import AssignmentStatus

# --- Errors (module constants so tests can import them) -----------------------
IMESSAGE_NOT_ENABLED = "This identity is not enabled for iMessage."
CONVERSATION_INACTIVE = (
    "This conversation is no longer connected. The person can reconnect by texting the "
    "connect command to the triage number."
)
RECIPIENT_NOT_E164 = "This conversation is receive-only: its address is not a phone number."
PROVIDER_UNAVAILABLE = "The messaging provider did not accept the request; try again."

# Provider statuses that end a send as failed.
FAILED_STATUSES = {DeliveryStatus.ERROR, DeliveryStatus.DECLINED}


def provider_adapter() -> ProviderAdapter:
    from provisioning.providers import get_adapter

    return get_adapter()


def line_credentials(line: PhoneLine) -> AccountCredentials:
    from provisioning.services.credentials import setup_credentials

    return setup_credentials(line.setup)


def enqueue(task: Any, row_id: str, *, countdown: float | None = None) -> None:
    """Hand a row's job to Celery after commit (`console.outbox.publish_on_commit`); a
    broker outage is logged, the sweep catches up."""
    publish_on_commit(task, [row_id], countdown=countdown)


def emit(event_type: str, *, identity: AgentIdentity, **objects: Any) -> None:
    # Called through the module so the webhook layer can be swapped or observed in tests.
    webhook_events.event_emit(event_type=event_type, identity=identity, **objects)


def event_build(
    event_type: str, *, identity: AgentIdentity, **objects: Any
) -> webhook_events.PendingEvent | None:
    """`emit` for a caller that stores the event's rows in a statement of its own."""
    return webhook_events.event_build(event_type=event_type, identity=identity, **objects)


def is_phone(address: str) -> bool:
    return address.startswith("+")


def conversation_line(conversation: Conversation) -> PhoneLine | None:
    """The line we may send on now: the active assignment's pool line, or the identity's
    dedicated line. None when the connection was released."""
    line = conversation.line
    if line is None or line.number is None:
        return None
    if line.role == LineRole.DEDICATED:
        return line if line.identity_id == conversation.identity_id else None
    assignment = conversation.assignment
    if assignment is None or assignment.status != AssignmentStatus.ACTIVE:
        return None
    return line


def last_message_before(at: datetime) -> Q:
    """Conversations a message at `at` moves forward: their last message is older, or
    they have none. `last_message_at` never moves back (messages may arrive out of order)."""
    return Q(last_message_at__isnull=True) | Q(last_message_at__lt=at)


def conversation_touch(conversation_id: Any, at: datetime) -> None:
    """Move the conversation's `last_message_at` forward to `at` (never back)."""
    conversation_touched(conversation_id, at).run()


def conversation_touched(conversation_id: Any, at: datetime) -> BoundUpdate:
    """`conversation_touch` to run later, or as a clause of another statement."""
    return _CONVERSATION_TOUCH.bound(conversation_id=conversation_id, at=at, now=timezone.now())


def _conversation_touch(
    *, conversation_id: uuid.UUID, at: datetime, now: datetime
) -> tuple[QuerySet[Conversation, Any], dict[str, Any]]:
    conversations = Conversation.objects.filter(last_message_before(at), pk=conversation_id)
    return conversations, {"last_message_at": at, "updated_at": now}


# Every send runs it: compiled once per process.
_CONVERSATION_TOUCH = PreparedUpdate(
    Conversation, _conversation_touch, conversation_id=uuid.UUID, at=datetime, now=datetime
)


def active_line_or_409(conversation: Conversation) -> PhoneLine:
    line = conversation_line(conversation)
    if line is None or line.number is None:
        raise Conflict(CONVERSATION_INACTIVE, code="conversation_inactive")
    return line


def provider_call_failed(exc: ProviderError) -> ProviderFailed:
    return ProviderFailed(
        PROVIDER_UNAVAILABLE,
        extra={"provider_message": exc.message},
    )


def group_refuse(conversation: Conversation) -> None:
    """Group threads are kept for audit only: raises 409 `group_not_supported`."""
    if conversation.is_group:
        from messaging.groups import GROUP_NOT_SUPPORTED

        raise Conflict(GROUP_NOT_SUPPORTED, code="group_not_supported")
