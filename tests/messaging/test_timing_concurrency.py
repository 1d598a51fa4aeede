"""The loop guard and the cap at scheduled times hold under parallel sends (PostgreSQL):
exactly the limit is accepted, as for the daily cap (`test_send_concurrency.py`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from messaging.models import Direction, Message
from tests.conftest import keyed_client

WORKERS = 24
ATTEMPTS = 60

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _shared_database():
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database cannot be shared between threads")


def _parallel(identity_key, bodies: list[dict[str, str]]) -> list[int]:
    def attempt(body: dict[str, str]) -> int:
        try:
            return (
                keyed_client(identity_key)
                .post("/api/v1/imessage/messages", body, format="json")
                .status_code
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(attempt, bodies))


def test_parallel_sends_into_one_conversation_accept_exactly_the_burst_limit(
    conversation, identity_key, settings
):
    settings.CONVERSATION_BURST_LIMIT = 10
    body = {"conversation_id": str(conversation.id), "text": "loop"}

    statuses = _parallel(identity_key, [body] * ATTEMPTS)

    assert statuses.count(201) == 10
    assert statuses.count(429) == ATTEMPTS - 10
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 10


def test_parallel_scheduled_sends_accept_exactly_the_cap(conversation, identity_key, settings):
    settings.SEND_CAP_PER_24H = 15
    settings.CONVERSATION_BURST_LIMIT = ATTEMPTS + 1
    base = timezone.now() + timedelta(hours=2)
    bodies = [
        {
            "conversation_id": str(conversation.id),
            "text": f"reminder {i}",
            # All within one 24-hour window, in scattered order.
            "send_at": (base + timedelta(minutes=(i * 37) % 600)).isoformat(),
        }
        for i in range(ATTEMPTS)
    ]

    statuses = _parallel(identity_key, bodies)

    assert statuses.count(201) == 15
    assert statuses.count(429) == ATTEMPTS - 15
    assert Message.objects.filter(scheduled_for__isnull=False).count() == 15
