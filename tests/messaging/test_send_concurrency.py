"""The rolling cap holds under parallel sends: exactly the cap is accepted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from messaging.models import Direction, Message
from tests.conftest import keyed_client

# Enough concurrency to interleave the count and the insert; within Postgres' default
# connection limit even when other test runs share the server.
WORKERS = 24
ATTEMPTS = 150


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
# By `to` the conversation's read takes the send lock; by `conversation_id` a statement
# of its own does.
@pytest.mark.parametrize("addressed_by", ["conversation_id", "to"])
def test_150_parallel_sends_accept_exactly_the_cap(
    conversation, identity_key, settings, addressed_by
):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database cannot be shared between threads")
    settings.SEND_CAP_PER_24H = 100
    settings.CONVERSATION_BURST_LIMIT = ATTEMPTS  # one conversation: the loop guard aside

    recipient = (
        {"to": conversation.remote_number}
        if addressed_by == "to"
        else {"conversation_id": str(conversation.id)}
    )

    def attempt(i: int) -> int:
        try:
            client = keyed_client(identity_key)
            response = client.post(
                "/api/v1/imessage/messages",
                {**recipient, "text": f"n{i}"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"parallel-{i}",
            )
            return response.status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        statuses = list(pool.map(attempt, range(ATTEMPTS)))

    assert statuses.count(201) == 100
    assert statuses.count(429) == 50
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 100


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_parallel_sends_with_one_idempotency_key_store_one_message_and_answer_it_to_all(
    conversation, identity_key, settings
):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database cannot be shared between threads")
    settings.SEND_CAP_PER_24H = 100

    def attempt(i: int) -> tuple[int, str]:
        try:
            client = keyed_client(identity_key)
            response = client.post(
                "/api/v1/imessage/messages",
                {"conversation_id": str(conversation.id), "text": "Once only"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="the-one-key",
            )
            return response.status_code, response.json()["message"]["id"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(attempt, range(12)))

    (message,) = Message.objects.filter(direction=Direction.OUTBOUND)
    assert answers == [(201, str(message.id))] * 12
