"""The contact rules editor: every change is an htmx fragment swap, audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry
from routing.models import ContactRule
from tests.console.ui.conftest import htmx
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db


def test_creating_a_rule_answers_with_the_editor_fragment(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:rule-create", args=[identity.handle]),
        {"match_target": "+1 202 555 0199", "action": "block", "direction": "inbound"},
        **htmx(),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="rules-editor"')
    assert "+12025550199" in body
    rule = ContactRule.objects.get(identity=identity)
    assert (rule.action, rule.direction, rule.match_target) == ("block", "inbound", "+12025550199")


def test_creating_a_rule_is_audited_with_the_user_as_actor(
    operator_client: Client, identity: AgentIdentity
) -> None:
    operator_client.post(
        reverse("console:rule-create", args=[identity.handle]),
        {"match_target": "+12025550199", "action": "allow", "direction": "both"},
        **htmx(),
    )
    entry = AuditEntry.objects.get(action="contact_rule.create")
    assert entry.actor_type == "user"
    assert entry.actor_label == "olivia"
    assert entry.after["match_target"] == "+12025550199"


def test_an_invalid_number_is_reported_next_to_the_field(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:rule-create", args=[identity.handle]),
        {"match_target": "not a number", "action": "block", "direction": "both"},
        **htmx(),
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="id_match_target-error"' in body
    assert "E.164" in body
    assert not ContactRule.objects.exists()


def test_a_duplicate_rule_is_reported_next_to_the_number(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target="+12025550199", direction="both")
    response = operator_client.post(
        reverse("console:rule-create", args=[identity.handle]),
        {"match_target": "+12025550199", "action": "allow", "direction": "inbound"},
        **htmx(),
    )
    assert response.status_code == 422
    assert "already covers this number" in response.content.decode()
    assert ContactRule.objects.count() == 1


def test_a_plain_form_post_redirects_back_to_the_editor(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:rule-create", args=[identity.handle]),
        {"match_target": "+12025550199", "action": "block", "direction": "both"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:rules", args=[identity.handle])


def test_changing_action_and_direction_updates_the_rule(
    operator_client: Client, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, action="block", direction="both")
    response = operator_client.post(
        reverse("console:rule-update", args=[identity.handle, rule.id]),
        {"action": "allow", "direction": "outbound"},
        **htmx(),
    )
    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.action, rule.direction) == ("allow", "outbound")
    assert AuditEntry.objects.filter(action="contact_rule.update").count() == 1


def test_pausing_and_resuming_a_rule(operator_client: Client, identity: AgentIdentity) -> None:
    rule = ContactRuleFactory(identity=identity)
    url = reverse("console:rule-status", args=[identity.handle, rule.id])
    operator_client.post(url, {"paused": "true"}, **htmx())
    rule.refresh_from_db()
    assert rule.status == "paused"
    response = operator_client.post(url, {"paused": "false"}, **htmx())
    rule.refresh_from_db()
    assert rule.status == "active"
    assert "resumed" in response.content.decode()


def test_deleting_a_rule(operator_client: Client, identity: AgentIdentity) -> None:
    rule = ContactRuleFactory(identity=identity)
    response = operator_client.post(
        reverse("console:rule-delete", args=[identity.handle, rule.id]), **htmx()
    )
    assert response.status_code == 200
    assert not ContactRule.objects.filter(pk=rule.pk).exists()
    assert AuditEntry.objects.filter(action="contact_rule.delete").exists()


def test_a_rule_of_another_identity_is_not_found_through_this_one(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=other_identity)
    response = operator_client.post(
        reverse("console:rule-delete", args=[identity.handle, rule.id]), **htmx()
    )
    assert response.status_code == 404
    assert ContactRule.objects.filter(pk=rule.pk).exists()


def test_switching_the_filter_mode_sets_both_directions(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:filter-mode", args=[identity.handle]),
        {"mode": "whitelist", "confirm": "1"},
        **htmx(),
    )
    assert response.status_code == 200
    identity.refresh_from_db()
    assert (identity.inbound_filter_mode, identity.outbound_filter_mode) == (
        "whitelist",
        "whitelist",
    )
    assert AuditEntry.objects.filter(action="identity.filter_mode_set").exists()


def test_the_editor_lists_rules_in_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: object
) -> None:
    for n in range(30):
        ContactRuleFactory(identity=identity, match_target=f"+120255501{n:02d}")
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = operator_client.get(reverse("console:rules", args=[identity.handle]))
    assert response.content.decode().count('<tr id="rule-') == 30
