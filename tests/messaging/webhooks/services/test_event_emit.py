from __future__ import annotations

import json

import pytest

from console.models import AgentIdentity
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from tests.messaging.factories import ConversationFactory, MessageFactory, ReactionFactory
from tests.messaging.webhooks.conftest import Receiver
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory


@pytest.fixture
def subscribed(identity: AgentIdentity, receiver: Receiver):  # type: ignore[no-untyped-def]
    SigningKeyFactory(identity=identity)
    return WebhookSubscriptionFactory(
        identity=identity,
        url=receiver.url,
        event_types=["imessage.received", "imessage.reaction_received"],
    )


def test_inbound_message_writes_event_and_one_delivery_per_matching_subscription(
    identity, receiver, django_capture_on_commit_callbacks
):
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(identity=identity, url=receiver.url + "/a")
    WebhookSubscriptionFactory(identity=identity, url=receiver.url + "/b")
    WebhookSubscriptionFactory(identity=identity, event_types=["imessage.sent"])
    message = MessageFactory(conversation=ConversationFactory(identity=identity))

    with django_capture_on_commit_callbacks(execute=True):
        event = event_emit(event_type="imessage.received", identity=identity, message=message)

    assert event is not None
    assert event.id.startswith("evt_")
    assert WebhookDelivery.objects.filter(event=event).count() == 2
    assert sorted(r.path for r in receiver.requests) == ["/hook/a", "/hook/b"]
    assert {json.loads(r.body)["id"] for r in receiver.requests} == {event.id}


def test_envelope_follows_the_contract(identity, subscribed, django_capture_on_commit_callbacks):
    message = MessageFactory(conversation=ConversationFactory(identity=identity), content="hi")

    with django_capture_on_commit_callbacks(execute=False):
        event = event_emit(event_type="imessage.received", identity=identity, message=message)

    assert event is not None
    body = json.loads(WebhookDelivery.objects.get(event=event).request_payload)
    assert set(body) == {"id", "event_type", "timestamp", "data"}
    assert body["event_type"] == "imessage.received"
    data = body["data"]
    assert set(data) == {"message", "reaction", "contacts", "agent_identities"}
    assert data["reaction"] is None
    assert data["contacts"] == []
    assert data["agent_identities"] == [
        {"id": str(identity.id), "agent_handle": "nurse-bot", "display_name": "Nurse Bot"}
    ]
    assert data["message"]["id"] == str(message.id)
    assert data["message"]["content"] == "hi"
    assert "is_blocked" not in data["message"]


def test_reaction_event_carries_the_reaction_and_a_null_message(
    identity, subscribed, django_capture_on_commit_callbacks
):
    reaction = ReactionFactory(
        message=MessageFactory(conversation=ConversationFactory(identity=identity)),
        direction="inbound",
    )
    with django_capture_on_commit_callbacks(execute=False):
        event = event_emit(
            event_type="imessage.reaction_received", identity=identity, reaction=reaction
        )
    assert event is not None
    data = json.loads(WebhookDelivery.objects.get(event=event).request_payload)["data"]
    assert data["message"] is None
    assert data["reaction"]["id"] == str(reaction.id)
    assert data["reaction"]["target_message_id"] == str(reaction.message_id)


def test_blocked_message_never_produces_an_event(identity, subscribed):
    message = MessageFactory(conversation=ConversationFactory(identity=identity), is_blocked=True)

    assert event_emit(event_type="imessage.received", identity=identity, message=message) is None
    assert not WebhookEvent.objects.exists()


def test_disabled_identity_events_are_not_written(identity, subscribed):
    identity.imessage_enabled = False
    identity.save()
    message = MessageFactory(conversation=ConversationFactory(identity=identity))

    assert event_emit(event_type="imessage.received", identity=identity, message=message) is None
    assert not WebhookDelivery.objects.exists()


def test_no_event_is_written_without_a_matching_subscription(identity):
    WebhookSubscriptionFactory(identity=identity, event_types=["imessage.delivered"])
    message = MessageFactory(conversation=ConversationFactory(identity=identity))

    assert event_emit(event_type="imessage.received", identity=identity, message=message) is None
    assert not WebhookEvent.objects.exists()


def test_deleted_subscriptions_get_no_delivery(identity, subscribed):
    subscribed.status = "deleted"
    subscribed.save()
    message = MessageFactory(conversation=ConversationFactory(identity=identity))

    assert event_emit(event_type="imessage.received", identity=identity, message=message) is None


def test_nothing_is_enqueued_when_the_callers_transaction_rolls_back(
    identity, subscribed, receiver, django_capture_on_commit_callbacks
):
    from django.db import transaction

    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                event_emit(event_type="imessage.received", identity=identity, message=message)
                raise RuntimeError("caller fails after emitting")
        except RuntimeError:
            pass

    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_context_is_added_only_for_subscriptions_that_configured_it(
    identity, receiver, django_capture_on_commit_callbacks
):
    SigningKeyFactory(identity=identity)
    plain = WebhookSubscriptionFactory(identity=identity, url=receiver.url + "/plain")
    with_context = WebhookSubscriptionFactory(
        identity=identity,
        url=receiver.url + "/ctx",
        context_config={"texts": {"mode": "count", "count": 2}},
    )
    conversation = ConversationFactory(identity=identity)
    first = MessageFactory(conversation=conversation, content="one")
    MessageFactory(conversation=conversation, content="blocked", is_blocked=True)
    second = MessageFactory(conversation=conversation, content="two", direction="outbound")
    third = MessageFactory(conversation=conversation, content="three")
    trigger = MessageFactory(conversation=conversation, content="now")
    for offset, m in enumerate([first, second, third, trigger]):
        # Distinct, increasing timestamps make "oldest first" observable.
        type(m).objects.filter(pk=m.pk).update(created_at=m.created_at.replace(microsecond=offset))
    trigger.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=False):
        event = event_emit(event_type="imessage.received", identity=identity, message=trigger)

    bodies = {
        d.subscription_id: json.loads(d.request_payload)
        for d in WebhookDelivery.objects.filter(event=event)
    }
    assert "context" not in bodies[plain.id]["data"]
    texts = bodies[with_context.id]["data"]["context"]["texts"]
    assert [item["text"] for item in texts["items"]] == ["two", "three"]
    assert texts["truncated"] is True
    assert texts["requested"] == 2
    assert bodies[with_context.id]["id"] == bodies[plain.id]["id"]


def test_emit_query_count_does_not_grow_with_subscriptions(
    identity, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for n in range(10):
        WebhookSubscriptionFactory(identity=identity, url=f"https://hooks.example.com/{n}")
    message = MessageFactory(conversation=ConversationFactory(identity=identity))

    with django_capture_on_commit_callbacks(execute=False), django_assert_max_num_queries(6):
        event_emit(event_type="imessage.received", identity=identity, message=message)

    assert WebhookDelivery.objects.count() == 10
