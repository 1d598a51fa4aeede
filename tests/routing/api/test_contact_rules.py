from __future__ import annotations

from typing import Any

import pytest

from console.models import AgentIdentity
from routing.models import ContactRule
from tests.conftest import KeyedClient
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/imessage/identities/nurse-bot/contact-rules"
NUMBER = "+12025550143"


def create(client: KeyedClient, **body: Any) -> Any:
    return client.post(BASE, {"match_type": "exact_number", **body}, format="json")


def test_create_normalises_the_number_and_defaults_to_both(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = create(identity_client, action="block", match_target="(202) 555-0143")

    assert response.status_code == 201
    body = response.json()
    assert body["match_target"] == NUMBER
    assert body["direction"] == "both"
    assert body["status"] == "active"
    assert body["agent_identity_id"] == str(identity.id)
    assert body["contact"] is None


@pytest.mark.parametrize("target", ["not a number", "+1415", "", "+999123"])
def test_create_with_an_invalid_number_is_400(
    identity_client: KeyedClient, identity: AgentIdentity, target: str
) -> None:
    response = create(identity_client, action="block", match_target=target)

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "validation_error"


def test_duplicate_coverage_is_409_with_the_existing_rule_id(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, direction="inbound")

    response = create(identity_client, action="allow", match_target=NUMBER, direction="both")

    assert response.status_code == 409
    assert response.json()["detail"]["existing_rule_id"] == str(rule.id)


def test_the_complementary_direction_with_the_same_action_consolidates(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    first = create(identity_client, action="block", match_target=NUMBER, direction="inbound")
    second = create(identity_client, action="block", match_target=NUMBER, direction="outbound")

    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["direction"] == "both"
    assert ContactRule.objects.count() == 1


@pytest.mark.parametrize("handle", ["no-such-bot", "outsider-bot", "billing-bot"])
def test_rules_of_unknown_or_foreign_handles_are_404(
    identity_client: KeyedClient,
    outsider_identity: AgentIdentity,
    other_identity: AgentIdentity,
    handle: str,
) -> None:
    path = f"/api/v1/imessage/identities/{handle}/contact-rules"
    assert identity_client.get(path).status_code == 404
    assert (
        identity_client.post(
            path, {"action": "block", "match_target": NUMBER}, format="json"
        ).status_code
        == 404
    )


def test_list_direction_filters_include_both_rules_but_both_is_exact(
    identity_client: KeyedClient, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    both = ContactRuleFactory(identity=identity, direction="both")
    inbound = ContactRuleFactory(identity=identity, direction="inbound")
    outbound = ContactRuleFactory(identity=identity, direction="outbound")

    def ids(direction: str) -> set[str]:
        return {r["id"] for r in identity_client.get(BASE, {"direction": direction}).json()}

    assert ids("inbound") == {str(both.id), str(inbound.id)}
    assert ids("outbound") == {str(both.id), str(outbound.id)}
    assert ids("both") == {str(both.id)}
    with django_assert_max_num_queries(4):
        assert len(identity_client.get(BASE, {"limit": 2}).json()) == 2


def test_update_action_alone_changes_the_whole_rule(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, action="block")

    response = identity_client.patch(f"{BASE}/{rule.id}", {"action": "allow"}, format="json")

    assert response.json()["action"] == "allow"
    assert response.json()["direction"] == "both"


def test_update_apply_to_splits_a_both_rule(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER, action="block")

    response = identity_client.patch(
        f"{BASE}/{rule.id}", {"action": "allow", "apply_to": "inbound"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["action"], response.json()["direction"]) == ("allow", "inbound")
    rule.refresh_from_db()
    assert (rule.action, rule.direction) == ("block", "outbound")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"apply_to": "inbound"},
        {"action": "allow", "apply_to": "inbound", "direction": "both"},
        {"action": "allow", "apply_to": "both"},
        {"direction": "sideways"},
    ],
)
def test_invalid_updates_are_400(
    identity_client: KeyedClient, identity: AgentIdentity, payload: dict[str, str]
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=NUMBER)

    assert identity_client.patch(f"{BASE}/{rule.id}", payload, format="json").status_code == 400


def test_widening_direction_onto_another_rule_is_409(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    inbound = ContactRuleFactory(identity=identity, match_target=NUMBER, direction="inbound")
    outbound = ContactRuleFactory(
        identity=identity, match_target=NUMBER, direction="outbound", action="allow"
    )

    response = identity_client.patch(f"{BASE}/{outbound.id}", {"direction": "both"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"]["existing_rule_id"] == str(inbound.id)


def test_delete_is_admin_only(
    identity_client: KeyedClient, admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity)

    assert identity_client.delete(f"{BASE}/{rule.id}").status_code == 403
    assert admin_client.delete(f"{BASE}/{rule.id}").status_code == 204
    assert admin_client.get(f"{BASE}/{rule.id}").status_code == 404


def test_malformed_rule_ids_are_404(identity_client: KeyedClient, identity: AgentIdentity) -> None:
    assert identity_client.get(f"{BASE}/not-a-uuid").status_code == 404


def test_org_wide_list_is_admin_only_and_scoped(
    admin_client: KeyedClient,
    identity_client: KeyedClient,
    identity: AgentIdentity,
    other_identity: AgentIdentity,
    outsider_identity: AgentIdentity,
) -> None:
    mine = ContactRuleFactory(identity=identity)
    sibling = ContactRuleFactory(identity=other_identity)
    ContactRuleFactory(identity=outsider_identity)

    assert identity_client.get("/api/v1/imessage/contact-rules").status_code == 403
    every = admin_client.get("/api/v1/imessage/contact-rules").json()
    assert {r["id"] for r in every} == {str(mine.id), str(sibling.id)}
    narrowed = admin_client.get(
        "/api/v1/imessage/contact-rules", {"agent_identity_id": str(identity.id)}
    ).json()
    assert [r["id"] for r in narrowed] == [str(mine.id)]
