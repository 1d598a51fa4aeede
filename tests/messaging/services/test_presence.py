"""The person's read receipts, typing and connections reach the agent (opt-in events)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from console.services import Actor
from messaging import presence
from messaging.models import Message
from messaging.services.inbound import message_route
from messaging.services.status import message_status_update
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.providers.base import StatusUpdate, TypingEvent
from routing.models import ReleaseReason
from routing.services.assignments import assignment_release
from tests.console.ui.conftest import _member_client
from tests.messaging.conftest import PERSON, POOL_NUMBER, ROUTER_NUMBER
from tests.messaging.factories import MessageFactory
from tests.messaging.services.test_send_recovery import callback_body, post_callback
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory
from tests.provisioning.factories import setup_secret
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db


def sent_message(conversation, handle="out-1", status="delivered"):
    return MessageFactory(
        conversation=conversation, direction="outbound", provider_handle=handle, status=status
    )


def status(handle, value, *, read=False):
    return StatusUpdate(
        provider_handle=handle,
        status=value,
        service=None,
        was_downgraded=None,
        error_code=None,
        error_message=None,
        read=read,
    )


# --- Read receipts ------------------------------------------------------------------------


def test_the_providers_read_status_sets_read_at_and_keeps_delivered(
    conversation, emitted, platform_setup
):
    message = sent_message(conversation)

    message_status_update(setup=platform_setup, update=status("out-1", "delivered", read=True))

    message.refresh_from_db()
    assert message.status == "delivered"
    assert message.read_at is not None
    assert emitted.types() == ["imessage.read"]
    assert emitted[0].objects["message"].read_at == message.read_at


def test_a_read_before_the_delivery_callback_also_delivers(conversation, emitted, platform_setup):
    sent_message(conversation, status="sent")

    message_status_update(setup=platform_setup, update=status("out-1", "delivered", read=True))

    assert emitted.types() == ["imessage.delivered", "imessage.read"]
    assert Message.objects.get().status == "delivered"


def test_a_second_read_status_emits_nothing_more(conversation, emitted, platform_setup):
    sent_message(conversation)
    read = status("out-1", "delivered", read=True)
    message_status_update(setup=platform_setup, update=read)

    message_status_update(setup=platform_setup, update=read)

    assert emitted.types() == ["imessage.read"]


def test_a_read_posted_to_the_messages_own_callback_url_is_recorded(
    conversation, emitted, platform_setup
):
    message = sent_message(conversation)

    post_callback(
        platform_setup,
        str(message.id),
        callback_body("out-1", "READ"),
        setup_secret(platform_setup),
    )

    message.refresh_from_db()
    assert (message.status, message.read_at is not None) == ("delivered", True)
    assert emitted.types() == ["imessage.read"]


def test_read_at_is_on_the_wire_and_null_until_read(identity_client, conversation, platform_setup):
    message = sent_message(conversation)
    url = f"/api/v1/imessage/messages/{message.id}"
    assert identity_client.get(url).json()["read_at"] is None

    message_status_update(setup=platform_setup, update=status("out-1", "delivered", read=True))

    body = identity_client.get(url).json()
    assert body["read_at"] is not None
    assert body["status"] == "delivered"


# --- Typing -----------------------------------------------------------------------------------


def typing(*, contact=PERSON, line=POOL_NUMBER, is_typing=True):
    return TypingEvent(
        contact_number=contact,
        line_number=line,
        is_typing=is_typing,
        at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )


def test_the_persons_typing_reaches_the_agent_with_the_conversation(
    conversation, emitted, platform_setup
):
    assert presence.typing_receive(setup=platform_setup, event=typing(is_typing=False))

    [event] = emitted
    assert event.event_type == "imessage.typing"
    assert event.objects["details"] == {
        "conversation_id": str(conversation.id),
        "remote_number": PERSON,
        "is_typing": False,
        "timestamp": "2026-03-01T12:00:00Z",
    }


def test_typing_from_a_blocked_person_is_not_forwarded(
    identity, conversation, emitted, platform_setup
):
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block", direction="inbound")

    assert not presence.typing_receive(setup=platform_setup, event=typing())
    assert emitted.types() == []


def test_typing_from_someone_not_connected_is_not_forwarded(pool_line, emitted, platform_setup):
    assert not presence.typing_receive(setup=platform_setup, event=typing())
    assert emitted.types() == []


def test_typing_on_the_router_is_not_forwarded(router, conversation, emitted, platform_setup):
    assert not presence.typing_receive(setup=platform_setup, event=typing(line=ROUTER_NUMBER))


# --- Connections ------------------------------------------------------------------------


def test_connecting_through_the_router_emits_imessage_connected(
    router, pool_line, identity, emitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message_route(line=router, sender=PERSON, text=f"connect @{identity.handle}")

    [event] = emitted
    assert event.event_type == "imessage.connected"
    details = event.objects["details"]
    assert details["remote_number"] == PERSON
    assert details["conversation_id"] is not None and details["assignment_id"] is not None
    assert "reason" not in details


def test_connecting_again_while_connected_emits_nothing_new(
    router, assignment, identity, emitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message_route(line=router, sender=PERSON, text=f"connect @{identity.handle}")

    assert emitted.types() == []


def test_the_person_texting_disconnect_emits_disconnected_with_reason_person(
    pool_line, assignment, conversation, emitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message_route(line=pool_line, sender=PERSON, text="disconnect")

    [event] = emitted
    assert event.event_type == "imessage.disconnected"
    assert event.objects["details"] == {
        "assignment_id": str(assignment.id),
        "conversation_id": str(conversation.id),
        "remote_number": PERSON,
        "reason": "person",
    }


def test_an_admin_key_release_is_reason_agent(admin_client, assignment, emitted):
    response = admin_client.delete(f"/api/v1/imessage/assignments/{assignment.id}")

    assert response.status_code == 204
    assert emitted[0].objects["details"]["reason"] == "agent"


def test_a_console_release_is_reason_operator(org, assignment, emitted):
    operator: Client = _member_client(org, "operator", "olivia")

    operator.post(f"/console/connections/{assignment.id}/release")

    assert emitted[0].objects["details"]["reason"] == "operator"


# --- Only subscriptions that list them ----------------------------------------------------


def test_the_opt_in_events_reach_only_subscriptions_that_list_them(
    identity, assignment, conversation
):
    listing = WebhookSubscriptionFactory(identity=identity, event_types=["imessage.disconnected"])
    WebhookSubscriptionFactory(
        identity=identity,
        url="https://hooks.example.com/other",
        event_types=["imessage.received", "imessage.delivered"],
    )

    assignment_release(assignment=assignment, actor=Actor.system(), reason=ReleaseReason.PERSON)

    [event] = WebhookEvent.objects.all()
    assert event.event_type == "imessage.disconnected"
    assert [d.subscription_id for d in WebhookDelivery.objects.all()] == [listing.id]
