"""`inbound_line_get`: the line, the sender's connection and the inbound filter verdict in
one query, agreeing with `contact_decision` rule for rule."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import AgentIdentity
from routing.selectors import contact_decision, inbound_line_get
from tests.provisioning.factories import PhoneLineFactory
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PoolLineFactory

pytestmark = pytest.mark.django_db

PERSON = "+12025550143"

RULE_SETS: dict[str, list[dict[str, Any]]] = {
    "no rules": [],
    "block both ways": [{"action": "block", "direction": "both"}],
    "block outbound only": [{"action": "block", "direction": "outbound"}],
    "allow inbound": [{"action": "allow", "direction": "inbound"}],
    "paused block": [{"action": "block", "direction": "both", "status": "paused"}],
    "block beats allow": [
        {"action": "allow", "direction": "both"},
        {"action": "block", "direction": "inbound"},
    ],
    "another number's block": [{"action": "block", "direction": "both", "match_target": "+1999"}],
}


@pytest.mark.parametrize("mode", ["blacklist", "whitelist"])
@pytest.mark.parametrize("rules", RULE_SETS.values(), ids=RULE_SETS.keys())
def test_the_verdict_read_with_the_line_is_the_one_contact_decision_gives(
    identity: AgentIdentity, mode: str, rules: list[dict[str, Any]]
) -> None:
    identity.inbound_filter_mode = mode
    identity.save()
    for rule in rules:
        ContactRuleFactory(identity=identity, **{"match_target": PERSON, **rule})
    line = PoolLineFactory()
    AssignmentFactory(identity=identity, pool_line=line, remote_number=PERSON)

    resolved = inbound_line_get(setup=line.setup, number=line.number, sender=PERSON)

    assert resolved is not None
    assert resolved.decision == contact_decision(
        identity=identity, number=PERSON, direction="inbound"
    )


def test_a_pool_line_resolves_the_senders_connection_in_one_query(
    identity: AgentIdentity,
) -> None:
    line = PoolLineFactory()
    assignment = AssignmentFactory(identity=identity, pool_line=line, remote_number=PERSON)

    with CaptureQueriesContext(connection) as ctx:
        resolved = inbound_line_get(setup=line.setup, number=line.number, sender=PERSON)
        assert resolved is not None
        assert resolved.connection == assignment
        assert resolved.identity == identity
        assert resolved.identity.organization == identity.organization
        assert resolved.line.setup == line.setup

    assert len(ctx.captured_queries) == 1


def test_a_sender_without_a_connection_resolves_the_line_alone(identity: AgentIdentity) -> None:
    line = PoolLineFactory()
    AssignmentFactory(identity=identity, pool_line=line, remote_number="+12025550188")
    released = AssignmentFactory(identity=identity, pool_line=line, remote_number=PERSON)
    released.status = "released"
    released.save()

    resolved = inbound_line_get(setup=line.setup, number=line.number, sender=PERSON)

    assert resolved is not None
    assert (resolved.line, resolved.connection, resolved.identity) == (line, None, None)
    assert resolved.decision is None


def test_a_dedicated_line_resolves_its_own_identity(identity: AgentIdentity) -> None:
    line = PhoneLineFactory(identity=identity)
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    resolved = inbound_line_get(setup=line.setup, number=line.number, sender=PERSON)

    assert resolved is not None
    assert (resolved.connection, resolved.identity) == (None, identity)
    assert resolved.decision is not None
    assert (resolved.decision.allowed, resolved.decision.matched_rule_id) == (False, rule.id)


def test_a_line_of_another_setup_is_not_found(identity: AgentIdentity) -> None:
    line = PhoneLineFactory(identity=identity)
    other = PhoneLineFactory()

    assert inbound_line_get(setup=other.setup, number=line.number, sender=PERSON) is None
