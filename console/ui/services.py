"""Console writes that belong to no other app: blocked-message review.

Rule, filter-mode, connection, line-role and delivery changes go through the owning app's
services; these functions only orchestrate them and record what the reviewer decided.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from console.errors import Conflict
from console.models import AgentIdentity
from console.services import Actor, audit_record
from messaging.models import Message
from routing import services as routing_services
from routing.models import ContactRule, RuleAction, RuleDirection, RuleStatus
from routing.selectors import contact_decision

# --- Blocked-message review ---------------------------------------------------------------

REVIEW_ALLOWED = "allowed"
REVIEW_KEPT = "kept"
ALLOW_FAILED = "The sender is still filtered after the change; check the identity's rules."


def _covers_inbound(rule: ContactRule) -> bool:
    return rule.direction in (RuleDirection.INBOUND, RuleDirection.BOTH)


def _rules_for(identity: AgentIdentity, number: str) -> list[ContactRule]:
    return list(
        ContactRule.objects.filter(identity=identity, match_target=number).order_by("created_at")
    )


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
def blocked_sender_allow(*, message: Message, actor: Actor) -> str:
    """Let the sender of a blocked message reach the identity from now on.

    In blacklist mode only block rules stop a sender, so their inbound side is removed
    (an inbound-only rule is deleted, a two-way rule keeps only its outbound side). In
    whitelist mode the sender also needs an active allow rule covering inbound: a paused or
    blocking rule on that side is turned into one, otherwise a new inbound allow rule is
    created. Returns a sentence describing the change, for the reviewer.
    """
    identity = message.identity
    number = message.remote_number
    changes: list[str] = []
    for rule in _rules_for(identity, number):
        if (
            rule.action == RuleAction.BLOCK
            and rule.status == RuleStatus.ACTIVE
            and _covers_inbound(rule)
        ):
            if rule.direction == RuleDirection.INBOUND:
                routing_services.contact_rule_delete(rule=rule, actor=actor)
                changes.append("removed the inbound block rule")
            else:
                routing_services.contact_rule_update(
                    rule=rule, actor=actor, direction=RuleDirection.OUTBOUND
                )
                changes.append("narrowed the block rule to outbound only")
    if not contact_decision(identity=identity, number=number, direction="inbound").allowed:
        covering = [r for r in _rules_for(identity, number) if _covers_inbound(r)]
        if covering:
            rule = covering[0]
            if rule.action != RuleAction.ALLOW and rule.direction == RuleDirection.BOTH:
                rule = routing_services.contact_rule_update(
                    rule=rule, actor=actor, action=RuleAction.ALLOW, apply_to=RuleDirection.INBOUND
                )
            elif rule.action != RuleAction.ALLOW:
                rule = routing_services.contact_rule_update(
                    rule=rule, actor=actor, action=RuleAction.ALLOW
                )
            if rule.status != RuleStatus.ACTIVE:
                rule = routing_services.contact_rule_update(
                    rule=rule, actor=actor, status=RuleStatus.ACTIVE
                )
            changes.append("turned the existing rule into an active inbound allow rule")
        else:
            routing_services.contact_rule_create(
                identity=identity,
                actor=actor,
                action=RuleAction.ALLOW,
                match_target=number,
                direction=RuleDirection.INBOUND,
            )
            changes.append("added an inbound allow rule")
    if not contact_decision(identity=identity, number=number, direction="inbound").allowed:
        raise Conflict(ALLOW_FAILED, code="still_blocked")
    _mark_reviewed(message, REVIEW_ALLOWED)
    summary = "; ".join(changes) or "no rule change was needed"
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
