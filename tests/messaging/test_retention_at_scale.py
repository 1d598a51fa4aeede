"""Retention over 100,000 old messages on PostgreSQL: batches, while the API keeps working."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from messaging.models import Message
from messaging.services.retention import retention_run
from tests.conftest import keyed_client

OLD_MESSAGES = 100_000


def _old_rows(conversation, count: int) -> None:
    created = timezone.now() - timedelta(days=90)
    Message.objects.bulk_create(
        (
            Message(
                id=uuid.uuid4(),
                organization_id=conversation.organization_id,
                identity_id=conversation.identity_id,
                conversation=conversation,
                direction="inbound",
                remote_number=conversation.remote_number,
                content=f"old text {n}",
                status="received",
                created_at=created + timedelta(seconds=n),
            )
            for n in range(count)
        ),
        batch_size=5000,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_retention_over_100000_messages_runs_in_batches_while_reads_and_sends_work(
    conversation, identity_key, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("measured on PostgreSQL, where batches skip locked rows")
    # One agent sending steadily into one conversation: the loop guard would stop it.
    settings.CONVERSATION_BURST_LIMIT = 10_000
    organization = conversation.organization
    organization.message_retention_days = 30
    organization.save()
    _old_rows(conversation, OLD_MESSAGES)
    done = threading.Event()
    runs = []

    def purge() -> None:
        try:
            runs.append(retention_run(organization=organization, batch_size=2000))
        finally:
            connections.close_all()
            done.set()

    worker = threading.Thread(target=purge)
    worker.start()
    client = keyed_client(identity_key)
    statuses = []
    served_during_the_run = 0
    while not done.is_set() or not statuses:
        read = client.get(f"/api/v1/imessage/messages?conversation_id={conversation.id}&limit=20")
        sent = client.post(
            "/api/v1/imessage/messages",
            {"conversation_id": str(conversation.id), "text": f"still here {len(statuses)}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"during-retention-{len(statuses)}",
        )
        statuses.append((read.status_code, sent.status_code))
        served_during_the_run += not done.is_set()
        if len(statuses) >= settings.SEND_CAP_PER_24H:
            break
    worker.join()
    connections.close_all()

    [run] = runs
    assert run.messages_redacted == OLD_MESSAGES
    assert served_during_the_run > 0
    assert set(statuses) == {(200, 201)}
    assert not Message.objects.filter(content__startswith="old text").exists()
    assert Message.objects.filter(content__startswith="still here").count() == len(statuses)
    again = retention_run(organization=organization, batch_size=2000)
    assert (again.messages_redacted, again.copies_redacted) == (0, 0)
