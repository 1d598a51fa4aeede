"""The one conversation per (identity, person): created once (`conversation_get_or_create`),
moved onto the line and connection a message arrived over (`conversation_received_update`),
and pointed at a connection routing made or ended (`conversation_attach`,
`connection_attach`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from console.db.inserts import insert_if_absent
from console.db.prepared import BoundUpdate, PreparedShapes, PreparedUpdate
from console.models import AgentIdentity
from messaging import presence
from messaging.models import Conversation, Message
from messaging.services import common
from messaging.services.conversation_counts import counted_beside, counters_beside
from provisioning.models import PhoneLine
from routing.models import Assignment, AssignmentStatus


def connection_attach(assignment: Assignment) -> None:
    """A connection was made or ended: point its conversation at it, then emit
    `imessage.connected` or `imessage.disconnected` (naming the conversation).

    Also registered as the `routing.hooks` listener for the changes routing makes outside
    the inbound path (staff and agent releases, identity deletion)."""
    conversation_id = conversation_attach(assignment)
    presence.connection_changed(assignment, conversation_id=conversation_id)


def conversation_get_or_create(
    *, identity: AgentIdentity, remote_number: str, defaults: dict[str, Any] | None = None
) -> Conversation:
    """The one conversation per (identity, person); the unique constraint settles races.

    Inserted first, read only when the insert found it there: callers ask when they have
    just seen none (an inbound message) or for a person connecting, mostly for the first
    time, where `get_or_create` took four round trips (read, savepoint, insert, release).
    """
    created = insert_if_absent(
        Conversation,
        organization_id=identity.organization_id,
        **(defaults or {}),
        identity=identity,
        remote_number=remote_number,
        is_group=False,
    )
    if created is not None:
        return created
    return Conversation.objects.get(identity=identity, remote_number=remote_number, is_group=False)


def conversation_received_update(
    *,
    identity: AgentIdentity,
    remote_number: str,
    line: PhoneLine,
    assignment: Assignment | None,
    at: datetime,
    counting: Message | None = None,
) -> BoundUpdate:
    """A delivered message arrived at `at` on `line` (over `assignment`, None on a dedicated
    line): the update that moves the (identity, person) conversation onto them and its
    `last_message_at` forward (never back), and answers it as stored, to run now or
    within another statement (`received_conversation` takes what it answered).

    `counting`: the message, when the update runs with its insert (as a leading write of
    `console.db.one_statement`): the update then runs only when the message went in, and
    counts it where that is one statement (`conversation_counts.counted_beside`)."""
    ids = {"identity_id": identity.pk, "remote_number": remote_number, "line_id": line.pk}
    if assignment is not None:
        ids["assignment_id"] = assignment.pk
    counters = counters_beside(counting) if counting is not None else ()
    if counting is not None and counters:
        ids["message_id"] = counting.pk
        ids["conversation_id"] = counting.conversation_id
    shape = (assignment is not None, counters)
    return _CONVERSATION_RECEIVE[shape].bound(
        at=at, now=timezone.now(), with_row=counting is not None, **ids
    )


def received_conversation(rows: list[Conversation], identity: AgentIdentity) -> Conversation | None:
    """The conversation `conversation_received_update` answered (None: there is none yet)."""
    if not rows:
        return None
    conversation = rows[0]
    conversation.identity = identity
    return conversation


def _conversation_receive_update(
    shape: tuple[bool, tuple[str, ...]],
) -> PreparedUpdate[Conversation]:
    with_assignment, counters = shape
    params: dict[str, type] = {
        "identity_id": uuid.UUID,
        "remote_number": str,
        "line_id": uuid.UUID,
        "at": datetime,
        "now": datetime,
    }
    if with_assignment:
        params["assignment_id"] = uuid.UUID
    if counters:
        params["message_id"] = params["conversation_id"] = uuid.UUID

    def build(
        *,
        identity_id: uuid.UUID,
        remote_number: str,
        line_id: uuid.UUID,
        at: datetime,
        now: datetime,
        assignment_id: uuid.UUID | None = None,
        message_id: uuid.UUID | None = None,
        conversation_id: uuid.UUID | None = None,
    ) -> tuple[QuerySet[Conversation, Any], dict[str, Any]]:
        values: dict[str, Any] = {
            "last_message_at": common.last_message_moved(at),
            "line_id": line_id,
            "updated_at": now,
        }
        if assignment_id is not None:
            values["assignment_id"] = assignment_id
        if counters:
            values |= counted_beside(
                counters, message_id=message_id, conversation_id=conversation_id
            )
        conversations = Conversation.objects.filter(
            identity_id=identity_id, remote_number=remote_number, is_group=False
        )
        return conversations, values

    return PreparedUpdate(Conversation, build, **params)


# Every delivered inbound message runs one of them: compiled once per process (by whether
# the message came over a connection, and which counters it adds).
_CONVERSATION_RECEIVE = PreparedShapes(_conversation_receive_update)


def conversation_attach(assignment: Assignment) -> uuid.UUID | None:
    """Point the (identity, person) conversation at an activated assignment; returns that
    conversation's id (None: a released assignment of a person with no conversation).

    Called inside routing's transaction. A released assignment stays on the conversation
    so that reads report `assignment_status: released` and sends answer 409.
    """
    if assignment.status != AssignmentStatus.ACTIVE:
        Conversation.objects.filter(
            identity_id=assignment.identity_id,
            remote_number=assignment.remote_number,
            assignment_id=assignment.id,
        ).update(updated_at=timezone.now())
        return (
            Conversation.objects.filter(
                identity_id=assignment.identity_id,
                remote_number=assignment.remote_number,
                is_group=False,
            )
            .values_list("id", flat=True)
            .first()
        )
    conversation = conversation_get_or_create(
        identity=assignment.identity,
        remote_number=assignment.remote_number,
        defaults={
            "assignment": assignment,
            "line_id": assignment.pool_line_id,
            "last_message_at": timezone.now(),
        },
    )
    if conversation.assignment_id != assignment.id or conversation.line_id != (
        assignment.pool_line_id
    ):
        conversation.assignment = assignment
        conversation.line_id = assignment.pool_line_id
        conversation.save(update_fields=["assignment", "line", "updated_at"])
    return conversation.id
