"""Console writes that belong to no other app: blocked-message review.

Rule, filter-mode, connection, line-role and delivery changes go through the owning app's
services; these functions only orchestrate them and record what the reviewer decided.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from console.services import Actor, audit_record
from messaging.models import Message
from routing.services.contact_rules import blocked_sender_allow

# --- Blocked-message review ---------------------------------------------------------------

REVIEW_ALLOWED = "allowed"
REVIEW_KEPT = "kept"


def _mark_reviewed(message: Message, state: str) -> int:
    """Settle every unreviewed blocked message from the same sender to the same identity."""
    return (
        Message.objects.filter(
            identity_id=message.identity_id,
            remote_number=message.remote_number,
            is_blocked=True,
        )
        .filter(Q(pk=message.pk) | Q(review_state=""))
        .update(review_state=state)
    )


@transaction.atomic
def blocked_message_allow(*, message: Message, actor: Actor) -> str:
    """Let the sender of a blocked message reach the identity from now on (routing's
    `blocked_sender_allow` changes the rules) and record the review; returns what changed."""
    identity = message.identity
    number = message.remote_number
    summary = blocked_sender_allow(identity=identity, number=number, actor=actor)
    _mark_reviewed(message, REVIEW_ALLOWED)
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="blocked_message.allow",
        obj=message,
        before={"review_state": message.review_state or "pending"},
        after={"review_state": REVIEW_ALLOWED, "sender": number, "changes": summary},
    )
    message.review_state = REVIEW_ALLOWED
    return summary


@transaction.atomic
def blocked_message_keep(*, message: Message, actor: Actor) -> None:
    """Record that a reviewer looked at the message and left the rules as they are."""
    _mark_reviewed(message, REVIEW_KEPT)
    audit_record(
        organization=message.identity.organization,
        actor=actor,
        action="blocked_message.keep",
        obj=message,
        before={"review_state": message.review_state or "pending"},
        after={"review_state": REVIEW_KEPT, "sender": message.remote_number},
    )
    message.review_state = REVIEW_KEPT
