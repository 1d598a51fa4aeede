"""Quiet hours: the person's local window, holds, the 30-minute and urgent exceptions, the
held send going out through the outbox, and the after-hours auto-reply."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console import outbox
from console.errors import ValidationFailed
from console.models import AuditEntry
from console.services import Actor
from messaging.models import AfterHoursReply, Message, SendState
from messaging.services import after_hours, common, scheduling
from messaging.services.delivery import message_deliver
from messaging.services.inbound import inbound_message_receive
from messaging.services.quiet_hours import (
    person_zone,
    quiet_hours_parse,
    quiet_hours_set,
    quiet_window_at,
)
from messaging.services.sending import message_send
from provisioning.providers.base import InboundMessage
from tests.messaging.conftest import PERSON, POOL_NUMBER
from tests.messaging.factories import MessageFactory, QuietHoursFactory

pytestmark = pytest.mark.django_db

# PERSON (+1 202) maps to America/New_York only. 08:00 UTC is 03:00 there (EST).
NIGHT = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
MORNING_END = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)  # 08:00 New York
AFTERNOON = datetime(2026, 1, 15, 19, 0, tzinfo=UTC)  # 14:00 New York


def send(conversation, **kwargs):
    return message_send(
        identity=conversation.identity,
        conversation=conversation,
        to=None,
        text="Your appointment is tomorrow",
        media_urls=[],
        send_style=None,
        **kwargs,
    ).message


def inbound(handle: str, content: str = "are you there?") -> InboundMessage:
    return InboundMessage(
        provider_handle=handle,
        from_number=PERSON,
        to_number=POOL_NUMBER,
        content=content,
        media_url=None,
        service="imessage",
        is_group=False,
        sent_at=None,
    )


# --- The window ---------------------------------------------------------------------


def test_a_number_with_one_time_zone_uses_it():
    assert person_zone(PERSON, "Europe/Berlin").key == "America/New_York"


def test_a_number_with_many_time_zones_uses_the_identitys_zone():
    assert person_zone("+18005550100", "Europe/Berlin").key == "Europe/Berlin"


def test_a_window_crossing_midnight_contains_the_night_and_ends_next_morning(identity):
    quiet = QuietHoursFactory(identity=identity)
    evening = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)  # 22:00 New York, the 14th

    window = quiet_window_at(quiet, number=PERSON, at=evening)

    assert window is not None
    assert window.start == datetime(2026, 1, 15, 2, 0, tzinfo=UTC)  # 21:00 on the 14th
    assert window.end == MORNING_END


def test_the_morning_part_of_a_window_ends_the_same_day(identity):
    quiet = QuietHoursFactory(identity=identity)

    window = quiet_window_at(quiet, number=PERSON, at=NIGHT)

    assert window is not None and window.end == MORNING_END


def test_the_afternoon_is_outside_a_night_window(identity):
    quiet = QuietHoursFactory(identity=identity)

    assert quiet_window_at(quiet, number=PERSON, at=AFTERNOON) is None


def test_a_window_within_one_day_is_honoured(identity):
    quiet = QuietHoursFactory(identity=identity, start=time(12, 0), end=time(15, 0))

    window = quiet_window_at(quiet, number=PERSON, at=AFTERNOON)

    assert window is not None and window.end == datetime(2026, 1, 15, 20, 0, tzinfo=UTC)


# --- Holding sends --------------------------------------------------------------------


def test_a_send_at_night_is_held_pending_until_the_window_ends(conversation, identity):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(NIGHT, tick=False):
        message = send(conversation)

    assert message.status == "pending"
    assert message.scheduled_for == MORNING_END
    assert message.next_attempt_at == MORNING_END


def test_a_send_in_the_afternoon_is_not_held(conversation, identity):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(AFTERNOON, tick=False):
        message = send(conversation)

    assert message.status == "queued"
    assert message.scheduled_for is None


def test_a_reply_within_30_minutes_of_the_persons_message_is_not_held(conversation, identity):
    QuietHoursFactory(identity=identity)
    MessageFactory(conversation=conversation, created_at=NIGHT - timedelta(minutes=29))

    with time_machine.travel(NIGHT, tick=False):
        message = send(conversation)

    assert message.scheduled_for is None


def test_a_reply_more_than_30_minutes_after_the_persons_message_is_held(conversation, identity):
    QuietHoursFactory(identity=identity)
    MessageFactory(conversation=conversation, created_at=NIGHT - timedelta(minutes=31))

    with time_machine.travel(NIGHT, tick=False):
        message = send(conversation)

    assert message.scheduled_for == MORNING_END


def test_an_urgent_send_is_not_held_and_is_audited(conversation, identity):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(NIGHT, tick=False):
        message = send(conversation, urgent=True, actor=Actor.system())

    assert message.scheduled_for is None
    entry = AuditEntry.objects.get(action="message.urgent_send")
    assert entry.after == {"message_id": str(message.id)}


def test_a_held_send_goes_out_through_the_outbox_when_the_window_ends(
    conversation, identity, fake_provider, monkeypatch
):
    QuietHoursFactory(identity=identity)
    with time_machine.travel(NIGHT, tick=False):
        message = send(conversation)
    published: list[str] = []
    monkeypatch.setattr(
        outbox, "publish", lambda task, ids, **k: published.extend(map(str, ids)) or len(ids)
    )

    with time_machine.travel(MORNING_END - timedelta(seconds=1), tick=False):
        scheduling.scheduled_due_publish()
        message_deliver(message_id=message.id)
    early = list(published)
    with time_machine.travel(MORNING_END + timedelta(seconds=30), tick=False):
        scheduling.scheduled_due_publish()
        message_deliver(message_id=message.id)

    assert early == []
    assert published == [str(message.id)]
    message.refresh_from_db()
    assert message.send_state == SendState.SENT
    assert len(fake_provider.calls_to("send_message")) == 1


# --- Settings --------------------------------------------------------------------------


def test_quiet_hours_need_an_iana_zone():
    with pytest.raises(ValidationFailed):
        quiet_hours_parse({"start": "21:00", "end": "08:00", "timezone": "Mars/Olympus"})


def test_quiet_hours_need_a_start_different_from_the_end():
    with pytest.raises(ValidationFailed):
        quiet_hours_parse({"start": "08:00", "end": "08:00", "timezone": "UTC"})


def test_setting_quiet_hours_is_audited_once(identity):
    value = quiet_hours_parse({"start": "21:00", "end": "08:00", "timezone": "UTC"})

    quiet_hours_set(identity=identity, actor=Actor.system(), value=value)
    quiet_hours_set(identity=identity, actor=Actor.system(), value=value)

    [entry] = AuditEntry.objects.filter(action="identity.quiet_hours_set")
    assert entry.before is None
    assert entry.after == {"start": "21:00", "end": "08:00", "timezone": "UTC", "auto_reply": None}


# --- The after-hours auto-reply ----------------------------------------------------------


def _receive_and_reply(platform_setup, handle: str, capture) -> Message | None:
    """Receive a message as the intake does, then run the auto-reply job if (and only if)
    the inbound path published one."""
    jobs: list[str] = []
    original = common.enqueue

    def record(task, row_id, **kwargs):
        if task.name == "messaging.after_hours_reply":
            jobs.append(row_id)
        else:
            original(task, row_id, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(common, "enqueue", record)
        stored = inbound_message_receive(setup=platform_setup, event=inbound(handle))
    assert stored is not None
    if not jobs:
        return None
    assert jobs == [str(stored.id)]
    return after_hours.after_hours_reply(message_id=jobs[0])


def test_a_message_at_night_gets_the_auto_reply_once_per_quiet_period(
    conversation, identity, platform_setup, django_capture_on_commit_callbacks
):
    QuietHoursFactory(identity=identity, auto_reply="We are closed; we answer from 8 am.")

    with time_machine.travel(NIGHT, tick=False):
        first = _receive_and_reply(platform_setup, "h-1", django_capture_on_commit_callbacks)
    with time_machine.travel(NIGHT + timedelta(hours=1), tick=False):
        second = _receive_and_reply(platform_setup, "h-2", django_capture_on_commit_callbacks)

    assert first is not None and first.content == "We are closed; we answer from 8 am."
    assert first.direction == "outbound" and first.send_state == SendState.QUEUED
    assert second is None
    assert AfterHoursReply.objects.count() == 1


def test_the_next_quiet_period_gets_the_auto_reply_again(
    conversation, identity, platform_setup, django_capture_on_commit_callbacks
):
    QuietHoursFactory(identity=identity, auto_reply="Closed")

    with time_machine.travel(NIGHT, tick=False):
        _receive_and_reply(platform_setup, "h-1", django_capture_on_commit_callbacks)
    with time_machine.travel(NIGHT + timedelta(days=1), tick=False):
        again = _receive_and_reply(platform_setup, "h-2", django_capture_on_commit_callbacks)

    assert again is not None


def test_a_message_in_the_afternoon_gets_no_auto_reply(
    conversation, identity, platform_setup, django_capture_on_commit_callbacks
):
    QuietHoursFactory(identity=identity, auto_reply="Closed")

    with time_machine.travel(AFTERNOON, tick=False):
        reply = _receive_and_reply(platform_setup, "h-1", django_capture_on_commit_callbacks)

    assert reply is None
    assert not AfterHoursReply.objects.exists()


def test_quiet_hours_without_an_auto_reply_send_nothing(
    conversation, identity, platform_setup, django_capture_on_commit_callbacks
):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(NIGHT, tick=False):
        reply = _receive_and_reply(platform_setup, "h-1", django_capture_on_commit_callbacks)

    assert reply is None


def test_a_repeated_auto_reply_job_sends_once(conversation, identity):
    QuietHoursFactory(identity=identity, auto_reply="Closed")
    with time_machine.travel(NIGHT, tick=False):
        stored = MessageFactory(conversation=conversation, created_at=timezone.now())
        first = after_hours.after_hours_reply(message_id=stored.id)
        second = after_hours.after_hours_reply(message_id=stored.id)

    assert first is not None and second is None


def test_the_auto_reply_takes_the_conversations_row_before_its_insert(conversation, identity):
    QuietHoursFactory(identity=identity, auto_reply="Closed")
    with time_machine.travel(NIGHT, tick=False):
        stored = MessageFactory(conversation=conversation, created_at=timezone.now())
        with CaptureQueriesContext(connection) as ctx:
            reply = after_hours.after_hours_reply(message_id=stored.id)

    assert reply is not None
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    touch = next(i for i, sql in enumerate(writes) if 'UPDATE "messaging_conversation"' in sql)
    insert = next(i for i, sql in enumerate(writes) if 'INSERT INTO "messaging_message"' in sql)
    # The insert's triggers lock its send-cap bucket; a cancel locks the conversation
    # first, then the bucket: the same order, so the two never wait on each other in turn.
    assert touch < insert
