"""Drain jobs: with a wake-up channel, a burst of deliveries is sent by one drain job (and
the helpers it asks for), batch after batch, instead of one job per delivery."""

from __future__ import annotations

import itertools
import json
import threading
from unittest import mock

import pytest

from console.drain_slots import DrainSlots
from console.models import AgentIdentity
from messaging.webhooks import batches
from messaging.webhooks.delivery import (
    DELIVERIES,
    DRAIN_SLOTS,
    deliveries_drain,
    deliveries_publish,
)
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from messaging.webhooks.tasks import deliveries_drain_task, delivery_attempt_task
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver
from tests.messaging.webhooks.factories import (
    SigningKeyFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
)


@pytest.fixture
def subscription(identity: AgentIdentity, receiver: Receiver) -> WebhookSubscription:
    SigningKeyFactory(identity=identity)
    return WebhookSubscriptionFactory(identity=identity, url=receiver.url)


def due(subscription: WebhookSubscription, count: int) -> list[WebhookDelivery]:
    return [WebhookDeliveryFactory(subscription=subscription) for _ in range(count)]


def sent() -> int:
    return WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()


def test_a_drain_sends_the_whole_backlog_batch_after_batch(
    subscription, receiver, settings, outbox_wake_channel
):
    settings.WEBHOOK_BATCH_SIZE = 3
    settings.WEBHOOK_DRAIN_BATCHES = 3
    due(subscription, 7)

    with mock.patch.object(deliveries_drain_task, "apply_async"):
        assert deliveries_drain() == 7

    assert sent() == 7
    assert len(receiver.requests) == 7


def test_a_drain_asks_for_one_helper_while_its_claims_come_back_full(
    subscription, settings, outbox_wake_channel
):
    settings.WEBHOOK_BATCH_SIZE = 3
    due(subscription, 7)  # claims of 3, 3 and 1

    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        deliveries_drain()

    # The first full claim publishes a helper; the second finds it still waiting.
    assert published.call_count == 1


def test_a_drain_stops_after_its_share_and_leaves_a_job_waiting_for_the_rest(
    subscription, receiver, settings, outbox_wake_channel
):
    settings.WEBHOOK_BATCH_SIZE = 3
    due(subscription, 7)

    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        assert deliveries_drain(batches=1) == 3

    assert published.call_count == 1
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 4


def test_a_drain_that_finds_nothing_due_asks_for_no_helper(subscription, outbox_wake_channel):
    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        assert deliveries_drain() == 0

    published.assert_not_called()


def test_a_delivery_committed_while_a_drain_job_waits_is_sent_by_that_job(
    subscription, receiver, outbox_wake_channel
):
    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        (first,) = due(subscription, 1)
        deliveries_publish([first.id])  # publishes the drain job, which waits in the queue
        (second,) = due(subscription, 1)
        deliveries_publish([second.id])  # finds it waiting: no second job
    assert published.call_count == 1

    with mock.patch.object(deliveries_drain_task, "apply_async"):
        deliveries_drain()  # the waiting job runs

    assert sent() == 2


def test_a_drain_job_that_ran_lets_the_next_delivery_publish_a_new_one(
    subscription, outbox_wake_channel
):
    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        (first,) = due(subscription, 1)
        deliveries_publish([first.id])
        deliveries_drain()
        (second,) = due(subscription, 1)
        deliveries_publish([second.id])

    assert published.call_count == 2


def test_events_emitted_in_a_burst_are_sent_without_a_job_per_delivery(
    identity, subscription, receiver, outbox_wake_channel, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(identity=identity)
    with mock.patch.object(delivery_attempt_task, "apply_async") as per_row:
        for _ in range(3):
            message = MessageFactory(conversation=conversation)
            # Eager Celery runs the drain job inside the commit callback.
            with django_capture_on_commit_callbacks(execute=True):
                event_emit(event_type="imessage.received", identity=identity, message=message)

    per_row.assert_not_called()
    assert sent() == 3
    assert len({json.loads(r.body)["id"] for r in receiver.requests}) == 3


def test_without_a_wake_up_channel_each_delivery_keeps_its_own_job(subscription, settings):
    settings.OUTBOX_WAKE_REDIS_URL = ""
    rows = due(subscription, 2)

    with mock.patch.object(delivery_attempt_task, "apply_async") as per_row:
        assert deliveries_publish([r.id for r in rows]) == 2

    assert per_row.call_count == 2


def test_the_drain_task_is_the_deliveries_outbox_drain():
    assert DELIVERIES.drain_task is not None
    assert DELIVERIES.drain_task() is deliveries_drain_task


def test_a_drain_beyond_the_processs_slots_claims_nothing_and_one_is_asked_for_later(
    subscription, settings, outbox_wake_channel
):
    settings.WEBHOOK_DRAINS_PER_PROCESS = 1
    due(subscription, 2)

    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        with DRAIN_SLOTS.slot():  # another drain job of this process holds the only slot
            assert deliveries_drain() == 0
            assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
            assert published.call_count == 0
        # Leaving, the holder asks for a job for what the refused one left.
        assert published.call_count == 1


def test_without_a_wake_up_channel_a_freed_slot_publishes_a_drain_job(subscription, settings):
    settings.WEBHOOK_DRAINS_PER_PROCESS = 1
    settings.OUTBOX_WAKE_REDIS_URL = ""
    due(subscription, 2)

    with mock.patch.object(deliveries_drain_task, "apply_async") as published:
        with DRAIN_SLOTS.slot():
            assert deliveries_drain() == 0
        # No token to set: the holder publishes the drain job itself.
        assert published.call_count == 1


def slots_computing_from_request(receiver: Receiver, first: int, *, together: int = 0) -> list[int]:
    """The process's computing drain jobs as each request from the `first`th (counted from
    0) arrives. With `together`, those requests are answered only once that many have
    arrived: posted in turn, they never end."""
    computing: list[int] = []
    seen = itertools.count()
    arrived = threading.Barrier(together, timeout=5) if together else None

    def observe(_: object) -> None:
        if next(seen) >= first:
            computing.append(DRAIN_SLOTS.computing)
            if arrived is not None:
                arrived.wait()

    receiver.on_request = observe
    return computing


def drain_with_every_answer_taking_a_second(monkeypatch, *, expected: int) -> None:
    """Drain while the batch's clock moves a second per reading."""
    ticks = itertools.count()
    monkeypatch.setattr(batches, "_clock", lambda: float(next(ticks)))
    with mock.patch.object(deliveries_drain_task, "apply_async"):
        assert deliveries_drain() == expected
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == expected
    assert DRAIN_SLOTS.computing == 0


@pytest.fixture
def one_drain_slot(settings):
    settings.WEBHOOK_DRAINS_PER_PROCESS = 1
    settings.WEBHOOK_BATCH_CONCURRENCY = 2
    return settings


def test_a_drain_waiting_on_slow_receivers_leaves_its_slot_to_another(
    subscription, receiver, one_drain_slot, outbox_wake_channel, monkeypatch
):
    one_drain_slot.WEBHOOK_SEQUENTIAL_BUDGET_MS = 50
    due(subscription, 3)
    # The first POST spends the whole budget, and a second is a slow answer.
    computing = slots_computing_from_request(receiver, 1, together=2)

    drain_with_every_answer_taking_a_second(monkeypatch, expected=3)

    assert computing == [0, 0]


def test_a_drain_that_spent_its_budget_on_fast_answers_keeps_its_slot(
    subscription, receiver, one_drain_slot, outbox_wake_channel, monkeypatch
):
    one_drain_slot.WEBHOOK_SEQUENTIAL_BUDGET_MS = 50
    one_drain_slot.WEBHOOK_SLOW_ANSWER_MS = 60_000
    due(subscription, 3)
    # The first POST spends the whole budget, yet a second is a fast answer here: the
    # machine is busy rather than the receiver slow. The other two still go concurrently.
    computing = slots_computing_from_request(receiver, 1, together=2)

    drain_with_every_answer_taking_a_second(monkeypatch, expected=3)

    assert computing == [1, 1]


def test_a_drain_whose_mean_answer_is_slow_leaves_its_slot_from_the_fifth_answer(
    subscription, receiver, one_drain_slot, outbox_wake_channel, monkeypatch
):
    one_drain_slot.WEBHOOK_SEQUENTIAL_BUDGET_MS = 60_000
    one_drain_slot.WEBHOOK_SLOW_ANSWER_MS = 500
    due(subscription, 6)
    computing = slots_computing_from_request(receiver, 0)

    drain_with_every_answer_taking_a_second(monkeypatch, expected=6)

    assert computing == [1, 1, 1, 1, 1, 0]


def test_a_drain_that_may_not_post_concurrently_waits_on_slow_receivers_without_its_slot(
    subscription, receiver, one_drain_slot, outbox_wake_channel, monkeypatch
):
    one_drain_slot.WEBHOOK_BATCH_CONCURRENCY = 1
    one_drain_slot.WEBHOOK_SEQUENTIAL_BUDGET_MS = 60_000
    one_drain_slot.WEBHOOK_SLOW_ANSWER_MS = 500
    due(subscription, 7)
    computing = slots_computing_from_request(receiver, 5)

    drain_with_every_answer_taking_a_second(monkeypatch, expected=7)

    assert computing == [0, 0]


def test_a_batch_posted_concurrently_from_the_start_counts_its_job_as_computing(settings):
    settings.WEBHOOK_BATCH_CONCURRENCY = 2
    settings.WEBHOOK_SEQUENTIAL_BUDGET_MS = 0
    slots = DrainSlots(lambda: 1, lambda: None)

    with slots.slot() as held:
        held.waiting(True)  # the job's previous batch waited on slow receivers
        assert batches.post_batch([1, 2], lambda delivery: delivery, slot=held) == [1, 2]
        assert slots.computing == 1
    assert slots.computing == 0
