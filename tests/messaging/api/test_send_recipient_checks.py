"""The recipient checks of a send (403 `recipient_blocked`, then 403 `recipient_opted_out`)
as the conversation's own read brings them along: by `to` and by `conversation_id` alike,
for the conversation's identity and number only."""

from __future__ import annotations

import pytest

from messaging.models import Message
from tests.console.factories import AgentIdentityFactory
from tests.messaging.conftest import OTHER_PERSON, PERSON
from tests.messaging.factories import ConsentEventFactory, OptOutFactory
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/imessage/messages"


@pytest.fixture(params=["to", "conversation_id"])
def body(request, conversation):
    """A send to PERSON, who has a conversation with the identity: by number or by id."""
    if request.param == "to":
        return {"to": PERSON, "text": "x"}
    return {"conversation_id": str(conversation.id), "text": "x"}


def send(client, body):
    return client.post(URL, body, format="json")


def opt_out(identity, number=PERSON):
    return OptOutFactory(event=ConsentEventFactory(identity=identity, remote_number=number))


def test_an_outbound_block_rule_refuses_the_send_naming_the_rule(identity_client, identity, body):
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, direction="outbound")

    response = send(identity_client, body)

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert (detail["error"], detail["matched_rule_id"], detail["reason"]) == (
        "recipient_blocked",
        str(rule.id),
        "contact_rule",
    )
    assert not Message.objects.filter(direction="outbound").exists()


@pytest.mark.parametrize(("direction", "status"), [("inbound", "active"), ("both", "paused")])
def test_an_inbound_only_or_paused_block_rule_lets_the_send_through(
    identity_client, identity, body, direction, status
):
    ContactRuleFactory(identity=identity, match_target=PERSON, direction=direction, status=status)

    assert send(identity_client, body).status_code == 201


def test_a_block_rule_of_another_identity_for_the_same_number_does_not_count(
    identity_client, identity, body
):
    other = AgentIdentityFactory(organization=identity.organization)
    ContactRuleFactory(identity=other, match_target=PERSON)
    opt_out(other)

    assert send(identity_client, body).status_code == 201


def test_whitelist_mode_refuses_a_number_without_an_allow_rule(identity_client, identity, body):
    identity.outbound_filter_mode = "whitelist"
    identity.save()

    response = send(identity_client, body)

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert (detail["matched_rule_id"], detail["reason"]) == (None, "filter_mode")


def test_whitelist_mode_lets_an_allowed_number_through(identity_client, identity, body):
    identity.outbound_filter_mode = "whitelist"
    identity.save()
    ContactRuleFactory(identity=identity, match_target=PERSON, action="allow")

    assert send(identity_client, body).status_code == 201


def test_a_block_rule_wins_over_an_allow_rule(identity_client, identity, body):
    ContactRuleFactory(identity=identity, match_target=PERSON, action="allow")
    block = ContactRuleFactory(
        identity=identity, match_target=PERSON, action="block", direction="outbound"
    )

    response = send(identity_client, body)

    assert response.status_code == 403
    assert response.json()["detail"]["matched_rule_id"] == str(block.id)


def test_an_opted_out_person_is_refused(identity_client, identity, body):
    opt_out(identity)

    response = send(identity_client, body)

    assert response.status_code == 403
    assert response.json()["detail"]["error"] == "recipient_opted_out"


def test_a_blocked_and_opted_out_person_is_refused_as_blocked_first(
    identity_client, identity, body
):
    ContactRuleFactory(identity=identity, match_target=PERSON)
    opt_out(identity)

    response = send(identity_client, body)

    assert response.json()["detail"]["error"] == "recipient_blocked"


def test_a_rule_and_an_opt_out_for_another_number_do_not_count(identity_client, identity, body):
    ContactRuleFactory(identity=identity, match_target=OTHER_PERSON)
    opt_out(identity, OTHER_PERSON)

    assert send(identity_client, body).status_code == 201


def test_an_opt_out_of_the_router_alone_does_not_refuse_the_identitys_send(identity_client, body):
    opt_out(None)

    assert send(identity_client, body).status_code == 201
