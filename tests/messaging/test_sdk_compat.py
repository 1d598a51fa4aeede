"""Wire compatibility: the public `inkbox` SDK (0.7.20) against a live server."""

from __future__ import annotations

import uuid

import pytest
from inkbox import Inkbox
from inkbox.exceptions import IdempotencyKeyReusedError, InkboxAPIError, RecipientBlockedError

from messaging.models import Message, SendState
from tests.messaging.conftest import PERSON
from tests.messaging.factories import MessageFactory
from tests.routing.factories import ContactRuleFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sdk(live_server, identity_key) -> Inkbox:
    return Inkbox(api_key=identity_key.raw_key, base_url=live_server.url)


@pytest.fixture
def admin_sdk(live_server, admin_key) -> Inkbox:
    return Inkbox(api_key=admin_key.raw_key, base_url=live_server.url)


def test_the_sdk_lists_conversations_and_messages(sdk, conversation, identity):
    inbound = MessageFactory(conversation=conversation, content="hello")

    [summary] = sdk.imessages.list_conversations(agent_identity_id=identity.id)
    got = sdk.imessages.get_conversation(conversation.id)
    [message] = sdk.imessages.list(conversation_id=conversation.id, is_read=False)
    one = sdk.imessages.get(inbound.id)
    thread = sdk.imessages.get_thread(inbound.id)

    assert summary.id == conversation.id
    assert summary.latest_text == "hello"
    assert summary.unread_count == 1
    assert summary.assignment_status.value == "active"
    assert got.remote_number == PERSON
    assert message.id == inbound.id and message.direction == "inbound"
    assert one.content == "hello"
    assert [m.id for m in thread.messages] == [inbound.id]
    assert thread.next_cursor is None
    again = sdk.imessages.get_conversation_thread(conversation.id, thread.thread_id)
    assert [m.id for m in again.messages] == [inbound.id]


def test_the_sdk_sends_and_replays_with_one_idempotency_key(sdk, conversation, fake_provider):
    key = str(uuid.uuid4())

    sent = sdk.imessages.send(conversation_id=conversation.id, text="Hi", idempotency_key=key)
    replay = sdk.imessages.send(conversation_id=conversation.id, text="Hi", idempotency_key=key)

    assert sent.id == replay.id
    assert sent.service.value == "imessage"
    assert Message.objects.get(pk=sent.id).send_state == SendState.SENT
    assert len(fake_provider.calls_to("send_message")) == 1
    with pytest.raises(IdempotencyKeyReusedError):
        sdk.imessages.send(conversation_id=conversation.id, text="Other", idempotency_key=key)


def test_the_sdk_sees_recipient_blocked(sdk, identity, conversation):
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    with pytest.raises(RecipientBlockedError) as caught:
        sdk.imessages.send(to=PERSON, text="Hi")

    assert caught.value.matched_rule_id == rule.id


def test_the_sdk_gets_a_retry_after_on_the_cap(sdk, conversation, settings):
    settings.SEND_CAP_PER_24H = 0

    with pytest.raises(InkboxAPIError) as caught:
        sdk.imessages.send(conversation_id=conversation.id, text="Hi")

    assert caught.value.status_code == 429
    assert caught.value.retry_after_seconds and caught.value.retry_after_seconds > 5


def test_the_sdk_reacts_removes_marks_read_types_and_uploads(sdk, conversation, fake_provider):
    inbound = MessageFactory(conversation=conversation)

    reaction = sdk.imessages.send_reaction(message_id=inbound.id, reaction="love")
    sdk.imessages.remove_reaction(reaction.id)
    result = sdk.imessages.mark_conversation_read(conversation.id)
    sdk.imessages.send_typing(conversation.id)
    upload = sdk.imessages.upload_media(
        content=b"\x89PNG", filename="a.png", content_type="image/png"
    )

    assert reaction.target_message_id == inbound.id
    assert result.updated_count == 1
    assert upload.media_url.endswith(".png") and upload.size == 4
    # Removal is recorded without a provider call (the provider documents none).
    assert [c.method for c in fake_provider.calls if c.method != "send_message"] == [
        "send_reaction",
        "mark_read",
        "send_typing",
    ]


def test_the_admin_sdk_sends_by_to_for_an_identity(admin_sdk, identity, conversation):
    sent = admin_sdk.imessages.send(to=PERSON, text="Hi", agent_identity_id=identity.id)

    assert sent.conversation_id == conversation.id


def test_the_sdk_uploads_media_then_sends_it_and_the_provider_can_fetch_it(
    sdk, conversation, fake_provider, client
):
    from django.conf import settings

    upload = sdk.imessages.upload_media(
        content=b"\x89PNG\r\n\x1a\n x-ray", filename="xray.jpg", content_type="image/jpeg"
    )
    sent = sdk.imessages.send(conversation_id=conversation.id, media_urls=[upload.media_url])

    assert upload.media_url.endswith(".png") and "?" not in upload.media_url
    assert Message.objects.get(pk=sent.id).send_state == SendState.SENT
    [call] = fake_provider.calls_to("send_message")
    provider_url = call.kwargs["media_url"]
    assert provider_url.endswith(".png") and "?" not in provider_url
    fetched = client.get(provider_url.removeprefix(settings.PUBLIC_BASE_URL))
    assert b"".join(fetched.streaming_content) == b"\x89PNG\r\n\x1a\n x-ray"
    assert sent.media[0].url != provider_url
