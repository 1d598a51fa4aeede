"""Console writes that belong to no other app: blocked-message review.

Rule, filter-mode, connection, line-role and delivery changes go through the owning app's
services; these functions only orchestrate them and record what the reviewer decided.

A decision does what its label says: "allowed" lets the sender through the identity's
rules from now on, "kept" makes sure the rules refuse them (restoring a block an earlier
"allow" removed). A message is decided once; the opposite decision afterwards is a
"change" that needs a reason. Both are audited on the message, with the rule changes
audited on the rules themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.errors import ApplicationError, Conflict, ValidationFailed
from console.services import Actor, audit_record
from messaging.models import REVIEW_WAITING, Message, ReviewState
from messaging.services.held import held_message_release
from routing.services.contact_rules import blocked_sender_allow, blocked_sender_block

# --- Blocked-message review ---------------------------------------------------------------

REVIEW_ALLOWED = ReviewState.ALLOWED.value
REVIEW_KEPT = ReviewState.KEPT.value
DECISIONS = (REVIEW_ALLOWED, REVIEW_KEPT)
ALREADY_DECIDED = (
    "This message was already decided ({state}); use Change decision to reverse it, with a reason."
)
NOT_DECIDED = "This message is still waiting for review; decide it first."
SAME_DECISION = "The decision is already {state}."
REASON_REQUIRED = "Give a reason for changing the decision."
RELEASE_NEEDS_ALLOW = "Only a message whose sender was allowed can be released to the agent."
UNKNOWN_DECISION = "The decision must be allowed or kept."


@dataclass
class ReviewOutcome:
    """What a decision did: the rule changes (for the notice) and whether the held
    message was delivered now (None: not asked)."""

    decision: str
    changes: str
    released: bool | None = None


def _mark_reviewed(message: Message, state: str, reviewer: Any) -> int:
    """Settle this message and every waiting blocked message from the same sender to the
    same identity, with who decided and when."""
    now = timezone.now()
    message.review_state, message.reviewed_by, message.reviewed_at = state, reviewer, now
    return (
        Message.objects.filter(identity_id=message.identity_id, remote_number=message.remote_number)
        .filter(Q(pk=message.pk) | Q(is_blocked=True, review_state=REVIEW_WAITING))
        .update(review_state=state, reviewed_by=reviewer, reviewed_at=now, updated_at=now)
    )


def _apply(message: Message, decision: str, actor: Actor) -> str:
    """Change the identity's rules so they do what `decision` says for the sender."""
    if decision not in DECISIONS:
        raise ValidationFailed(UNKNOWN_DECISION)
    change = blocked_sender_allow if decision == REVIEW_ALLOWED else blocked_sender_block
    return change(identity=message.identity, number=message.remote_number, actor=actor)


def _release(message: Message, actor: Actor) -> bool:
    """Deliver the held message to the agent; audited when it was released now."""
    if message.review_state != REVIEW_ALLOWED:
        raise Conflict(RELEASE_NEEDS_ALLOW, code="not_allowed")
    released = held_message_release(message=message)
    if released:
        audit_record(
            organization=message.identity.organization,
            actor=actor,
            action="blocked_message.release",
            obj=message,
            before={"delivered_to_agent": False},
            after={"delivered_to_agent": True, "sender": message.remote_number},
        )
    return released


@transaction.atomic
def blocked_message_decide(
    *, message: Message, decision: str, actor: Actor, reviewer: Any, release: bool = False
) -> ReviewOutcome:
    """The first decision on a waiting message (`decision`: allowed or kept); `release`
    (with allowed) also delivers the held message to the agent now.

    Deciding the same again changes nothing (a double submit); the opposite decision on a
    decided message is refused (`Conflict` already_decided): that is a change."""
    before = message.review_state
    if before and before != decision:
        raise Conflict(ALREADY_DECIDED.format(state=before), code="already_decided")
    if before == decision:
        outcome = ReviewOutcome(decision, "no change: already decided")
    else:
        outcome = ReviewOutcome(decision, _apply(message, decision, actor))
        _mark_reviewed(message, decision, reviewer)
        audit_record(
            organization=message.identity.organization,
            actor=actor,
            action=f"blocked_message.{'allow' if decision == REVIEW_ALLOWED else 'keep'}",
            obj=message,
            before={"review_state": "waiting"},
            after={
                "review_state": decision,
                "sender": message.remote_number,
                "changes": outcome.changes,
            },
        )
    if release:
        outcome.released = _release(message, actor)
    return outcome


@transaction.atomic
def blocked_message_change(
    *,
    message: Message,
    decision: str,
    reason: str,
    actor: Actor,
    reviewer: Any,
    release: bool = False,
) -> ReviewOutcome:
    """Reverse the decision on a decided message, for `reason` (required): allowed → kept
    restores the block, kept → allowed lets the sender through (and releases the held
    message with `release`). A message released to the agent stays delivered."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(REASON_REQUIRED, extra={"fields": {"reason": [REASON_REQUIRED]}})
    before = message.review_state
    if not before:
        raise Conflict(NOT_DECIDED, code="not_decided")
    if before == decision:
        raise Conflict(SAME_DECISION.format(state=before), code="same_decision")
    outcome = ReviewOutcome(decision, _apply(message, decision, actor))
    _mark_reviewed(message, decision, reviewer)
    audit_record(
        organization=message.identity.organization,
        actor=actor,
        action="blocked_message.change",
        obj=message,
        before={"review_state": before},
        after={
            "review_state": decision,
            "sender": message.remote_number,
            "reason": reason,
            "changes": outcome.changes,
        },
    )
    if release:
        outcome.released = _release(message, actor)
    return outcome


@transaction.atomic
def blocked_message_release(*, message: Message, actor: Actor) -> bool:
    """Deliver an allowed message that is still held to the agent now (False: it was
    released already)."""
    return _release(message, actor)


@dataclass
class BulkOutcome:
    done: int = 0
    unchanged: int = 0
    # Decided the other way already: each needs its own "Change decision" with a reason.
    conflicting: int = 0
    # Not found in the viewer's scope, or in an organisation they only audit.
    not_permitted: int = 0
    # Refused by the rules (the message says why); the others still went through.
    failed: list[str] = field(default_factory=list)


def blocked_messages_decide(
    *, messages: list[Message], decision: str, actor: Actor, reviewer: Any, missing: int = 0
) -> BulkOutcome:
    """One decision on many messages, each decided and audited on its own (one sender's
    first decision settles their other waiting messages, which then count as unchanged).
    `missing`: selected messages the caller could not find or may not operate."""
    outcome = BulkOutcome(not_permitted=missing)
    for message in messages:
        message.refresh_from_db(fields=["review_state"])
        if message.review_state == decision:
            outcome.unchanged += 1
            continue
        if message.review_state:
            outcome.conflicting += 1
            continue
        try:
            blocked_message_decide(
                message=message, decision=decision, actor=actor, reviewer=reviewer
            )
        except ApplicationError as exc:
            outcome.failed.append(f"{message.remote_number}: {exc.message}")
            continue
        outcome.done += 1
    return outcome
