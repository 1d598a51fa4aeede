"""Send drain jobs: with a wake-up channel, accepted sends ask for one drain job, which
sends the queued rows a batch at a time, instead of publishing one job per send."""

from __future__ import annotations

from unittest import mock

import pytest

from messaging.models import Message, SendState
from messaging.services import delivery
from messaging.services.delivery import message_send_drain, sends_publish
from messaging.tasks import message_deliver_task, message_send_drain_task
from tests.messaging.sends import queue_message, send_now

pytestmark = pytest.mark.django_db


def sent_count() -> int:
    return Message.objects.filter(send_state=SendState.SENT).count()


def test_a_drain_sends_every_queued_row_batch_after_batch(
    conversation, fake_provider, settings, outbox_wake_channel
):
    settings.SEND_DRAIN_BATCH_SIZE = 2
    for n in range(5):
        queue_message(conversation, f"m{n}")

    with mock.patch.object(message_send_drain_task, "apply_async"):
        assert message_send_drain() == 5

    assert sent_count() == 5
    assert len(fake_provider.calls_to("send_message")) == 5


def test_a_drain_asks_for_one_helper_while_its_claims_come_back_full(
    conversation, settings, outbox_wake_channel
):
    settings.SEND_DRAIN_BATCH_SIZE = 2
    for n in range(5):  # claims of 2, 2 and 1
        queue_message(conversation, f"m{n}")

    with mock.patch.object(message_send_drain_task, "apply_async") as published:
        message_send_drain()

    # The first full claim publishes a helper; the second finds it still waiting.
    assert published.call_count == 1


def test_a_drain_stops_after_its_batches_and_leaves_a_job_waiting_for_the_rest(
    conversation, settings, outbox_wake_channel
):
    settings.SEND_DRAIN_BATCH_SIZE = 2
    for n in range(5):
        queue_message(conversation, f"m{n}")

    with mock.patch.object(message_send_drain_task, "apply_async") as published:
        assert message_send_drain(batches=1) == 2

    assert sent_count() == 2
    assert published.call_count == 1
    assert Message.objects.filter(send_state=SendState.QUEUED).count() == 3


def test_a_drain_claims_no_further_batch_once_its_time_is_spent(
    conversation, settings, outbox_wake_channel
):
    settings.SEND_DRAIN_BATCH_SIZE = 2
    settings.SEND_DRAIN_SECONDS = -1.0  # spent before the second batch
    for n in range(5):
        queue_message(conversation, f"m{n}")

    with mock.patch.object(message_send_drain_task, "apply_async") as published:
        assert message_send_drain() == 2

    assert sent_count() == 2
    assert published.call_count == 1  # asked for by the full claim


def test_a_drain_sends_each_row_once_when_a_row_job_races_it(
    conversation, fake_provider, outbox_wake_channel
):
    message = queue_message(conversation)

    with mock.patch.object(message_send_drain_task, "apply_async"):
        message_send_drain()
    delivery.message_deliver(message_id=message.id)

    assert len(fake_provider.calls_to("send_message")) == 1


def test_a_failing_row_does_not_keep_the_others_of_its_batch_from_going_out(
    conversation, fake_provider, monkeypatch, outbox_wake_channel
):
    first = queue_message(conversation, "first")
    queue_message(conversation, "second")
    original = delivery._deliver_claimed

    def deliver(message_id, *, now):
        if str(message_id) == str(first.id):
            raise RuntimeError("database went away")
        original(message_id, now=now)

    monkeypatch.setattr(delivery, "_deliver_claimed", deliver)

    with (
        mock.patch.object(message_send_drain_task, "apply_async"),
        pytest.raises(RuntimeError),
    ):
        message_send_drain()

    assert sent_count() == 1
    # Claimed and not sent: the sweep hands it back once its lease runs out.
    assert Message.objects.get(pk=first.pk).send_state == SendState.SENDING


def test_an_accepted_send_asks_for_a_drain_job_instead_of_a_job_of_its_own(
    conversation, outbox_wake_channel, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(message_send_drain_task, "apply_async") as drain,
        mock.patch.object(message_deliver_task, "apply_async") as per_row,
        django_capture_on_commit_callbacks(execute=True),
    ):
        send_now(conversation, "one")
        send_now(conversation, "two")

    # The second send found the first one's drain job still waiting.
    assert drain.call_count == 1
    assert per_row.call_count == 0


def test_without_a_wake_up_channel_each_send_has_its_own_job(
    conversation, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOX_WAKE_REDIS_URL = ""

    with (
        mock.patch.object(message_send_drain_task, "apply_async") as drain,
        mock.patch.object(message_deliver_task, "apply_async") as per_row,
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = send_now(conversation, "one")

    assert drain.call_count == 0
    per_row.assert_called_once_with(args=(str(message.id),))


def test_publishing_sends_never_raises_when_the_broker_is_down(
    conversation, settings, outbox_wake_channel
):
    message = queue_message(conversation)

    with mock.patch.object(
        message_send_drain_task, "apply_async", side_effect=ConnectionError("broker down")
    ):
        sends_publish([str(message.id)])

    # The token went back, so the next commit asks again; the sweep has this row.
    assert outbox_wake_channel.keys(f"{settings.OUTBOX_WAKE_KEY_PREFIX}*") == []
