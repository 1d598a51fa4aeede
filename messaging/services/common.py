"""What the messaging service modules share: the provider adapter and a line's credentials,
the after-commit enqueue, the agent-event emit, and the line a conversation sends on.

The other modules call these through the module (`common.provider_adapter()`), so a test
that replaces one here replaces it for every caller.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.utils import timezone

from console.db.prepared import BoundUpdate, PreparedShapes, PreparedUpdate
from console.errors import Conflict, ProviderFailed
from console.models import AgentIdentity
from console.outbox import publish_on_commit
from messaging.models import Conversation, DeliveryStatus, Message
from messaging.services.conversation_counts import counted_beside, counters_beside
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


def last_message_moved(at: datetime) -> Case:
    """The conversation's `last_message_at` after a message at `at`: moved forward to `at`,
    never back (an UPDATE's value, for a row chosen by conditions that do not test it)."""
    return Case(
        When(last_message_before(at), then=Value(at)),
        default=F("last_message_at"),
        output_field=DateTimeField(),
    )


def conversation_touch(conversation_id: Any, at: datetime) -> None:
    """Move the conversation's `last_message_at` forward to `at` (never back)."""
    conversation_touched(conversation_id, at).run()


def conversation_touched(
    conversation_id: Any, at: datetime, *, counting: Message | None = None
) -> BoundUpdate:
    """`conversation_touch` to run later, or as a clause of another statement.

    `counting`: the message, when the touch runs with its insert (as a leading write of
    `console.db.one_statement`): the touch then runs only when the message went in, and
    counts it where that is one statement (`conversation_counts.counted_beside`)."""
    counters = counters_beside(counting) if counting is not None else ()
    ids = {"conversation_id": conversation_id}
    if counting is not None and counters:
        if counting.conversation_id != conversation_id:
            raise ValueError("a touch counts a message of the conversation it touches")
        ids["message_id"] = counting.pk
    return _CONVERSATION_TOUCH[counters].bound(
        at=at, now=timezone.now(), with_row=counting is not None, **ids
    )


def _conversation_touch(counters: tuple[str, ...]) -> PreparedUpdate[Conversation]:
    params: dict[str, type] = {"conversation_id": uuid.UUID, "at": datetime, "now": datetime}
    if counters:
        params["message_id"] = uuid.UUID

    def build(
        *,
        conversation_id: uuid.UUID,
        at: datetime,
        now: datetime,
        message_id: uuid.UUID | None = None,
    ) -> tuple[QuerySet[Conversation, Any], dict[str, Any]]:
        if not counters:
            conversations = Conversation.objects.filter(last_message_before(at), pk=conversation_id)
            return conversations, {"last_message_at": at, "updated_at": now}
        # Counting, the row is chosen by its key alone and the time tested in the SET:
        # PostgreSQL computes the SET (which marks the message counted) before it locks
        # the row, and a concurrent write that made the row fail a condition would then
        # leave the message marked and not counted.
        values: dict[str, Any] = {"last_message_at": last_message_moved(at), "updated_at": now}
        values |= counted_beside(counters, message_id=message_id, conversation_id=conversation_id)
        return Conversation.objects.filter(pk=conversation_id), values

    return PreparedUpdate(Conversation, build, **params)


# Every send runs one of them: compiled once per process (by which counters it adds).
_CONVERSATION_TOUCH = PreparedShapes(_conversation_touch)


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
