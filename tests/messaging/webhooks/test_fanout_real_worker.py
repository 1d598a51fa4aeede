"""1,000 inbound messages across 10 subscriptions through a real Celery worker on Redis."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict

import pytest
from django.db.models import Avg
from inkbox.signing_keys import verify_webhook
from standardwebhooks.webhooks import Webhook

from console.models import AgentIdentity
from console.services import Actor
from messaging.models import Conversation
from messaging.services.inbound import inbound_message_receive
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from messaging.webhooks.subscriptions import subscription_create
from provisioning.providers.base import InboundMessage
from tests.messaging.conftest import (  # noqa: F401 - fixtures
    PERSON,
    POOL_NUMBER,
    assignment,
    conversation,
    platform_setup,
    pool_line,
)
from tests.messaging.webhooks.conftest import Receiver
from tests.realworker import RealWorker, real_celery_worker  # noqa: F401 - fixture

MESSAGES = 1000
SUBSCRIPTIONS = 10
DRAIN_TIMEOUT_SECONDS = 600


@pytest.mark.slow
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_1000_inbound_messages_reach_each_of_10_subscriptions_with_none_missing(
    real_celery_worker: RealWorker,  # noqa: F811
    identity: AgentIdentity,
    conversation: Conversation,  # noqa: F811
    receiver: Receiver,
) -> None:
    secret = None
    for n in range(SUBSCRIPTIONS):
        created = subscription_create(
            identity=identity,
            url=f"{receiver.url}/{n}",
            event_types=["imessage.received"],
            actor=Actor.system(),
        )
        secret = secret or created.signing_key
    assert secret is not None

    started = time.monotonic()
    for n in range(MESSAGES):
        stored = inbound_message_receive(
            setup=conversation.line.setup,
            event=InboundMessage(
                provider_handle=f"fanout-{n}",
                from_number=PERSON,
                to_number=POOL_NUMBER,
                content=f"message {n}",
                media_url=None,
                service="imessage",
                is_group=False,
                sent_at=None,
            ),
        )
        assert stored is not None

    event_ids = set(WebhookEvent.objects.values_list("id", flat=True))
    assert len(event_ids) == MESSAGES
    assert WebhookDelivery.objects.count() == MESSAGES * SUBSCRIPTIONS

    stored_at = time.monotonic()
    deadline = stored_at + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not WebhookDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED).exists():
            break
        time.sleep(0.5)
    drained_at = time.monotonic()
    statuses = Counter(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SUCCEEDED: MESSAGES * SUBSCRIPTIONS}, (
        f"{statuses}\n{real_celery_worker.log_text()[-3000:]}"
    )

    # Reported, not asserted: durations depend on the machine.
    mean_ms = WebhookDelivery.objects.aggregate(mean=Avg("duration_ms"))["mean"]
    print(
        f"\nfan-out: {MESSAGES} inbound stored in {stored_at - started:.1f}s, "
        f"{MESSAGES * SUBSCRIPTIONS} deliveries drained in {drained_at - stored_at:.1f}s, "
        f"mean request {mean_ms:.0f} ms, {len(receiver.requests)} requests received"
    )

    received: dict[str, set[str]] = defaultdict(set)
    signed_ok = 0
    for request in receiver.requests:
        received[request.path].add(json.loads(request.body)["id"])
        signed_ok += verify_webhook(payload=request.body, headers=request.headers, secret=secret)
    assert len(receiver.requests) >= MESSAGES * SUBSCRIPTIONS  # at least once
    assert signed_ok == len(receiver.requests)
    assert set(received) == {f"/hook/{n}" for n in range(SUBSCRIPTIONS)}
    for path, ids in received.items():
        assert ids == event_ids, f"{path} is missing {len(event_ids - ids)} events"
    sample = receiver.requests[-1]
    Webhook(secret).verify(sample.body, sample.headers)
    # Wake-ups coalesced the fan-out: no job per delivery; about one drain job per commit of
    # ten deliveries (plus a helper whenever a claim came back full).
    log = real_celery_worker.log_text()
    drains = len(re.findall(r"Task webhooks\.deliveries_drain\[[^\]]+\] received", log))
    assert 0 < drains * 5 <= MESSAGES * SUBSCRIPTIONS
    assert "Task webhooks.delivery_attempt[" not in log
