from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, SendState
from routing.models import AssignmentStatus
from tests.messaging.conftest import OTHER_PERSON, PERSON, POOL_NUMBER, ROUTER_NUMBER
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/imessage/messages"


def send(client, body, *, key=None, query=""):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"{URL}{query}", body, format="json", **headers)


# --- Happy paths ------------------------------------------------------------------


def test_send_by_conversation_answers_201_with_the_queued_message(
    identity_client, conversation, django_capture_on_commit_callbacks
):
    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "Hi"})

    assert response.status_code == 201
    message = response.json()["message"]
    assert message["conversation_id"] == str(conversation.id)
    assert message["direction"] == "outbound"
    assert message["status"] == "queued"
    assert message["service"] == "imessage"
    assert message["remote_number"] == PERSON
    assert Message.objects.get(pk=message["id"]).send_state == SendState.QUEUED


def test_send_goes_out_from_the_conversations_pool_line_after_commit(
    identity_client, conversation, fake_provider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = send(identity_client, {"conversation_id": str(conversation.id), "text": "Hi"})

    calls = fake_provider.calls_to("send_message")
    assert len(calls) == 1
    assert calls[0].kwargs["from_number"] == POOL_NUMBER
    assert calls[0].kwargs["to_number"] == PERSON
    message = Message.objects.get(pk=response.json()["message"]["id"])
    assert message.send_state == SendState.SENT
    assert message.status == "sent"
    assert message.provider_handle


def test_the_pool_line_number_never_appears_in_the_response(identity_client, conversation):
    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "Hi"})

    assert POOL_NUMBER not in response.content.decode()


def test_send_by_to_uses_the_active_assignment(identity_client, conversation):
    response = send(identity_client, {"to": PERSON, "text": "Hello"})

    assert response.status_code == 201
    assert response.json()["message"]["conversation_id"] == str(conversation.id)
    assert response.json()["message"]["assignment_id"] == str(conversation.assignment_id)


def test_send_accepts_to_as_a_one_element_list(identity_client, conversation):
    response = send(identity_client, {"to": [PERSON], "text": "Hello"})

    assert response.status_code == 201


def test_send_with_media_only_and_a_send_style(identity_client, conversation):
    response = send(
        identity_client,
        {
            "conversation_id": str(conversation.id),
            "media_urls": ["https://files.example.test/a.jpg"],
            "send_style": "confetti",
        },
    )

    assert response.status_code == 201
    body = response.json()["message"]
    assert body["media"] == [
        {"url": "https://files.example.test/a.jpg", "content_type": None, "size": None}
    ]
    assert body["send_style"] == "confetti"


def test_admin_key_sends_by_to_with_agent_identity_id(admin_client, identity, conversation):
    response = send(
        admin_client, {"to": PERSON, "text": "Hi"}, query=f"?agent_identity_id={identity.id}"
    )

    assert response.status_code == 201


def test_admin_key_sending_by_to_without_agent_identity_id_is_400(admin_client, conversation):
    response = send(admin_client, {"to": PERSON, "text": "Hi"})

    assert response.status_code == 400
    assert "agent_identity_id" in response.json()["detail"]["fields"]


def test_reply_to_message_id_is_stored(identity_client, conversation):
    inbound = MessageFactory(conversation=conversation)

    response = send(
        identity_client,
        {
            "conversation_id": str(conversation.id),
            "text": "Re",
            "reply_to_message_id": str(inbound.id),
            "plain_reply_fallback": True,
        },
    )

    assert response.status_code == 201
    assert response.json()["message"]["reply_to_message_id"] == str(inbound.id)


# --- Bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({}, "text"),
        ({"text": "x" * 10001}, "text"),
        (
            {"text": "hi", "media_urls": ["https://a.test/1.jpg", "https://a.test/2.jpg"]},
            "media_urls",
        ),
        ({"text": "hi", "send_style": "sparkles"}, "send_style"),
    ],
    ids=["empty-text", "no-text-no-media", "text-too-long", "two-media-urls", "bad-send-style"],
)
def test_bad_send_bodies_are_400(identity_client, conversation, body, field):
    response = send(identity_client, {"conversation_id": str(conversation.id), **body})

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "validation_error"
    assert field in response.json()["detail"]["fields"]


def test_conversation_id_and_to_together_is_400(identity_client, conversation):
    response = send(
        identity_client, {"conversation_id": str(conversation.id), "to": PERSON, "text": "x"}
    )

    assert response.status_code == 400
    assert "conversation_id" in response.json()["detail"]["fields"]


def test_reply_to_without_conversation_id_is_400(identity_client, conversation):
    response = send(
        identity_client, {"to": PERSON, "text": "x", "reply_to_message_id": str(uuid.uuid4())}
    )

    assert response.status_code == 400
    assert "reply_to_message_id" in response.json()["detail"]["fields"]


@pytest.mark.parametrize("to", ["4155550100", "+1", "not-a-number", "+1415555010O"])
def test_to_that_is_not_e164_is_400(identity_client, conversation, to):
    response = send(identity_client, {"to": to, "text": "x"})

    assert response.status_code == 400
    assert "to" in response.json()["detail"]["fields"]


def test_a_group_send_is_400(identity_client, conversation):
    response = send(identity_client, {"to": [PERSON, OTHER_PERSON], "text": "x"})

    assert response.status_code == 400


def test_bad_input_stores_nothing_and_sends_nothing(identity_client, conversation, fake_provider):
    send(identity_client, {"conversation_id": str(conversation.id), "text": ""})

    assert not Message.objects.exists()
    assert fake_provider.calls_to("send_message") == []


# --- Checks in contract order -------------------------------------------------------


def test_identity_not_enabled_is_400_before_anything_else(identity_client, identity, conversation):
    identity.imessage_enabled = False
    identity.save()
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "imessage_not_enabled"


def test_blocked_recipient_is_403_before_the_connection_check(identity_client, identity):
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    response = send(identity_client, {"to": PERSON, "text": "x"})

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail["error"] == "recipient_blocked"
    assert detail["matched_rule_id"] == str(rule.id)
    assert not Message.objects.exists()


def test_no_active_assignment_is_404_with_connect_command_and_triage_number(
    identity_client, router
):
    response = send(identity_client, {"to": PERSON, "text": "x"})

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail["error"] == "no_active_assignment"
    assert detail["connect_command"] == "connect @nurse-bot"
    assert detail["triage_number"] == ROUTER_NUMBER


def test_released_conversation_is_409(identity_client, conversation, assignment):
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "conversation_inactive"


def test_conversation_of_another_identity_is_404(identity_client, other_identity):
    foreign = ConversationFactory(identity=other_identity)

    response = send(identity_client, {"conversation_id": str(foreign.id), "text": "x"})

    assert response.status_code == 404


def test_conversation_of_another_organisation_is_404(outsider_client, conversation):
    response = send(outsider_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 404


# --- Rolling cap ------------------------------------------------------------------------


def test_success_carries_rate_limit_headers(identity_client, conversation, settings):
    settings.SEND_CAP_PER_24H = 5

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response["X-RateLimit-Limit"] == "5"
    assert response["X-RateLimit-Remaining"] == "4"
    assert int(response["X-RateLimit-Reset"]) > timezone.now().timestamp()


def test_the_cap_answers_429_with_retry_after_until_the_oldest_send_ages_out(
    identity_client, conversation, settings
):
    settings.SEND_CAP_PER_24H = 2
    oldest = timezone.now() - timedelta(hours=23)
    MessageFactory(conversation=conversation, direction="outbound", created_at=oldest)
    MessageFactory(conversation=conversation, direction="outbound")

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 429
    assert response.json()["detail"]["error"] == "send_rate_limited"
    retry_after = int(response["Retry-After"])
    assert 3500 <= retry_after <= 3601
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["X-RateLimit-Limit"] == "2"


def test_sends_older_than_24_hours_do_not_count(identity_client, conversation, settings):
    settings.SEND_CAP_PER_24H = 1
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        created_at=timezone.now() - timedelta(hours=24, minutes=1),
    )

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 201


def test_the_cap_is_per_identity(identity_client, conversation, other_identity, settings):
    settings.SEND_CAP_PER_24H = 1
    MessageFactory(conversation=ConversationFactory(identity=other_identity), direction="outbound")

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 201


def test_inbound_messages_do_not_count_against_the_cap(identity_client, conversation, settings):
    settings.SEND_CAP_PER_24H = 1
    MessageFactory(conversation=conversation, direction="inbound")

    response = send(identity_client, {"conversation_id": str(conversation.id), "text": "x"})

    assert response.status_code == 201


# --- Idempotency ------------------------------------------------------------------------


def test_same_key_and_body_replays_the_original_without_a_second_send(
    identity_client, conversation, fake_provider, django_capture_on_commit_callbacks
):
    body = {"conversation_id": str(conversation.id), "text": "once"}
    with django_capture_on_commit_callbacks(execute=True):
        first = send(identity_client, body, key="key-1")
    with django_capture_on_commit_callbacks(execute=True):
        second = send(identity_client, body, key="key-1")

    assert second.status_code == 201
    assert second.json() == first.json()
    assert Message.objects.count() == 1
    assert len(fake_provider.calls_to("send_message")) == 1
    assert second["X-RateLimit-Limit"]


def test_same_key_with_a_different_body_is_409_idempotency_key_reused(
    identity_client, conversation
):
    send(identity_client, {"conversation_id": str(conversation.id), "text": "a"}, key="key-2")

    response = send(
        identity_client, {"conversation_id": str(conversation.id), "text": "b"}, key="key-2"
    )

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "idempotency_key_reused"
    assert Message.objects.count() == 1


def test_idempotency_keys_are_scoped_to_the_identity(
    identity_client, conversation, admin_client, other_identity, pool_line
):
    from messaging.services.conversations import conversation_attach
    from tests.routing.factories import AssignmentFactory

    other = AssignmentFactory(
        identity=other_identity, pool_line=pool_line, remote_number=OTHER_PERSON
    )
    conversation_attach(other)
    send(identity_client, {"to": PERSON, "text": "a"}, key="shared")

    response = send(
        admin_client,
        {"to": OTHER_PERSON, "text": "a"},
        key="shared",
        query=f"?agent_identity_id={other_identity.id}",
    )

    assert response.status_code == 201
    assert Message.objects.count() == 2


def test_a_refused_send_is_not_remembered_under_its_key(identity_client, conversation, settings):
    settings.SEND_CAP_PER_24H = 0
    body = {"conversation_id": str(conversation.id), "text": "a"}
    assert send(identity_client, body, key="k").status_code == 429
    settings.SEND_CAP_PER_24H = 1

    response = send(identity_client, body, key="k")

    assert response.status_code == 201
