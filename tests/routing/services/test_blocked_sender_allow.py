"""Letting a blocked sender through changes the fewest rules that make inbound allowed."""

from __future__ import annotations

import pytest

from console.errors import Conflict
from console.models import AgentIdentity
from console.services import Actor
from routing.models import ContactRule
from routing.rule_decisions import contact_decision
from routing.services.contact_rules import blocked_sender_allow
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

NUMBER = "+12025550143"
ACTOR = Actor.system()


def allowed_inbound(identity: AgentIdentity) -> bool:
    return contact_decision(identity=identity, number=NUMBER, direction="inbound").allowed


def test_a_two_way_block_keeps_only_its_outbound_side(identity: AgentIdentity) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, direction="both")

    summary = blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)

    rule.refresh_from_db()
    assert (rule.action, rule.direction) == ("block", "outbound")
    assert summary == "narrowed the block rule to outbound only"
    assert allowed_inbound(identity)


def test_whitelist_without_rules_gets_an_inbound_allow_rule(identity: AgentIdentity) -> None:
    identity.inbound_filter_mode = "whitelist"
    identity.save()

    summary = blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)

    [rule] = ContactRule.objects.filter(identity=identity)
    assert (rule.action, rule.direction, rule.match_target) == ("allow", "inbound", NUMBER)
    assert summary == "added an inbound allow rule"


def test_an_already_allowed_sender_needs_no_change(identity: AgentIdentity) -> None:
    summary = blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)

    assert summary == "no rule change was needed"
    assert not ContactRule.objects.exists()


def test_nothing_changes_when_the_sender_stays_filtered(
    identity: AgentIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, direction="inbound")
    monkeypatch.setattr(
        "routing.services.contact_rules.contact_decision",
        lambda **kw: type("Refused", (), {"allowed": False})(),
    )

    with pytest.raises(Conflict) as refused:
        blocked_sender_allow(identity=identity, number=NUMBER, actor=ACTOR)

    assert refused.value.code == "still_blocked"
    assert ContactRule.objects.filter(pk=rule.pk).exists()
