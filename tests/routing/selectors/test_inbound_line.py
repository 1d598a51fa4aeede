"""`inbound_line_get`: a setup's line with the sender's connection and the inbound filter
verdict, read in one query, agreeing with the per-read selectors it replaces."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Value
from django.test.utils import CaptureQueriesContext

from console.models import AgentIdentity
from provisioning.models import PhoneLine, Setup
from routing.inbound_selectors import inbound_line_get
from routing.models import AssignmentStatus
from routing.rule_decisions import contact_decision
from tests.provisioning.factories import PhoneLineFactory
from tests.routing.conftest import OTHER_PERSON, PERSON
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PoolLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool_line(platform_setup: Setup) -> PhoneLine:
    return PoolLineFactory(setup=platform_setup, number="+14155556001")


def test_a_connected_sender_on_a_pool_line_is_read_in_one_query(
    platform_setup: Setup, pool_line: PhoneLine, identity: AgentIdentity
) -> None:
    made = AssignmentFactory(identity=identity, pool_line=pool_line, remote_number=PERSON)

    with CaptureQueriesContext(connection) as ctx:
        found = inbound_line_get(setup=platform_setup, number=pool_line.number, sender=PERSON)
        assert found is not None
        assert found.line == pool_line
        assert found.connection == made
        assert found.identity == identity
        assert found.identity.organization == identity.organization
        assert found.line.setup.organization_id == platform_setup.organization_id
        assert found.decision is not None and found.decision.allowed

    assert len(ctx.captured_queries) == 1


def test_an_unconnected_or_released_sender_has_no_connection_nor_verdict(
    platform_setup: Setup, pool_line: PhoneLine, identity: AgentIdentity
) -> None:
    AssignmentFactory(
        identity=identity,
        pool_line=pool_line,
        remote_number=OTHER_PERSON,
        status=AssignmentStatus.RELEASED,
    )
    AssignmentFactory(identity=identity, pool_line=pool_line, remote_number=PERSON)

    found = inbound_line_get(setup=platform_setup, number=pool_line.number, sender=OTHER_PERSON)

    assert found is not None
    assert found.connection is None and found.identity is None and found.decision is None


def test_another_setups_line_is_not_found(platform_setup: Setup, identity: AgentIdentity) -> None:
    dedicated = PhoneLineFactory(identity=identity, number="+14155552222")

    assert inbound_line_get(setup=platform_setup, number=dedicated.number, sender=PERSON) is None
    assert inbound_line_get(setup=dedicated.setup, number=dedicated.number, sender=PERSON)


def test_a_dedicated_line_routes_to_its_identity(identity: AgentIdentity) -> None:
    dedicated = PhoneLineFactory(identity=identity, number="+14155552222")
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    found = inbound_line_get(setup=dedicated.setup, number=dedicated.number, sender=PERSON)

    assert found is not None and found.connection is None
    assert found.identity == identity
    assert found.decision is not None
    assert (found.decision.allowed, found.decision.matched_rule_id) == (False, rule.id)


def test_extra_annotations_ride_along(platform_setup: Setup, pool_line: PhoneLine) -> None:
    found = inbound_line_get(
        setup=platform_setup, number=pool_line.number, sender=PERSON, extra={"x": Value(7)}
    )

    assert found is not None and found.extra == {"x": 7}


# (mode, rules as (action, direction, status)) against the reference `contact_decision`.
CASES = [
    ("blacklist", []),
    ("whitelist", []),
    ("whitelist", [("allow", "inbound", "active")]),
    ("whitelist", [("allow", "outbound", "active")]),
    ("whitelist", [("allow", "both", "paused")]),
    ("blacklist", [("block", "both", "active")]),
    ("blacklist", [("block", "outbound", "active")]),
    ("blacklist", [("block", "inbound", "paused")]),
    ("whitelist", [("allow", "both", "active"), ("block", "inbound", "active")]),
    ("blacklist", [("block", "inbound", "active"), ("allow", "both", "active")]),
    ("whitelist", [("allow", "inbound", "active"), ("allow", "both", "active")]),
]


@pytest.mark.parametrize(("mode", "rules"), CASES)
def test_the_verdict_is_the_one_contact_decision_gives(
    platform_setup: Setup,
    pool_line: PhoneLine,
    identity: AgentIdentity,
    mode: str,
    rules: list[tuple[str, str, str]],
) -> None:
    identity.inbound_filter_mode = mode
    identity.save()
    AssignmentFactory(identity=identity, pool_line=pool_line, remote_number=PERSON)
    for action, direction, status in rules:
        ContactRuleFactory(
            identity=identity,
            match_target=PERSON,
            action=action,
            direction=direction,
            status=status,
        )
    # A rule for somebody else never decides.
    ContactRuleFactory(identity=identity, match_target=OTHER_PERSON, action="block")

    found = inbound_line_get(setup=platform_setup, number=pool_line.number, sender=PERSON)

    assert found is not None
    assert found.decision == contact_decision(identity=identity, number=PERSON, direction="inbound")
