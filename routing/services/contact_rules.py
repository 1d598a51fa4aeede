"""Contact rules: allow/block rules per identity and number, and the outbound filter check.

Filter evaluation itself (mode plus rules into a verdict) is in `routing.rule_decisions`; these
are the writes, each audited, and the 403 an outbound send meets when the rules say no.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from console.errors import Conflict, Forbidden, ValidationFailed
from console.models import AgentIdentity
from console.services import Actor, audit_record
from routing.models import ContactRule, RuleAction, RuleDirection, RuleStatus
from routing.rule_decisions import RuleDecision, contact_decision


class RecipientBlocked(Forbidden):
    code = "recipient_blocked"


RECIPIENT_BLOCKED_MESSAGE = "This identity's contact rules do not allow sending to this number."


def outbound_permission_check(
    *, identity: AgentIdentity, number: str, decision: RuleDecision | None = None
) -> None:
    """Raise the contract's 403 `recipient_blocked` when `identity` may not send to `number`
    (`decision`: the outbound verdict as the caller already read it)."""
    if decision is None:
        decision = contact_decision(identity=identity, number=number, direction="outbound")
    if decision.allowed:
        return
    raise RecipientBlocked(
        RECIPIENT_BLOCKED_MESSAGE,
        extra={
            "matched_rule_id": str(decision.matched_rule_id) if decision.matched_rule_id else None,
            "address": number,
            "reason": "contact_rule" if decision.matched_rule_id else "filter_mode",
        },
    )


# --- Contact rules -----------------------------------------------------------

RULE_DIRECTIONS = {d.value for d in RuleDirection}
RULE_ACTIONS = {a.value for a in RuleAction}


def _sides(direction: str) -> set[str]:
    if direction == RuleDirection.BOTH:
        return {RuleDirection.INBOUND.value, RuleDirection.OUTBOUND.value}
    return {direction}


def _rule_snapshot(rule: ContactRule) -> dict[str, Any]:
    return {
        "action": rule.action,
        "match_target": rule.match_target,
        "direction": rule.direction,
        "status": rule.status,
    }


def _rule_audit(
    identity: AgentIdentity,
    actor: Actor,
    verb: str,
    rule: ContactRule,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Audit `contact_rule.<verb>` on `rule` in `identity`'s organisation."""
    audit_record(
        organization=identity.organization,
        actor=actor,
        action=f"contact_rule.{verb}",
        obj=rule,
        before=before,
        after=after,
    )


def _lock_identity(identity: AgentIdentity) -> None:
    # Rule writes for one identity are serialised, so overlapping-coverage checks hold.
    AgentIdentity.objects.select_for_update().filter(pk=identity.pk).first()


class DuplicateContactRule(Conflict):
    code = "duplicate_contact_rule"


def _duplicate(existing: ContactRule) -> DuplicateContactRule:
    return DuplicateContactRule(
        "A contact rule already covers this number and direction.",
        extra={"existing_rule_id": str(existing.id)},
    )


def _overlapping(
    *, identity: AgentIdentity, match_type: str, target: str, direction: str, exclude: Any = None
) -> ContactRule | None:
    others = ContactRule.objects.filter(
        identity=identity, match_type=match_type, match_target=target
    ).order_by("created_at")
    if exclude is not None:
        others = others.exclude(pk=exclude)
    for other in others:
        if _sides(other.direction) & _sides(direction):
            return other
    return None


@transaction.atomic
def contact_rule_create(
    *,
    identity: AgentIdentity,
    actor: Actor,
    action: str,
    match_target: str,
    match_type: str = "exact_number",
    direction: str = RuleDirection.BOTH,
) -> ContactRule:
    """Create a rule, or widen a one-way rule with the same action to `both`.

    Raises `DuplicateContactRule` (409 with `existing_rule_id`) when another rule already
    covers the number in an overlapping direction, whatever its action or status.
    """
    from console.phone import normalize_e164

    if action not in RULE_ACTIONS:
        raise ValidationFailed("action must be allow or block.")
    if direction not in RULE_DIRECTIONS:
        raise ValidationFailed("direction must be inbound, outbound or both.")
    if match_type != "exact_number":
        raise ValidationFailed("match_type must be exact_number.")
    target = normalize_e164(match_target, field="match_target")
    _lock_identity(identity)
    existing = _overlapping(
        identity=identity, match_type=match_type, target=target, direction=direction
    )
    if existing is not None:
        raise _duplicate(existing)
    # The complementary one-way rule with the same action consolidates into one `both` rule,
    # so ids issued earlier keep addressing the logical rule.
    sibling = (
        ContactRule.objects.filter(
            identity=identity, match_type=match_type, match_target=target, action=action
        )
        .exclude(direction=RuleDirection.BOTH)
        .first()
    )
    if sibling is not None and direction != RuleDirection.BOTH:
        before = _rule_snapshot(sibling)
        sibling.direction = RuleDirection.BOTH
        sibling.save(update_fields=["direction", "updated_at"])
        _rule_audit(identity, actor, "update", sibling, before, _rule_snapshot(sibling))
        return sibling
    try:
        with transaction.atomic():
            rule = ContactRule.objects.create(
                identity=identity,
                action=action,
                match_type=match_type,
                match_target=target,
                direction=direction,
            )
    except IntegrityError:
        existing = _overlapping(
            identity=identity, match_type=match_type, target=target, direction=direction
        )
        if existing is None:
            raise
        raise _duplicate(existing) from None
    _rule_audit(identity, actor, "create", rule, None, _rule_snapshot(rule))
    return rule


@transaction.atomic
def contact_rule_update(
    *,
    rule: ContactRule,
    actor: Actor,
    action: str | None = None,
    direction: str | None = None,
    apply_to: str | None = None,
    status: str | None = None,
) -> ContactRule:
    """Change a rule's action, coverage or status; returns the rule covering the edited side.

    `apply_to` (with `action`) changes one side only: a `both` rule splits into two one-way
    rules, the original keeping the other side.
    """
    if action is None and direction is None and status is None:
        raise ValidationFailed("Provide action or direction.")
    if apply_to is not None and (action is None or direction is not None):
        raise ValidationFailed("apply_to requires action and cannot be combined with direction.")
    if apply_to is not None and apply_to not in (RuleDirection.INBOUND, RuleDirection.OUTBOUND):
        raise ValidationFailed("apply_to must be inbound or outbound.")
    if action is not None and action not in RULE_ACTIONS:
        raise ValidationFailed("action must be allow or block.")
    if direction is not None and direction not in RULE_DIRECTIONS:
        raise ValidationFailed("direction must be inbound, outbound or both.")
    if status is not None and status not in (RuleStatus.ACTIVE, RuleStatus.PAUSED):
        raise ValidationFailed("status must be active or paused.")
    identity = rule.identity
    _lock_identity(identity)
    rule = ContactRule.objects.select_for_update().get(pk=rule.pk)
    before = _rule_snapshot(rule)
    result = rule
    if apply_to is not None:
        assert action is not None
        if apply_to not in _sides(rule.direction):
            raise ValidationFailed(f"This rule does not cover the {apply_to} side.")
        if rule.direction == RuleDirection.BOTH and action != rule.action:
            keep = (
                RuleDirection.OUTBOUND
                if apply_to == RuleDirection.INBOUND
                else RuleDirection.INBOUND
            )
            rule.direction = keep
            rule.save(update_fields=["direction", "updated_at"])
            result = ContactRule.objects.create(
                identity=identity,
                action=action,
                match_type=rule.match_type,
                match_target=rule.match_target,
                direction=apply_to,
                status=rule.status,
            )
        else:
            rule.action = action
            rule.save(update_fields=["action", "updated_at"])
    else:
        if direction is not None and direction != rule.direction:
            clash = _overlapping(
                identity=identity,
                match_type=rule.match_type,
                target=rule.match_target,
                direction=direction,
                exclude=rule.pk,
            )
            if clash is not None:
                raise _duplicate(clash)
            rule.direction = direction
        if action is not None:
            rule.action = action
        if status is not None:
            rule.status = status
        rule.save(update_fields=["direction", "action", "status", "updated_at"])
    split_into = str(result.id) if result != rule else None
    _rule_audit(
        identity, actor, "update", rule, before, {**_rule_snapshot(rule), "split_into": split_into}
    )
    return result


@transaction.atomic
def contact_rule_delete(*, rule: ContactRule, actor: Actor) -> None:
    _rule_audit(rule.identity, actor, "delete", rule, _rule_snapshot(rule), None)
    rule.delete()


# --- Letting a blocked sender through ------------------------------------------------

ALLOW_FAILED = "The sender is still filtered after the change; check the identity's rules."


def _covers_inbound(rule: ContactRule) -> bool:
    return rule.direction in (RuleDirection.INBOUND, RuleDirection.BOTH)


def _rules_for(identity: AgentIdentity, number: str) -> list[ContactRule]:
    return list(
        ContactRule.objects.filter(identity=identity, match_target=number).order_by("created_at")
    )


def _inbound_allowed(identity: AgentIdentity, number: str) -> bool:
    return contact_decision(identity=identity, number=number, direction="inbound").allowed


def _inbound_settle(
    *, identity: AgentIdentity, number: str, actor: Actor, action: str
) -> list[str]:
    """Make the rules let `number` through inbound (`action` allow) or refuse it (block);
    returns what changed.

    Active rules of the opposite action covering inbound lose that side (an inbound-only
    rule is deleted, a two-way rule keeps only its outbound side). If the mode alone does
    not then decide as wanted, the first rule left covering inbound is turned into an
    active inbound rule of `action` (a two-way rule of the other action is split), or a
    new inbound rule of `action` is created.
    """
    wanted = action == RuleAction.ALLOW
    opposite = RuleAction.BLOCK if wanted else RuleAction.ALLOW
    changes: list[str] = []
    for rule in _rules_for(identity, number):
        if rule.action == opposite and rule.status == RuleStatus.ACTIVE and _covers_inbound(rule):
            if rule.direction == RuleDirection.INBOUND:
                contact_rule_delete(rule=rule, actor=actor)
                changes.append(f"removed the inbound {opposite} rule")
            else:
                contact_rule_update(rule=rule, actor=actor, direction=RuleDirection.OUTBOUND)
                changes.append(f"narrowed the {opposite} rule to outbound only")
    if _inbound_allowed(identity, number) == wanted:
        return changes
    covering = [r for r in _rules_for(identity, number) if _covers_inbound(r)]
    if not covering:
        created = contact_rule_create(
            identity=identity,
            actor=actor,
            action=action,
            match_target=number,
            direction=RuleDirection.INBOUND,
        )
        if created.direction == RuleDirection.BOTH:
            # An outbound rule with the same action now covers both sides.
            return [*changes, f"extended the outbound {action} rule to inbound"]
        return [*changes, f"added an inbound {action} rule"]
    rule = covering[0]
    if rule.action != action and rule.direction == RuleDirection.BOTH:
        rule = contact_rule_update(
            rule=rule, actor=actor, action=action, apply_to=RuleDirection.INBOUND
        )
    elif rule.action != action:
        rule = contact_rule_update(rule=rule, actor=actor, action=action)
    if rule.status != RuleStatus.ACTIVE:
        rule = contact_rule_update(rule=rule, actor=actor, status=RuleStatus.ACTIVE)
    return [*changes, f"turned the existing rule into an active inbound {action} rule"]


@transaction.atomic
def blocked_sender_allow(*, identity: AgentIdentity, number: str, actor: Actor) -> str:
    """Let `number` reach `identity` inbound from now on; returns what changed, for the
    reviewer.

    In blacklist mode only block rules stop a sender, so their inbound side is removed. In
    whitelist mode the sender also needs an active allow rule covering inbound: a paused or
    blocking rule on that side is turned into one, otherwise a new inbound allow rule is
    created (see `_inbound_settle`). Raises `Conflict` (still_blocked) when the sender is
    filtered even so.
    """
    changes = _inbound_settle(identity=identity, number=number, actor=actor, action="allow")
    if not _inbound_allowed(identity, number):
        raise Conflict(ALLOW_FAILED, code="still_blocked")
    return "; ".join(changes) or "no rule change was needed"


# --- Keeping a sender blocked ----------------------------------------------------------

BLOCK_FAILED = "The sender still gets through after the change; check the identity's rules."


@transaction.atomic
def blocked_sender_block(*, identity: AgentIdentity, number: str, actor: Actor) -> str:
    """Refuse `number` inbound to `identity` from now on, the reverse of
    `blocked_sender_allow`; returns what changed, for the reviewer.

    Active allow rules covering inbound lose that side, which in whitelist mode refuses the
    sender; in blacklist mode a rule left on the number becomes an active inbound block
    rule, or one is created (merged with an outbound block rule into one two-way rule).
    Raises `Conflict` (still_allowed) when the sender still gets through even so.
    """
    changes = _inbound_settle(identity=identity, number=number, actor=actor, action="block")
    if _inbound_allowed(identity, number):
        raise Conflict(BLOCK_FAILED, code="still_allowed")
    return "; ".join(changes) or "no rule change was needed"
