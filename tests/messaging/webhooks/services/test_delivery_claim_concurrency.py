"""Many workers racing for one delivery: the conditional-update claim lets exactly one send."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection, connections

from console.services import Actor
from messaging.webhooks.delivery import delivery_attempt
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery
from messaging.webhooks.subscriptions import subscription_create
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver

WORKERS = 8


@pytest.mark.django_db(transaction=True)
def test_parallel_attempts_on_one_delivery_send_it_exactly_once(identity, receiver: Receiver):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] == ":memory:":
        pytest.skip("a private in-memory SQLite database is invisible to other threads")
    subscription_create(
        identity=identity, url=receiver.url, event_types=["imessage.received"], actor=Actor.system()
    )
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    # Keep the after-commit publish from sending it before the race starts.
    with mock.patch("messaging.webhooks.delivery.deliveries_publish"):
        event_emit(event_type="imessage.received", identity=identity, message=message)
    delivery = WebhookDelivery.objects.get()

    start = threading.Barrier(WORKERS)
    outcomes: list[str | None] = []

    def worker() -> None:
        try:
            start.wait()
            outcomes.append(delivery_attempt(delivery_id=delivery.id))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes, key=str) == [None] * (WORKERS - 1) + [DeliveryStatus.SUCCEEDED]
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1
