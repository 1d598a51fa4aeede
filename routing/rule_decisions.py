"""Contact-rule decisions: may a number reach an identity, or be reached by it?

`decide` is the rule as a pure function over loaded rules; `first_covering_rule` and
`verdict` are the same precedence for queries that read the deciding rule ids beside their
own row (the inbound line, a send's conversation); `whitelist_cutoff` previews a mode switch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Subquery, UUIDField

from console.db.prepared import PreparedQuery
from console.models import AgentIdentity, FilterMode
from routing.models import (
    Assignment,
    AssignmentStatus,
    ContactRule,
    RuleAction,
    RuleDirection,
    RuleStatus,
)

Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True)
class RuleDecision:
    allowed: bool
    # The rule that decided; None when the filter-mode default decided.
    matched_rule_id: uuid.UUID | None


def covering_directions(direction: Direction) -> list[str]:
    """The rule directions that cover a message going `direction`."""
    return [direction, RuleDirection.BOTH]


def decide(
    *, mode: str, rules: list[ContactRule], direction: Direction, number: str
) -> RuleDecision:
    """The filter rule, as a pure function over already-loaded rules.

    Precedence: an active `block` rule covering the number and direction always wins,
    in either mode. Otherwise an active `allow` rule allows. Otherwise the mode decides:
    `blacklist` allows, `whitelist` refuses (matched_rule_id None). Paused rules are ignored.
    """
    covering = [
        r
        for r in rules
        if r.status == RuleStatus.ACTIVE
        and r.match_target == number
        and r.direction in covering_directions(direction)
    ]
    return verdict(
        mode=mode,
        blocking=next((r.id for r in covering if r.action == RuleAction.BLOCK), None),
        allowing=next((r.id for r in covering if r.action == RuleAction.ALLOW), None),
    )


def first_covering_rule(
    *, identity: Any, number: Any, direction: Direction, action: str
) -> Subquery:
    """The id of the oldest active rule of `identity` with `action` covering `number` going
    `direction` (what `decide` looks for first), as a subquery that a query reads beside its
    own row; `identity` and `number` are values or `OuterRef`s. `verdict` turns the block
    and allow ids into the decision."""
    return Subquery(
        ContactRule.objects.filter(
            identity_id=identity,
            match_target=number,
            status=RuleStatus.ACTIVE,
            direction__in=covering_directions(direction),
            action=action,
        )
        .order_by("created_at")
        .values("id")[:1],
        output_field=UUIDField(),
    )


def verdict(*, mode: str, blocking: uuid.UUID | None, allowing: uuid.UUID | None) -> RuleDecision:
    """`decide`'s precedence, given the first covering active block and allow rules (what
    `first_covering_rule` reads in SQL)."""
    if blocking is not None:
        return RuleDecision(allowed=False, matched_rule_id=blocking)
    if allowing is not None:
        return RuleDecision(allowed=True, matched_rule_id=allowing)
    return RuleDecision(allowed=mode != FilterMode.WHITELIST, matched_rule_id=None)


def identity_mode(identity: AgentIdentity, direction: Direction) -> str:
    return identity.inbound_filter_mode if direction == "inbound" else identity.outbound_filter_mode


# Connects, reactions and the sends whose conversation was read without its checks read
# them: compiled once per process.
_NUMBER_RULES = PreparedQuery(
    ContactRule,
    lambda *, identity_id, number: ContactRule.objects.filter(
        identity_id=identity_id, match_target=number, status=RuleStatus.ACTIVE
    ).order_by("created_at"),
    identity_id=uuid.UUID,
    number=str,
)


def number_rules(*, identity: AgentIdentity, number: str) -> list[ContactRule]:
    """Active rules for one number (any direction): one indexed query."""
    return _NUMBER_RULES.rows(identity_id=identity.pk, number=number)


def contact_decision(*, identity: AgentIdentity, number: str, direction: Direction) -> RuleDecision:
    """May `number` reach `identity` (inbound) or be reached by it (outbound)?"""
    return decide(
        mode=identity_mode(identity, direction),
        rules=number_rules(identity=identity, number=number),
        direction=direction,
        number=number,
    )


@dataclass(frozen=True)
class WhitelistCutoff:
    """What switching an identity to whitelist in both directions would do to its live
    connections: `cut_off` people connected now would be refused (inbound held for review,
    sends answered `recipient_blocked`), out of `connected`."""

    cut_off: int
    connected: int


def whitelist_cutoff(*, identity: AgentIdentity) -> WhitelistCutoff:
    """Count the connected people whom whitelist mode would newly refuse in a direction
    they are allowed in now (no active allow rule covers it), in two queries.

    The connection itself stays: the router keeps routing their messages to the identity,
    but `inbound_route` marks them blocked and sends to them are refused, exactly as
    `decide` says for the mode.
    """
    numbers = set(
        Assignment.objects.filter(identity=identity, status=AssignmentStatus.ACTIVE).values_list(
            "remote_number", flat=True
        )
    )
    rules: dict[str, list[ContactRule]] = {}
    for rule in ContactRule.objects.filter(
        identity=identity, match_target__in=numbers, status=RuleStatus.ACTIVE
    ):
        rules.setdefault(rule.match_target, []).append(rule)
    directions: tuple[Direction, ...] = ("inbound", "outbound")
    cut_off = 0
    for number in numbers:
        own = rules.get(number, [])
        if any(
            decide(mode=identity_mode(identity, d), rules=own, direction=d, number=number).allowed
            and not decide(mode=FilterMode.WHITELIST, rules=own, direction=d, number=number).allowed
            for d in directions
        ):
            cut_off += 1
    return WhitelistCutoff(cut_off=cut_off, connected=len(numbers))
