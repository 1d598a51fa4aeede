"""Inbound group messages: kept for audit, never in a 1:1 thread, no event, no reply."""

from __future__ import annotations

import pytest

from messaging.models import Conversation, Message
from messaging.services.inbound import inbound_message_receive
from provisioning.providers.base import InboundMessage
from routing.models import RouterReply
from tests.messaging.conftest import OTHER_PERSON, PERSON, POOL_NUMBER, ROUTER_NUMBER
from tests.messaging.factories import MessageFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db

THIRD = "+12025550199"


def group_message(*, handle="g-1", sender=PERSON, to=POOL_NUMBER, content="dinner at 8?"):
    return InboundMessage(
        provider_handle=handle,
        from_number=sender,
        to_number=to,
        content=content,
        media_url=None,
        service="imessage",
        is_group=True,
        sent_at=None,
        group_id="GROUP-1",
        participants=tuple(dict.fromkeys((sender, PERSON, THIRD, to))),
    )


def test_a_group_message_is_stored_for_audit_with_its_participants(
    conversation, emitted, platform_setup
):
    message = inbound_message_receive(setup=platform_setup, event=group_message())

    assert message is not None
    assert message.is_group is True
    assert message.participants == [PERSON, THIRD, POOL_NUMBER]
    assert message.sender_number == PERSON
    group = message.conversation
    assert (group.is_group, group.group_id) == (True, "GROUP-1")
    assert group.identity_id == conversation.identity_id


def test_a_group_message_never_enters_the_senders_one_to_one_conversation(
    conversation, platform_setup
):
    before = conversation.last_message_at

    inbound_message_receive(setup=platform_setup, event=group_message())

    assert not Message.objects.filter(conversation=conversation).exists()
    conversation.refresh_from_db()
    assert conversation.last_message_at == before


def test_a_group_message_produces_no_agent_event(conversation, emitted, platform_setup):
    inbound_message_receive(setup=platform_setup, event=group_message())

    assert emitted.types() == []


def test_the_router_does_not_answer_a_group_message(router, conversation, platform_setup):
    inbound_message_receive(
        setup=platform_setup, event=group_message(to=ROUTER_NUMBER, content="connect @nurse-bot")
    )

    assert not RouterReply.objects.exists()
    assert not Message.objects.exists()


def test_a_group_message_on_a_pool_line_from_nobody_connected_gets_no_help_reply(
    pool_line, platform_setup
):
    stored = inbound_message_receive(setup=platform_setup, event=group_message())

    assert stored is None
    assert not RouterReply.objects.exists()


def test_a_group_message_from_another_member_lands_with_the_connected_persons_identity(
    conversation, platform_setup
):
    message = inbound_message_receive(
        setup=platform_setup, event=group_message(sender=OTHER_PERSON)
    )

    assert message is not None
    assert message.identity_id == conversation.identity_id
    assert message.sender_number == OTHER_PERSON


def test_messages_of_one_group_share_one_group_conversation(conversation, platform_setup):
    inbound_message_receive(setup=platform_setup, event=group_message(handle="g-1"))
    inbound_message_receive(setup=platform_setup, event=group_message(handle="g-2"))

    assert Conversation.objects.filter(is_group=True).count() == 1
    assert Message.objects.filter(is_group=True).count() == 2


def test_a_group_message_on_a_dedicated_line_is_kept_for_its_identity(identity, emitted):
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity)

    message = inbound_message_receive(
        setup=setup, event=group_message(to=line.number, handle="g-d")
    )

    assert message is not None and message.identity_id == identity.id
    assert not Conversation.objects.filter(is_group=False).exists()
    assert emitted.types() == []


# --- Who sees them ---------------------------------------------------------------------

MESSAGES = "/api/v1/imessage/messages"
CONVERSATIONS = "/api/v1/imessage/conversations"


@pytest.fixture
def stored_group(conversation, platform_setup) -> Message:
    MessageFactory(conversation=conversation, content="one to one")
    message = inbound_message_receive(setup=platform_setup, event=group_message())
    assert message is not None
    return message


def test_identity_keys_never_see_group_messages_or_conversations(identity_client, stored_group):
    listed = identity_client.get(MESSAGES + "?include_groups=true").json()
    conversations = identity_client.get(CONVERSATIONS + "?include_groups=true").json()

    assert [m["content"] for m in listed] == ["one to one"]
    assert all(c["is_group"] is False for c in conversations)
    assert identity_client.get(f"{MESSAGES}/{stored_group.id}").status_code == 404
    group_id = stored_group.conversation_id
    assert identity_client.get(f"{CONVERSATIONS}/{group_id}").status_code == 404


def test_admin_keys_see_groups_only_when_they_ask(admin_client, stored_group):
    default = admin_client.get(MESSAGES).json()
    asked = admin_client.get(MESSAGES + "?include_groups=true").json()
    named = admin_client.get(f"{MESSAGES}?conversation_id={stored_group.conversation_id}").json()

    assert [m["is_group"] for m in default] == [False]
    assert {m["id"] for m in asked} >= {str(stored_group.id)}
    [shown] = named
    assert shown["is_group"] is True
    assert shown["sender_number"] == PERSON
    assert shown["participants"] == [PERSON, THIRD, POOL_NUMBER]


def test_admin_keys_list_the_group_conversation_with_include_groups(admin_client, stored_group):
    default = admin_client.get(CONVERSATIONS).json()
    asked = admin_client.get(CONVERSATIONS + "?include_groups=true").json()

    assert all(c["is_group"] is False for c in default)
    [group] = [c for c in asked if c["is_group"]]
    assert group["remote_number"] is None
    assert group["participants"] == [PERSON, THIRD, POOL_NUMBER]
    assert group["latest_text"] == "dinner at 8?"


def test_nothing_can_be_sent_into_a_group_conversation(admin_client, identity, stored_group):
    conversation_id = str(stored_group.conversation_id)

    sent = admin_client.post(
        f"{MESSAGES}?agent_identity_id={identity.id}",
        {"conversation_id": conversation_id, "text": "hi all"},
        format="json",
    )
    read = admin_client.post(
        "/api/v1/imessage/mark-read", {"conversation_id": conversation_id}, format="json"
    )
    tapback = admin_client.post(
        "/api/v1/imessage/reactions",
        {"message_id": str(stored_group.id), "reaction": "love"},
        format="json",
    )

    assert [r.status_code for r in (sent, read, tapback)] == [409, 409, 409]
    assert {r.json()["detail"]["error"] for r in (sent, read, tapback)} == {"group_not_supported"}
    assert not Message.objects.filter(direction="outbound").exists()
