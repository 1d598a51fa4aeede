"""Blocked review decisions: each does what its label says, a decided message offers only
"Change decision" (with a reason, audited), and a release delivers the held message once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry
from messaging.models import Message
from messaging.webhooks.models import WebhookEvent
from routing.models import ContactRule
from routing.rule_decisions import contact_decision
from tests.console.ui.blocked_helpers import SENDER, blocked_message
from tests.console.ui.conftest import htmx
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db


def _post(client: Client, name: str, message: Message, **data: Any) -> Any:
    return client.post(reverse(f"console:{name}", args=[message.id]), data, **htmx())


def _inbound_allowed(identity: AgentIdentity) -> bool:
    return contact_decision(identity=identity, number=SENDER, direction="inbound").allowed


def _received_events(message: Message) -> int:
    return WebhookEvent.objects.filter(
        event_type="imessage.received", payload__data__message__id=str(message.id)
    ).count()


def test_a_decision_records_the_reviewer_and_time_shown_on_the_detail(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER)
    message = blocked_message(identity)

    body = _post(operator_client, "blocked-keep", message).content.decode()

    message.refresh_from_db()
    assert message.reviewed_by == operator_client.user  # type: ignore[attr-defined]
    assert message.reviewed_at is not None
    assert "by olivia" in body


def test_a_decided_message_offers_change_decision_instead_of_the_opposite_button(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER)
    message = blocked_message(identity)
    _post(operator_client, "blocked-keep", message)

    body = operator_client.get(reverse("console:blocked-detail", args=[message.id])).content
    assert b"Change decision" in body
    assert b">Allow this sender</button>" not in body
    assert b">Keep blocked</button>" not in body


def test_the_opposite_first_decision_on_a_decided_message_is_refused(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER)
    message = blocked_message(identity)
    _post(operator_client, "blocked-allow", message)

    response = _post(operator_client, "blocked-keep", message)

    assert response.status_code == 409
    assert "Change decision" in response.content.decode()
    message.refresh_from_db()
    assert message.review_state == "allowed"


def test_keeping_blocked_restores_a_block_the_rules_no_longer_hold(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)  # the block rule was deleted since
    assert _inbound_allowed(identity)

    _post(operator_client, "blocked-keep", message)

    assert not _inbound_allowed(identity)


def test_changing_allowed_to_kept_restores_the_block_and_is_audited_with_the_reason(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="both")
    message = blocked_message(identity)
    _post(operator_client, "blocked-allow", message)
    assert _inbound_allowed(identity)

    response = _post(
        operator_client, "blocked-change", message, decision="kept", reason="wrong number"
    )

    assert response.status_code == 200
    assert "Kept blocked" in response.content.decode()
    assert not _inbound_allowed(identity)
    [rule] = ContactRule.objects.filter(identity=identity)
    assert (rule.action, rule.direction) == ("block", "both")
    entry = AuditEntry.objects.get(action="blocked_message.change")
    assert entry.before == {"review_state": "allowed"}
    assert entry.after["review_state"] == "kept"
    assert entry.after["reason"] == "wrong number"
    assert entry.actor_label == "olivia"


def test_changing_kept_to_allowed_lets_the_sender_through(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    message = blocked_message(identity)
    _post(operator_client, "blocked-keep", message)

    _post(operator_client, "blocked-change", message, decision="allowed", reason="their nurse")

    assert _inbound_allowed(identity)
    message.refresh_from_db()
    assert message.review_state == "allowed"


def test_changing_a_decision_without_a_reason_is_refused_and_says_why(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER)
    message = blocked_message(identity)
    _post(operator_client, "blocked-allow", message)

    response = _post(operator_client, "blocked-change", message, decision="kept", reason="  ")

    assert response.status_code == 422
    assert "Give a reason" in response.content.decode()
    message.refresh_from_db()
    assert message.review_state == "allowed"
    assert not AuditEntry.objects.filter(action="blocked_message.change").exists()


def test_changing_a_waiting_message_is_refused(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)

    response = _post(operator_client, "blocked-change", message, decision="kept", reason="x")

    assert response.status_code == 409
    assert "still waiting" in response.content.decode()


def test_the_page_says_what_allowing_does_and_does_not_do(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    body = operator_client.get(reverse("console:blocked-detail", args=[message.id])).content
    text = body.decode()
    assert "future" in text
    assert "does <em>not</em> deliver this held message" in text
    assert "does <em>not</em> notify the sender" in text
    assert 'name="release"' in text


def test_allowing_without_release_leaves_the_message_held(
    operator_client: Client, identity: AgentIdentity, identity_client: Any
) -> None:
    WebhookSubscriptionFactory(identity=identity)
    message = blocked_message(identity)

    _post(operator_client, "blocked-allow", message)

    message.refresh_from_db()
    assert message.is_blocked
    assert _received_events(message) == 0
    assert identity_client.get(f"/api/v1/imessage/messages/{message.id}").status_code == 404


def test_allowing_with_release_delivers_the_message_to_the_agent(
    operator_client: Client, identity: AgentIdentity, identity_client: Any
) -> None:
    WebhookSubscriptionFactory(identity=identity)
    message = blocked_message(identity)

    response = _post(operator_client, "blocked-allow", message, release="on")

    assert "delivered to the agent" in response.content.decode()
    message.refresh_from_db()
    assert not message.is_blocked
    assert message.released_at is not None
    assert _received_events(message) == 1
    read = identity_client.get(f"/api/v1/imessage/messages/{message.id}")
    assert read.status_code == 200
    assert read.json()["id"] == str(message.id)
    assert AuditEntry.objects.filter(
        action="blocked_message.release", object_id=str(message.id)
    ).exists()


def test_a_released_message_is_delivered_once_even_if_released_twice(
    operator_client: Client, identity: AgentIdentity
) -> None:
    WebhookSubscriptionFactory(identity=identity)
    message = blocked_message(identity)
    _post(operator_client, "blocked-allow", message, release="on")

    second = _post(operator_client, "blocked-release", message)
    again = _post(operator_client, "blocked-allow", message, release="on")

    assert second.status_code == 200
    assert "already been delivered" in second.content.decode()
    assert again.status_code == 200
    assert _received_events(message) == 1
    assert AuditEntry.objects.filter(action="blocked_message.release").count() == 1


def test_a_released_message_stays_in_the_review_as_allowed(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    _post(operator_client, "blocked-allow", message, release="on")

    body = operator_client.get(reverse("console:blocked"), {"review": "allowed"}).content
    assert str(message.id).encode() in body
    assert b"delivered to agent" in body


def test_an_allowed_held_message_can_be_released_later(
    operator_client: Client, identity: AgentIdentity
) -> None:
    WebhookSubscriptionFactory(identity=identity)
    message = blocked_message(identity)
    _post(operator_client, "blocked-allow", message)

    _post(operator_client, "blocked-release", message)

    message.refresh_from_db()
    assert not message.is_blocked
    assert _received_events(message) == 1


def test_a_kept_message_cannot_be_released(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    _post(operator_client, "blocked-keep", message)

    response = _post(operator_client, "blocked-release", message)

    assert response.status_code == 409
    message.refresh_from_db()
    assert message.is_blocked


def test_changing_kept_to_allowed_with_release_delivers_the_message(
    operator_client: Client, identity: AgentIdentity
) -> None:
    WebhookSubscriptionFactory(identity=identity)
    message = blocked_message(identity)
    _post(operator_client, "blocked-keep", message)

    _post(
        operator_client,
        "blocked-change",
        message,
        decision="allowed",
        reason="known patient",
        release="on",
    )

    assert _received_events(message) == 1


@pytest.mark.parametrize("name", ["blocked-allow", "blocked-keep", "blocked-release"])
def test_auditors_get_403_for_every_decision(
    auditor_client: Client, identity: AgentIdentity, name: str
) -> None:
    message = blocked_message(identity)
    assert _post(auditor_client, name, message).status_code == 403
    message.refresh_from_db()
    assert message.review_state == ""


def test_auditors_get_403_for_a_forged_change(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    response = _post(auditor_client, "blocked-change", message, decision="kept", reason="x")
    assert response.status_code == 403


def test_auditors_see_no_decision_controls(auditor_client: Client, identity: AgentIdentity) -> None:
    message = blocked_message(identity)
    detail = auditor_client.get(reverse("console:blocked-detail", args=[message.id])).content
    queue = auditor_client.get(reverse("console:blocked")).content
    assert b"<button" not in detail.split(b'id="review"')[1]
    assert b'name="ids"' not in queue
    assert b"Review selection" not in queue


@pytest.mark.parametrize(
    "name", ["blocked-allow", "blocked-keep", "blocked-release", "blocked-change"]
)
def test_another_organisations_message_answers_404(
    outsider_operator_client: Client, identity: AgentIdentity, name: str
) -> None:
    message = blocked_message(identity)
    assert _post(outsider_operator_client, name, message).status_code == 404


def test_without_htmx_a_decision_redirects_back_to_the_message(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    response = operator_client.post(reverse("console:blocked-keep", args=[message.id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("console:blocked-detail", args=[message.id])
