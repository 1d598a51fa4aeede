"""The loop guard: at most CONVERSATION_BURST_LIMIT agent sends into one conversation per
60 seconds with no message from the person in between."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from console.errors import RateLimited
from messaging.models import Message
from messaging.services import burst, scheduling
from messaging.services.sending import message_send
from tests.messaging.conftest import OTHER_PERSON
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def pace_beside_the_window(conversation, now: datetime) -> burst.Pace:
    """The pace as a send reads it after the lock, beside its cap window."""
    row = scheduling._SLOT_READS.first(
        conversation_id=conversation.pk,
        since=now - burst.BURST_WINDOW,
        identity_id=conversation.identity_id,
        lo=now - scheduling.WINDOW,
        edge=scheduling._window_edge(now - scheduling.WINDOW),
        at=now,
        hi=now + scheduling.WINDOW,
    )
    return burst.pace_of(row)


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


def test_a_blocked_message_from_the_person_does_not_reset_the_count(conversation):
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            send(conversation)
    MessageFactory(conversation=conversation, is_blocked=True, created_at=NOW)

    with (
        time_machine.travel(NOW + timedelta(seconds=5), tick=False),
        pytest.raises(RateLimited),
    ):
        send(conversation)


def test_only_sends_after_the_persons_message_count_towards_the_retry_after(conversation):
    MessageFactory(conversation=conversation, direction="outbound", created_at=NOW)
    MessageFactory(conversation=conversation, created_at=NOW + timedelta(seconds=10))
    for seconds in (10, 20, 30):  # the first one at the same moment: not after it
        MessageFactory(
            conversation=conversation,
            direction="outbound",
            created_at=NOW + timedelta(seconds=seconds),
        )

    with time_machine.travel(NOW + timedelta(seconds=40), tick=False):
        message = send(conversation)  # only 20 and 30 count
        with pytest.raises(RateLimited) as caught:
            send(conversation)

    assert message.direction == "outbound"
    assert caught.value.retry_after == 40  # 20 s + 60 s - 40 s


def test_the_pace_matches_a_reading_of_every_row(conversation):
    """One statement gives what reading the conversation's rows gives, over varied
    timelines (inbound, blocked inbound and outbound at and around the window's edge)."""
    rng = random.Random(18)
    for _ in range(20):
        Message.objects.filter(conversation=conversation).delete()
        rows = []
        for _ in range(rng.randint(0, 8)):
            offset = rng.choice([-61, -60, -59, -30, -1, 0, rng.uniform(-120, 0)])
            kind = rng.choice(["in", "in_blocked", "out", "out"])
            rows.append((NOW + timedelta(seconds=offset), kind))
            MessageFactory(
                conversation=conversation,
                direction="outbound" if kind == "out" else "inbound",
                is_blocked=kind == "in_blocked",
                created_at=NOW + timedelta(seconds=offset),
            )

        pace = pace_beside_the_window(conversation, NOW)

        inbound = [at for at, kind in rows if kind == "in"]
        last_inbound = max(inbound, default=None)
        since = max(NOW - burst.BURST_WINDOW, last_inbound or NOW - burst.BURST_WINDOW)
        recent = sorted(at for at, kind in rows if kind == "out" and at > since)
        assert pace == burst.Pace(
            last_inbound=last_inbound,
            recent=len(recent),
            oldest_recent=recent[0] if recent else None,
        ), rows
