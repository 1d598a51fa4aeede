"""Blocked messages review: filters, detail, "allow this sender" and "keep blocked"."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry
from messaging.models import Conversation, Message
from messaging.webhooks.models import WebhookDelivery
from routing.models import ContactRule
from tests.console.ui.conftest import htmx
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver, receiver  # noqa: F401
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db
SENDER = "+12025550147"


def _blocked(identity: AgentIdentity, sender: str = SENDER, **kwargs: Any) -> Message:
    conversation = Conversation.objects.filter(identity=identity, remote_number=sender).first()
    if conversation is None:
        conversation = ConversationFactory(identity=identity, remote_number=sender)
    return MessageFactory(conversation=conversation, is_blocked=True, **kwargs)


def test_the_list_shows_only_blocked_messages_of_the_viewers_organisations(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    mine = _blocked(identity)
    MessageFactory(conversation__identity=identity)  # delivered, not for review
    foreign = _blocked(outsider_identity, sender="+12025550148")
    body = operator_client.get(reverse("console:blocked")).content.decode()
    assert str(mine.id) in body
    assert str(foreign.id) not in body
    assert body.count("Review<span") == 1


def test_the_list_filters_by_identity_sender_and_date_range(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    old = _blocked(identity, created_at=timezone.now() - dt.timedelta(days=10))
    recent = _blocked(identity, sender="+12025550149")
    other = _blocked(other_identity)
    url = reverse("console:blocked")

    def shown(params: dict[str, str]) -> set[str]:
        body = operator_client.get(url, params).content.decode()
        return {str(m.id) for m in (old, recent, other) if str(m.id) in body}

    assert shown({"identity": identity.handle}) == {str(old.id), str(recent.id)}
    assert shown({"sender": "+1 202 555 0149"}) == {str(recent.id)}
    today = timezone.localdate()
    assert shown({"date_from": str(today - dt.timedelta(days=1))}) == {
        str(recent.id),
        str(other.id),
    }
    assert shown({"date_to": str(today - dt.timedelta(days=5))}) == {str(old.id)}


def test_an_inverted_date_range_is_reported_on_the_field(operator_client: Client) -> None:
    response = operator_client.get(
        reverse("console:blocked"), {"date_from": "2026-02-10", "date_to": "2026-02-01"}
    )
    assert "must not be after" in response.content.decode()


def test_the_list_costs_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for n in range(60):
        _blocked(identity, sender=f"+120255502{n:02d}")
    with django_assert_max_num_queries(7):
        response = operator_client.get(reverse("console:blocked"))
    assert response.content.decode().count("Review<span") == 50
    assert "Older" in response.content.decode()


def test_the_detail_page_shows_the_message_and_what_blocked_it(
    operator_client: Client, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=SENDER)
    message = _blocked(identity, content="please call me", blocked_rule_id=rule.id)
    body = operator_client.get(reverse("console:blocked-detail", args=[message.id])).content
    assert b"please call me" in body
    assert str(rule.id).encode() in body
    assert b"Allow this sender" in body


def test_allowing_in_blacklist_mode_removes_an_inbound_block_rule(
    operator_client: Client, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    message = _blocked(identity)
    response = operator_client.post(reverse("console:blocked-allow", args=[message.id]), **htmx())
    assert response.status_code == 200
    assert "can now reach" in response.content.decode()
    assert not ContactRule.objects.filter(pk=rule.pk).exists()


def test_allowing_in_blacklist_mode_keeps_the_outbound_side_of_a_two_way_block(
    operator_client: Client, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=SENDER, direction="both")
    message = _blocked(identity)
    operator_client.post(reverse("console:blocked-allow", args=[message.id]), **htmx())
    rule.refresh_from_db()
    assert (rule.action, rule.direction) == ("block", "outbound")


def test_allowing_in_whitelist_mode_creates_an_allow_rule(
    operator_client: Client, identity: AgentIdentity
) -> None:
    identity.inbound_filter_mode = identity.outbound_filter_mode = "whitelist"
    identity.save()
    message = _blocked(identity)
    operator_client.post(reverse("console:blocked-allow", args=[message.id]), **htmx())
    rule = ContactRule.objects.get(identity=identity, match_target=SENDER)
    assert (rule.action, rule.direction, rule.status) == ("allow", "inbound", "active")


def test_allowing_in_whitelist_mode_resumes_a_paused_allow_rule(
    operator_client: Client, identity: AgentIdentity
) -> None:
    identity.inbound_filter_mode = "whitelist"
    identity.save()
    rule = ContactRuleFactory(
        identity=identity, match_target=SENDER, action="allow", status="paused"
    )
    message = _blocked(identity)
    operator_client.post(reverse("console:blocked-allow", args=[message.id]), **htmx())
    rule.refresh_from_db()
    assert rule.status == "active"
    assert ContactRule.objects.filter(identity=identity).count() == 1


def test_allowing_marks_the_senders_pending_messages_reviewed_and_audits_it(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    first, second = _blocked(identity), _blocked(identity)
    operator_client.post(reverse("console:blocked-allow", args=[first.id]), **htmx())
    assert set(
        Message.objects.filter(pk__in=[first.pk, second.pk]).values_list("review_state", flat=True)
    ) == {"allowed"}
    entry = AuditEntry.objects.get(action="blocked_message.allow")
    assert entry.actor_label == "olivia"
    assert entry.after["sender"] == SENDER
    assert AuditEntry.objects.filter(action="contact_rule.delete").exists()


def test_keeping_blocked_changes_no_rule_and_is_audited(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=SENDER)
    message = _blocked(identity)
    response = operator_client.post(reverse("console:blocked-keep", args=[message.id]), **htmx())
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.review_state == "kept"
    assert ContactRule.objects.filter(identity=identity).count() == 1
    assert AuditEntry.objects.filter(action="blocked_message.keep").count() == 1


def _receive(client: Client, setup: Any, *, to: str, sender: str, handle: str) -> Any:
    body = {
        "accountEmail": "ops@example.test",
        "content": "Is my appointment still on?",
        "is_outbound": False,
        "status": "RECEIVED",
        "message_handle": handle,
        "date_sent": "2026-01-05T10:01:00.000Z",
        "from_number": sender,
        "number": sender,
        "to_number": to,
        "sendblue_number": to,
        "media_url": "",
        "message_type": "message",
        "group_id": "",
        "service": "iMessage",
    }
    return client.post(
        f"/api/v1/provider-webhooks/{setup.id}/receive",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(setup),
    )


@pytest.mark.django_db(transaction=True)
def test_after_allowing_the_senders_next_message_reaches_the_agent(
    operator_client: Client,
    identity: AgentIdentity,
    receiver: Receiver,  # noqa: F811
) -> None:
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity, role="dedicated")
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(identity=identity, url=receiver.url)
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="both")
    provider = Client()

    _receive(provider, setup, to=line.number, sender=SENDER, handle="h-blocked")
    blocked = Message.objects.get(provider_handle="h-blocked")
    assert blocked.is_blocked
    assert receiver.requests == []

    operator_client.post(reverse("console:blocked-allow", args=[blocked.id]), **htmx())

    _receive(provider, setup, to=line.number, sender=SENDER, handle="h-after")
    delivered = Message.objects.get(provider_handle="h-after")
    assert not delivered.is_blocked
    delivery = WebhookDelivery.objects.get(event__identity=identity)
    assert delivery.status == "succeeded", delivery.error_detail
    assert len(receiver.requests) == 1
    payload = json.loads(receiver.requests[0].body)
    assert payload["data"]["message"]["id"] == str(delivered.id)


@pytest.mark.django_db(transaction=True)
def test_after_changing_allowed_to_kept_the_senders_next_message_is_blocked(
    operator_client: Client,
    identity: AgentIdentity,
    receiver: Receiver,  # noqa: F811
) -> None:
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity, role="dedicated")
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(identity=identity, url=receiver.url)
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="both")
    provider = Client()
    _receive(provider, setup, to=line.number, sender=SENDER, handle="h-first")
    first = Message.objects.get(provider_handle="h-first")
    operator_client.post(reverse("console:blocked-allow", args=[first.id]), **htmx())

    changed = operator_client.post(
        reverse("console:blocked-change", args=[first.id]),
        {"decision": "kept", "reason": "not a patient"},
        **htmx(),
    )
    assert changed.status_code == 200
    _receive(provider, setup, to=line.number, sender=SENDER, handle="h-next")

    following = Message.objects.get(provider_handle="h-next")
    assert following.is_blocked
    assert not WebhookDelivery.objects.filter(event__identity=identity).exists()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_released_message_reaches_the_agent_as_a_normal_received_event(
    operator_client: Client,
    identity: AgentIdentity,
    receiver: Receiver,  # noqa: F811
) -> None:
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity, role="dedicated")
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(identity=identity, url=receiver.url)
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    _receive(Client(), setup, to=line.number, sender=SENDER, handle="h-held")
    held = Message.objects.get(provider_handle="h-held")

    operator_client.post(
        reverse("console:blocked-allow", args=[held.id]), {"release": "on"}, **htmx()
    )

    delivery = WebhookDelivery.objects.get(event__identity=identity)
    assert delivery.status == "succeeded", delivery.error_detail
    [request] = receiver.requests
    payload = json.loads(request.body)
    assert payload["event_type"] == "imessage.received"
    assert payload["data"]["message"]["id"] == str(held.id)
    assert payload["data"]["message"]["content"] == "Is my appointment still on?"
