"""Keeping a sender blocked makes the rules refuse them inbound, undoing an earlier allow."""

from __future__ import annotations

import pytest

from console.errors import Conflict
from console.models import AgentIdentity
from console.services import Actor
from routing.models import ContactRule
from routing.rule_decisions import contact_decision
from routing.services.contact_rules import blocked_sender_allow, blocked_sender_block
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

NUMBER = "+12025550143"
ACTOR = Actor.system()


def allowed_inbound(identity: AgentIdentity) -> bool:
    return contact_decision(identity=identity, number=NUMBER, direction="inbound").allowed


def _whitelist(identity: AgentIdentity) -> None:
    identity.inbound_filter_mode = "whitelist"
    identity.save()


def test_a_sender_already_refused_needs_no_change(identity: AgentIdentity) -> None:
    ContactRuleFactory(identity=identity, match_target=NUMBER, direction="both")

    summary = blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    assert summary == "no rule change was needed"
    assert ContactRule.objects.count() == 1


def test_blacklist_without_rules_gets_an_inbound_block_rule(identity: AgentIdentity) -> None:
    summary = blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    [rule] = ContactRule.objects.filter(identity=identity)
    assert (rule.action, rule.direction, rule.status) == ("block", "inbound", "active")
    assert summary == "added an inbound block rule"
    assert not allowed_inbound(identity)


def test_blocking_after_an_allow_restores_the_two_way_block(identity: AgentIdentity) -> None:
    ContactRuleFactory(identity=identity, match_target=NUMBER, direction="both")
    blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)
    assert allowed_inbound(identity)

    summary = blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    [rule] = ContactRule.objects.filter(identity=identity)
    assert (rule.action, rule.direction, rule.status) == ("block", "both", "active")
    assert summary == "extended the outbound block rule to inbound"
    assert not allowed_inbound(identity)


def test_blocking_after_an_inbound_block_was_removed_recreates_it(
    identity: AgentIdentity,
) -> None:
    ContactRuleFactory(identity=identity, match_target=NUMBER, direction="inbound")
    blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)
    assert not ContactRule.objects.exists()

    blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    [rule] = ContactRule.objects.filter(identity=identity)
    assert (rule.action, rule.direction) == ("block", "inbound")


def test_whitelist_blocking_removes_the_allow_rule_an_allow_added(
    identity: AgentIdentity,
) -> None:
    _whitelist(identity)
    blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)
    assert allowed_inbound(identity)

    summary = blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    assert not ContactRule.objects.filter(identity=identity).exists()
    assert summary == "removed the inbound allow rule"
    assert not allowed_inbound(identity)


def test_whitelist_blocking_keeps_the_outbound_side_of_a_two_way_allow(
    identity: AgentIdentity,
) -> None:
    _whitelist(identity)
    rule = ContactRuleFactory(
        identity=identity, match_target=NUMBER, action="allow", direction="both"
    )

    blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    rule.refresh_from_db()
    assert (rule.action, rule.direction) == ("allow", "outbound")
    assert not allowed_inbound(identity)


def test_blacklist_blocking_resumes_a_paused_block_rule(identity: AgentIdentity) -> None:
    rule = ContactRuleFactory(
        identity=identity, match_target=NUMBER, direction="inbound", status="paused"
    )

    blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    rule.refresh_from_db()
    assert rule.status == "active"
    assert ContactRule.objects.count() == 1
    assert not allowed_inbound(identity)


def test_blacklist_blocking_splits_a_two_way_allow_rule(identity: AgentIdentity) -> None:
    rule = ContactRuleFactory(
        identity=identity, match_target=NUMBER, action="allow", direction="both"
    )

    blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    rule.refresh_from_db()
    assert (rule.action, rule.direction) == ("allow", "outbound")
    inbound = ContactRule.objects.get(identity=identity, direction="inbound")
    assert (inbound.action, inbound.status) == ("block", "active")
    assert not allowed_inbound(identity)


def test_a_sender_who_still_gets_through_is_refused(
    identity: AgentIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "routing.services.contact_rules.contact_decision",
        lambda **kw: type("Allowed", (), {"allowed": True})(),
    )

    with pytest.raises(Conflict) as caught:
        blocked_sender_block(identity=identity, number=NUMBER, actor=ACTOR)

    assert caught.value.code == "still_allowed"
