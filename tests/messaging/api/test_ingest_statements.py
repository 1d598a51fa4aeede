"""Statements per `receive` webhook in the common case (issue 18): a connected person, no
media, one subscription, through the real view, outside any test transaction so that the
count is what production runs (BEGIN and COMMIT are not statements Django logs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from messaging.models import Conversation, Message
from messaging.webhooks import events
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.models import ProviderEvent, Setup
from tests.messaging.conftest import PERSON, POOL_NUMBER
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory
from tests.provisioning.api.test_provider_webhooks import RECEIVE_BODY
from tests.provisioning.factories import setup_secret

pytestmark = pytest.mark.django_db(transaction=True)

# BEGIN; authenticate the setup; record the provider event; resolve line + connection +
# filter verdict + stored handle + conversation + auto-reply in one query; insert the
# message; touch the conversation; read the subscriptions; insert the webhook event; insert
# its deliveries; COMMIT. It was 20 before issue 18.
INGEST_STATEMENTS = 10


def _receive(client: Client, setup: Setup, handle: str) -> Any:
    body = {
        **RECEIVE_BODY,
        "message_handle": handle,
        "from_number": PERSON,
        "number": PERSON,
        "to_number": POOL_NUMBER,
        "sendblue_number": POOL_NUMBER,
    }
    return client.post(
        f"/api/v1/provider-webhooks/{setup.id}/receive",
        json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(setup),
    )


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """After commit the deliveries go to the broker, not the database: record them."""
    calls: list[Any] = []
    monkeypatch.setattr(events, "deliveries_fan_out", calls.append)
    return calls


def test_a_common_receive_webhook_runs_in_few_statements(
    client: Client, conversation: Conversation, platform_setup: Setup, published: list[Any]
) -> None:
    WebhookSubscriptionFactory(identity=conversation.identity)
    assert _receive(client, platform_setup, "warm-up").status_code == 200

    with CaptureQueriesContext(connection) as ctx:
        response = _receive(client, platform_setup, "h-measured")

    assert response.status_code == 200
    assert Message.objects.filter(provider_handle="h-measured").count() == 1
    assert WebhookDelivery.objects.count() == 2
    assert len(published) == 2
    statements = [q["sql"] for q in ctx.captured_queries]
    print(f"{len(statements)} statements per common-case receive webhook")
    assert len(statements) == INGEST_STATEMENTS, "\n".join(statements)


def test_a_failure_after_the_message_is_stored_rolls_the_whole_delivery_back(
    client: Client,
    conversation: Conversation,
    platform_setup: Setup,
    published: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    WebhookSubscriptionFactory(identity=conversation.identity)
    before = Conversation.objects.get(pk=conversation.pk).last_message_at

    def broken(payload: dict[str, Any]) -> str:
        raise RuntimeError("boom")

    # Fails inside event_emit, after the message, the conversation touch and the webhook
    # event were written: none of them, nor the provider event, may survive.
    monkeypatch.setattr(events, "dumps", broken)
    response = _receive(client, platform_setup, "h-1")

    assert response.status_code == 500
    assert not Message.objects.exists()
    assert not ProviderEvent.objects.exists()
    assert not WebhookEvent.objects.exists()
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == before
    assert published == []

    monkeypatch.undo()
    monkeypatch.setattr(events, "deliveries_fan_out", published.append)
    assert _receive(client, platform_setup, "h-1").status_code == 200
    assert Message.objects.filter(provider_handle="h-1").count() == 1
    assert len(published) == 1
