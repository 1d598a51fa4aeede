from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from console.celery import app as celery_app
from console.models import AgentIdentity
from console.services import Actor
from messaging.webhooks.delivery import delivery_sweep
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery
from messaging.webhooks.subscriptions import subscription_create
from messaging.webhooks.tasks import deliveries_publish_task
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Publish for real (not eagerly) to a broker nobody listens on."""
    saved = {k: celery_app.conf[k] for k in ("broker_url", "task_always_eager")}

    def reset() -> None:
        # Drop, don't close: kombu keeps pools in a global registry keyed by broker URL.
        celery_app._pool = None
        celery_app.__dict__.pop("amqp", None)

    reset()
    celery_app.conf.update(broker_url="redis://127.0.0.1:1/0", task_always_eager=False)
    try:
        yield
    finally:
        reset()
        celery_app.conf.update(**saved)


@pytest.fixture
def subscribed(identity: AgentIdentity, receiver: Receiver) -> None:
    subscription_create(
        identity=identity, url=receiver.url, event_types=["imessage.received"], actor=Actor.system()
    )


def emit_committed(identity: AgentIdentity, callbacks) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with callbacks(execute=True):
        event_emit(event_type="imessage.received", identity=identity, message=message)
    return WebhookDelivery.objects.get()


def test_broker_down_at_commit_does_not_fail_the_caller_and_the_sweep_delivers_later(
    identity, subscribed, receiver, django_capture_on_commit_callbacks
):
    with broker_unreachable():
        delivery = emit_committed(identity, django_capture_on_commit_callbacks)

    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING

    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        assert delivery_sweep() == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 1


def test_sweep_leaves_fresh_deliveries_to_their_own_job(
    identity, subscribed, receiver, django_capture_on_commit_callbacks
):
    with broker_unreachable():
        emit_committed(identity, django_capture_on_commit_callbacks)

    assert delivery_sweep() == 0
    assert receiver.requests == []


def test_sweep_picks_up_a_delivery_whose_worker_died_mid_attempt(
    identity, subscribed, receiver, django_capture_on_commit_callbacks
):
    with broker_unreachable():
        delivery = emit_committed(identity, django_capture_on_commit_callbacks)
    # A worker claimed it and vanished.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        claimed_at=timezone.now(), attempt_count=1
    )

    with time_machine.travel(timezone.now() + timedelta(seconds=90), tick=True):
        assert delivery_sweep() == 0  # the claim is still within its lease
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        assert delivery_sweep() == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 2


def test_sweep_ignores_finished_deliveries(
    identity, subscribed, receiver, django_capture_on_commit_callbacks
):
    emit_committed(identity, django_capture_on_commit_callbacks)

    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=True):
        assert delivery_sweep() == 0
    assert len(receiver.requests) == 1


def test_sweep_is_scheduled_on_celery_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-delivery-sweep"]
    assert entry["task"] == "webhooks.delivery_sweep"
    assert entry["task"] in celery_app.tasks


def test_an_event_for_many_subscriptions_costs_the_caller_one_broker_message(
    identity, receiver, django_capture_on_commit_callbacks
):
    for n in range(3):
        subscription_create(
            identity=identity,
            url=f"{receiver.url}/{n}",
            event_types=["imessage.received"],
            actor=Actor.system(),
        )
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with (
        mock.patch.object(deliveries_publish_task, "apply_async") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        event_emit(event_type="imessage.received", identity=identity, message=message)

    assert publish.call_count == 1
    assert len(publish.call_args.kwargs["args"][0]) == 3


def test_a_lost_fan_out_is_recovered_by_the_sweep_for_every_subscription(
    identity, receiver, django_capture_on_commit_callbacks
):
    for n in range(3):
        subscription_create(
            identity=identity,
            url=f"{receiver.url}/{n}",
            event_types=["imessage.received"],
            actor=Actor.system(),
        )
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        event_emit(event_type="imessage.received", identity=identity, message=message)
    assert receiver.requests == []

    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        assert delivery_sweep() == 3

    assert sorted(r.path for r in receiver.requests) == ["/hook/0", "/hook/1", "/hook/2"]
