"""The provider re-delivers the same inbound message 100 times, partly concurrently:
one message row, one provider event, one agent webhook event, one delivery."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from messaging.models import Message
from messaging.webhooks import delivery as webhook_delivery
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.models import ProviderEvent, ProviderEventStatus
from tests.console.factories import AgentIdentityFactory, OrganizationFactory
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret
from tests.verification.test_provider_intake_abuse import LINE, receive_body

DELIVERIES = 100
SEQUENTIAL = 20
THREADS = 16


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Delivery ids handed to the broker (the HTTP side is not under test here)."""
    calls: list[Any] = []
    monkeypatch.setattr(
        webhook_delivery, "deliveries_publish", lambda ids, **kw: calls.extend(ids) or len(ids)
    )
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_hundred_redeliveries_store_one_message_and_one_event(published: list[Any]) -> None:
    org = OrganizationFactory()
    identity = AgentIdentityFactory(organization=org, imessage_enabled=True)
    WebhookSubscriptionFactory(identity=identity, event_types=["imessage.received"])
    line = PhoneLineFactory(setup=SetupFactory(organization=org), identity=identity, number=LINE)
    url = f"/api/v1/provider-webhooks/{line.setup_id}/receive"
    secret = setup_secret(line.setup)
    raw = json.dumps(receive_body(handle="STORM-0001"))

    def deliver() -> int:
        response = Client().post(
            url, data=raw, content_type="application/json", HTTP_SB_SIGNING_SECRET=secret
        )
        return response.status_code

    statuses: list[int] = [deliver() for _ in range(SEQUENTIAL // 2)]
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()
    per_thread = (DELIVERIES - SEQUENTIAL) // THREADS

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(per_thread):
                status = deliver()
                with lock:
                    statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses.extend(deliver() for _ in range(SEQUENTIAL // 2))

    assert len(statuses) == DELIVERIES
    assert set(statuses) == {200}
    assert Message.objects.filter(provider_handle="STORM-0001").count() == 1
    assert ProviderEvent.objects.count() == 1
    assert ProviderEvent.objects.get().status == ProviderEventStatus.PROCESSED
    assert WebhookEvent.objects.filter(event_type="imessage.received").count() == 1
    assert WebhookDelivery.objects.count() == 1
    assert published == list(WebhookDelivery.objects.values_list("id", flat=True))
