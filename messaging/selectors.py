"""Messaging reads, always scoped to the caller's key.

Identity-scoped keys see only their identity's rows and never a blocked message; admin
keys see the whole organisation (or one identity via `agent_identity_id`) and may filter
on `is_blocked`. Foreign or invisible objects answer 404 like missing ones.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import (
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)

from console.db.lookups import AnyOf
from console.db.parameters import UUIDList
from console.db.prepared import PreparedQuery
from console.errors import NotFound, ValidationFailed
from console.models import AgentIdentity, ApiKey
from console.scope import Scope
from console.selectors import acting_identity_for_key
from messaging.models import Conversation, Message, OptOut, QuietHours, Reaction
from messaging.wire import (
    MESSAGE_COLUMNS,
    REACTION_COLUMNS,
)
from routing.models import RuleAction
from routing.rule_decisions import first_covering_rule

CONVERSATION_NOT_FOUND = "Conversation not found."
MESSAGE_NOT_FOUND = "Message not found."
REACTION_NOT_FOUND = "Reaction not found."
THREAD_NOT_FOUND = "Thread not found."


def invalid_field(name: str, message: str) -> ValidationFailed:
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


def conversation_get(
    *,
    key: ApiKey,
    conversation_id: uuid.UUID,
    agent_identity_id: uuid.UUID | None = None,
    for_send: bool = False,
) -> Conversation:
    """The conversation visible to `key`; `for_send`: with what a send checks about its
    person read along (`RecipientChecks`)."""
    conversations = conversation_scope(key=key, agent_identity_id=agent_identity_id)
    if for_send:
        conversations = conversations.annotate(**_recipient_check_columns())
    conversation = (
        conversations.select_related("assignment", "line", "identity")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return conversation


@dataclass(frozen=True)
class RecipientChecks:
    """What a send checks about the person before anything else, as the conversation's read
    brought it along: the first active outbound block and allow rules covering their
    number (`routing.rule_decisions.verdict` decides) and whether they opted out."""

    blocking_rule_id: uuid.UUID | None
    allowing_rule_id: uuid.UUID | None
    opted_out: bool


def _recipient_check_columns() -> dict[str, Any]:
    # The conversation row's own identity and number are the sender and the recipient.
    identity, number = OuterRef("identity_id"), OuterRef("remote_number")
    return {
        "blocking_rule_id": first_covering_rule(
            identity=identity, number=number, direction="outbound", action=RuleAction.BLOCK
        ),
        "allowing_rule_id": first_covering_rule(
            identity=identity, number=number, direction="outbound", action=RuleAction.ALLOW
        ),
        "opted_out": Exists(OptOut.objects.filter(identity_id=identity, remote_number=number)),
    }


def recipient_checks(conversation: Conversation) -> RecipientChecks | None:
    """The `RecipientChecks` read with `conversation` (None: it was read without them)."""
    if not hasattr(conversation, "opted_out"):
        return None
    return RecipientChecks(
        blocking_rule_id=conversation.blocking_rule_id,  # type: ignore[attr-defined]
        allowing_rule_id=conversation.allowing_rule_id,  # type: ignore[attr-defined]
        opted_out=bool(conversation.opted_out),
    )


def _conversation_for_send(*, identity_id: uuid.UUID, remote_number: str) -> Any:
    return (
        Conversation.objects.select_related("assignment", "line", "identity__quiet_hours")
        # The send lock (see `messaging.services.scheduling.send_lock`): only the identity.
        .select_for_update(no_key=True, of=("identity",))
        # `is_group` names the per-person unique index: without it PostgreSQL scanned every
        # conversation of the identity (5 ms at 2,000 conversations).
        .filter(identity_id=identity_id, remote_number=remote_number, is_group=False)
        .annotate(**_recipient_check_columns())
        # The identity is joined for its lock and its quiet hours; the caller has the rest.
        .defer(*_IDENTITY_COLUMNS_NOT_READ)
        .order_by("pk")[:1]
    )


_IDENTITY_COLUMNS_NOT_READ = tuple(
    f"identity__{field.name}"
    for field in AgentIdentity._meta.concrete_fields
    if not field.primary_key
)


# Every send by `to` reads it: compiled once per process.
_CONVERSATION_FOR_SEND = PreparedQuery(
    Conversation, _conversation_for_send, identity_id=uuid.UUID, remote_number=str
)


@dataclass(frozen=True)
class SendLock:
    """The identity's send lock, taken by the statement that read a conversation, and the
    identity's quiet hours as that statement read them (None: quiet hours are off)."""

    quiet_hours: QuietHours | None


def conversation_for_send(*, identity: Any, remote_number: str) -> Conversation | None:
    """The identity's conversation with `remote_number`, with the assignment and line a
    send checks, its `RecipientChecks`, and the identity's send lock taken (`send_lock_of`),
    in one statement (the caller's transaction holds the lock); None before the person's
    first message or connection (then no lock is taken)."""
    if not transaction.get_connection().in_atomic_block:
        # What select_for_update() checks: a lock outside a transaction ends at once.
        raise transaction.TransactionManagementError("conversation_for_send needs a transaction")
    found: Conversation | None = _CONVERSATION_FOR_SEND.first(
        identity_id=identity.pk, remote_number=remote_number
    )
    if found is not None:
        quiet_hours = getattr(found.identity, "quiet_hours", None)
        found._send_lock = SendLock(quiet_hours)  # type: ignore[attr-defined]
        found.identity = identity
    return found


def send_lock_of(conversation: Conversation) -> SendLock | None:
    """The send lock `conversation_for_send` took with `conversation` (None: it was read
    without it), answered once: the object may outlive the transaction that holds the
    lock, and a later send with it must take the lock again."""
    lock: SendLock | None = conversation.__dict__.pop("_send_lock", None)
    return lock


# --- Messages ---------------------------------------------------------------------------

# A message as `message_row_wire` renders it (see `_message_rows`).
MessageRow = dict[str, Any]


def _message_rows(qs: QuerySet[Message], *, start: int, stop: int) -> list[MessageRow]:
    """Rows `start:stop` of the ordered `qs` for `message_row_wire`: MESSAGE_COLUMNS, and
    the message's live `reactions` (REACTION_COLUMNS, oldest first) read in one more
    query. Building 50 wide model instances cost more than the rest of a list request."""
    return rows_with_reactions(list(qs.values(*MESSAGE_COLUMNS)[start:stop]))


def rows_with_reactions(rows: list[MessageRow]) -> list[MessageRow]:
    """`rows` (MESSAGE_COLUMNS) with their live `reactions`, read in one more query."""
    reactions: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in rows:
        row["reactions"] = reactions[row["id"]] = []
    if rows:
        for reaction in _LIVE_REACTIONS.rows(message_ids=list(reactions)):
            reactions[reaction.pop("message_id")].append(reaction)
    return rows


def _live_reactions_of(*, message_ids: list[uuid.UUID]) -> QuerySet[Reaction, Any]:
    return (
        Reaction.objects.filter(AnyOf(F("message_id"), message_ids), is_live=True)
        .order_by("created_at")
        .values("message_id", *REACTION_COLUMNS)
    )


# Every message list and thread page reads them: one statement for any page length,
# compiled once per process.
_LIVE_REACTIONS = PreparedQuery(Reaction, _live_reactions_of, message_ids=UUIDList)


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
        raise invalid_field("cursor", "is not a cursor this server issued") from None


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
