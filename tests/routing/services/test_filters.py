from __future__ import annotations

import pytest

from console.api.exceptions import error_status
from console.errors import ApplicationError
from console.models import AgentIdentity
from routing.rule_decisions import RuleDecision, contact_decision
from routing.services.contact_rules import outbound_permission_check
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

NUMBER = "+12025550143"


def set_modes(identity: AgentIdentity, inbound: str, outbound: str) -> None:
    identity.inbound_filter_mode, identity.outbound_filter_mode = inbound, outbound
    identity.save()


def test_blacklist_allows_everyone_by_default(identity: AgentIdentity) -> None:
    assert contact_decision(identity=identity, number=NUMBER, direction="inbound") == RuleDecision(
        allowed=True, matched_rule_id=None
    )


def test_blacklist_refuses_a_number_with_an_active_block_rule(identity: AgentIdentity) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, direction="inbound")

    assert contact_decision(identity=identity, number=NUMBER, direction="inbound") == RuleDecision(
        allowed=False, matched_rule_id=rule.id
    )
    assert contact_decision(identity=identity, number=NUMBER, direction="outbound").allowed


def test_whitelist_refuses_everyone_without_an_allow_rule(identity: AgentIdentity) -> None:
    set_modes(identity, "whitelist", "whitelist")

    assert contact_decision(identity=identity, number=NUMBER, direction="outbound") == RuleDecision(
        allowed=False, matched_rule_id=None
    )


def test_whitelist_allows_a_number_with_an_active_allow_rule(identity: AgentIdentity) -> None:
    set_modes(identity, "whitelist", "whitelist")
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, action="allow")

    assert contact_decision(identity=identity, number=NUMBER, direction="inbound") == RuleDecision(
        allowed=True, matched_rule_id=rule.id
    )


def test_paused_rules_are_ignored(identity: AgentIdentity) -> None:
    ContactRuleFactory(identity=identity, match_target=NUMBER, status="paused")

    assert contact_decision(identity=identity, number=NUMBER, direction="inbound").allowed


def test_a_block_wins_when_allow_and_block_both_cover_the_number(identity: AgentIdentity) -> None:
    set_modes(identity, "whitelist", "whitelist")
    ContactRuleFactory(identity=identity, match_target=NUMBER, action="allow", direction="inbound")
    block = ContactRuleFactory(
        identity=identity, match_target=NUMBER, action="block", direction="both"
    )

    decision = contact_decision(identity=identity, number=NUMBER, direction="inbound")

    assert decision == RuleDecision(allowed=False, matched_rule_id=block.id)


def test_modes_are_evaluated_per_direction(identity: AgentIdentity) -> None:
    set_modes(identity, "whitelist", "blacklist")

    assert not contact_decision(identity=identity, number=NUMBER, direction="inbound").allowed
    assert contact_decision(identity=identity, number=NUMBER, direction="outbound").allowed


def test_outbound_check_raises_recipient_blocked_with_the_contract_fields(
    identity: AgentIdentity,
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, direction="outbound")

    with pytest.raises(ApplicationError) as caught:
        outbound_permission_check(identity=identity, number=NUMBER)

    assert error_status(caught.value) == 403
    detail = caught.value.as_detail()
    assert detail["error"] == "recipient_blocked"
    assert (detail["matched_rule_id"], detail["address"]) == (str(rule.id), NUMBER)
    assert detail["reason"]


def test_outbound_check_blocked_by_whitelist_default_has_a_null_rule(
    identity: AgentIdentity,
) -> None:
    set_modes(identity, "blacklist", "whitelist")

    with pytest.raises(ApplicationError) as caught:
        outbound_permission_check(identity=identity, number=NUMBER)

    assert caught.value.as_detail()["matched_rule_id"] is None


def test_outbound_check_passes_when_only_other_numbers_are_blocked(
    identity: AgentIdentity,
) -> None:
    ContactRuleFactory(identity=identity, match_target="+12025550144")
    ContactRuleFactory(identity=identity, match_target=NUMBER, direction="inbound")

    assert outbound_permission_check(identity=identity, number=NUMBER) is None
    with pytest.raises(ApplicationError):
        outbound_permission_check(identity=identity, number="+12025550144")
