"""The agent webhook history of the benchmark dataset (`messaging.bench_data.dataset`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils.timezone import now as timezone_now

from console.models import AgentIdentity
from messaging.bench_data.loader import Loader
from messaging.webhooks.delivery import retry_window
from messaging.webhooks.events import dumps, envelope_new
from messaging.webhooks.models import (
    DeliveryStatus,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from messaging.wire import MESSAGE_COLUMNS, message_row_wire


class WebhookHistory:
    """The agent webhooks of the seeded past: each identity had an endpoint (deleted since;
    the load generator subscribes afresh), and every inbound message that reached its
    agent is an `imessage.received` event with its body as the platform wrote it on
    arrival, delivered once. A database in use holds them: the tables they fill are as
    large as their messages', not empty."""

    def __init__(self, identities: list[AgentIdentity]) -> None:
        self.identities = {identity.id: identity for identity in identities}
        self.endpoints = {
            identity.id: WebhookSubscription(
                organization_id=identity.organization_id,
                identity=identity,
                url=f"https://agents.bench.test/{identity.handle}/webhook",
                event_types=["imessage.received"],
                status=SubscriptionStatus.DELETED,
            )
            for identity in identities
        }
        self.retry_window = retry_window()
        # (event id, identity id, received at, body): only the body's text is kept, half a
        # million envelopes would not fit in memory as objects.
        self.events: list[tuple[str, uuid.UUID, datetime, str]] = []

    def received(self, message: dict[str, Any]) -> None:
        """The event of inbound `message` (a seeded row), as it arrived: unread, untouched."""
        at = message["created_at"]
        identity = self.identities[message["identity_id"]]
        row = {name: message.get(name) for name in MESSAGE_COLUMNS}
        arrived: dict[str, Any] = {
            **row,
            "is_read": False,
            "read_at": None,
            "is_group": False,
            "reactions": [],
        }
        wire = message_row_wire(arrived, include_blocked=False)
        envelope = envelope_new("imessage.received", at=at, identity=identity, message=wire)
        self.events.append((envelope["id"], identity.id, at, dumps(envelope)))

    def load(self, loader: Loader) -> None:
        first = min((at for _, _, at, _ in self.events), default=timezone_now())
        WebhookSubscription.objects.bulk_create(self.endpoints.values())
        # auto_now_add wrote the insert's time: the endpoints served the whole history.
        WebhookSubscription.objects.filter(pk__in=[e.pk for e in self.endpoints.values()]).update(
            created_at=first
        )
        # COPY takes the JSON text as it is; bulk_create (small datasets) wants the object.
        as_json: Callable[[str], Any] = str if loader.use_copy else json.loads
        loader.load(
            WebhookEvent,
            (
                {
                    "id": event_id,
                    "organization_id": self.identities[identity_id].organization_id,
                    "identity_id": identity_id,
                    "event_type": "imessage.received",
                    "payload": as_json(body),
                    "created_at": at,
                }
                for event_id, identity_id, at, body in self.events
            ),
        )
        loader.load(WebhookDelivery, (self._delivery(*event) for event in self.events))

    def _delivery(
        self, event_id: str, identity_id: uuid.UUID, at: datetime, body: str
    ) -> dict[str, Any]:
        endpoint = self.endpoints[identity_id]
        # Not drawn from the dataset's generator: the rest of the dataset stays as it was.
        took = 40 + int(event_id[-6:], 16) % 361
        done = at + timedelta(milliseconds=took)
        return {
            "id": uuid.uuid4(),
            "organization_id": endpoint.organization_id,
            "event_id": event_id,
            "subscription_id": endpoint.id,
            "url": endpoint.url,
            "request_payload": body,
            "status": DeliveryStatus.SUCCEEDED,
            "attempt_count": 1,
            "next_attempt_at": None,
            "retry_until": at + self.retry_window,
            "last_attempt_at": done,
            "response_status": 200,
            "response_body": "",
            "duration_ms": took,
            "created_at": at,
            "updated_at": done,
        }
