"""The loop guard: at most CONVERSATION_BURST_LIMIT agent sends into one conversation per
60 seconds with no message from the person in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from console.errors import RateLimited
from messaging.services.sending import message_send
from tests.messaging.conftest import OTHER_PERSON
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def send(conversation):
    return message_send(
        identity=conversation.identity,
        conversation=conversation,
        to=None,
        text="again",
        media_urls=[],
        send_style=None,
    ).message


@pytest.fixture(autouse=True)
def limit_of_3(settings):
    settings.CONVERSATION_BURST_LIMIT = 3


def test_sends_up_to_the_limit_are_accepted(conversation):
    with time_machine.travel(NOW, tick=False):
        sent = [send(conversation) for _ in range(3)]

    assert len(sent) == 3


def test_the_send_beyond_the_limit_is_refused_with_a_retry_after(conversation):
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            send(conversation)
    with (
        time_machine.travel(NOW + timedelta(seconds=20), tick=False),
        pytest.raises(RateLimited) as caught,
    ):
        send(conversation)

    assert caught.value.code == "conversation_burst_limited"
    assert caught.value.retry_after == 40


def test_a_message_from_the_person_resets_the_count(conversation):
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            send(conversation)
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        MessageFactory(conversation=conversation)
        message = send(conversation)

    assert message.direction == "outbound"


def test_sends_older_than_60_seconds_no_longer_count(conversation):
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            send(conversation)
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        message = send(conversation)

    assert message.direction == "outbound"


def test_the_limit_is_per_conversation(conversation, identity):
    other = ConversationFactory(
        identity=identity,
        remote_number=OTHER_PERSON,
        assignment=None,
        line=conversation.line,
    )
    for _ in range(3):
        MessageFactory(conversation=other, direction="outbound", created_at=NOW)

    with time_machine.travel(NOW, tick=False):
        message = send(conversation)

    assert message.conversation_id == conversation.id
